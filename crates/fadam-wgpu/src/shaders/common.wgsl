// Shared by every pass of the FAdam step: bindings, tables, scaled sums.
//
// Layouts (words of 4 bytes; kept in sync with src/tables.rs):
// tab (read-only):  header [n_groups, n_tensors, n_chunks, group_off,
//                    tensor_off, chunk_off, tconst_off, 0]
//                    groups  [n_groups][GW]   constants of each group
//                    tensors [n_tensors][4]   first_chunk, n_chunks, len, group
//                    chunks  [n_chunks][4]    tensor, start (in the window), len, window
//                    tconst  [2 + pad 2][cand][n_groups][4]  base t, count; b2, 1-b2, lr, nd
// work (scratch):    partials [n_chunks][8]  s_g k_g s_n k_n s_w k_w flags 0
//                    scalars [n_tensors][16] (see SC_* below)
// status:            [t, skipped_total, last_skipped, bad_code, seq, 0, 0, 0]

const WG: u32 = 256u;
const GRID_X: u32 = 32768u;
const GW: u32 = 16u;
const MIN_POS: f32 = 1.17549435e-38;

// Group constant slots.
const G_SIGN: u32 = 0u;
const G_L2: u32 = 1u;
const G_LERP: u32 = 2u;
const G_KEEP: u32 = 3u;
const G_ND: u32 = 4u;
const G_EPS_FB: u32 = 5u;
const G_EPS: u32 = 6u;
const G_EPS2: u32 = 7u;
const G_TWO_P: u32 = 8u;
const G_P: u32 = 9u;
const G_CLIP: u32 = 10u;
const G_FLAGS: u32 = 11u;
const G_RULE: u32 = 12u;
const G_POWER: u32 = 13u;

const F_CLIP: u32 = 1u;
const F_NAT_M: u32 = 2u;
const F_NAT_W: u32 = 4u;
const F_NEED_N: u32 = 8u;
const F_NEED_W: u32 = 16u;
const F_READ_THETA: u32 = 32u;
const F_LERP_NEW: u32 = 64u;

// Per-tensor scalar slots in `work`.
const SC_E: u32 = 0u;
const SC_REDO: u32 = 1u;
const SC_CN_M: u32 = 2u;
const SC_CN_E: u32 = 3u;
const SC_CW_M: u32 = 4u;
const SC_CW_E: u32 = 5u;
const SC_B2: u32 = 6u;
const SC_OMB2: u32 = 7u;
const SC_LR: u32 = 8u;
const SC_RMS_M: u32 = 9u;
const SC_RMS_E: u32 = 10u;
const SC_ND: u32 = 11u;

struct Window {
    first_chunk: u32,
    num_chunks: u32,
    num_tensors: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> theta: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> mom: array<f32>;
@group(0) @binding(3) var<storage, read_write> fis: array<f32>;
@group(0) @binding(4) var<storage, read> tab: array<u32>;
@group(0) @binding(5) var<storage, read_write> work: array<u32>;
@group(0) @binding(6) var<storage, read_write> status: array<atomic<u32>, 8>;
@group(0) @binding(7) var<uniform> win: Window;

fn gf(group: u32, slot: u32) -> f32 {
    return bitcast<f32>(tab[tab[3] + group * GW + slot]);
}

fn gu(group: u32, slot: u32) -> u32 {
    return tab[tab[3] + group * GW + slot];
}

fn scalar_base(tensor: u32) -> u32 {
    return tab[2] * 8u + tensor * 16u;
}

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// A non-negative sum s * 2^k that cannot overflow.
struct Ssq {
    s: f32,
    k: i32,
}

fn ssq_zero() -> Ssq {
    return Ssq(0.0, 0);
}

fn ssq_add(a: Ssq, b: Ssq) -> Ssq {
    if (b.s == 0.0) {
        return a;
    }
    if (a.s == 0.0) {
        return b;
    }
    let k = max(a.k, b.k);
    return Ssq(ldexp(a.s, max(a.k - k, -200)) + ldexp(b.s, max(b.k - k, -200)), k);
}

// x^2, scaled.
fn ssq_sq(x: f32) -> Ssq {
    if (x == 0.0) {
        return ssq_zero();
    }
    let fr = frexp(x);
    return Ssq(fr.fract * fr.fract, 2 * fr.exp);
}

// (a / d)^2 for a positive normal d, scaled: never overflows.
fn ssq_quot(a: f32, d: f32) -> Ssq {
    if (a == 0.0) {
        return ssq_zero();
    }
    let fa = frexp(a);
    let fd = frexp(d);
    let q = fa.fract / fd.fract;
    return Ssq(q * q, 2 * (fa.exp - fd.exp));
}

// RMS = m * 2^e with m in [0.7, 1.5), from a sum over `count` elements.
// m = 0 for an all-zero sum.
fn rms_of(t: Ssq, count: f32) -> vec2<f32> {
    if (t.s == 0.0) {
        return vec2<f32>(0.0, 0.0);
    }
    let fr = frexp(t.s / count);
    var m = fr.fract;
    var k = t.k + fr.exp;
    if ((k & 1) != 0) {
        m = m * 2.0;
        k = k - 1;
    }
    return vec2<f32>(sqrt(m), f32(k / 2));
}

// The clip factor min(1, c / RMS) as m * 2^e; e = 0 whenever the factor
// is a normal f32 (then m is the factor itself).
fn clip_factor(rms: vec2<f32>, c: f32) -> vec2<f32> {
    if (rms.x == 0.0) {
        return vec2<f32>(1.0, 0.0);
    }
    let fc = frexp(c / rms.x);
    let e = fc.exp - i32(rms.y);
    if (e >= 1) {
        return vec2<f32>(1.0, 0.0);
    }
    if (e >= -125) {
        return vec2<f32>(ldexp(fc.fract, e), 0.0);
    }
    return vec2<f32>(fc.fract, f32(e));
}

// a / d * (m * 2^e): the clipped quotient, exact in range however small
// the factor (the careful path when e != 0).
fn clipped(a: f32, d: f32, cf: vec2<f32>) -> f32 {
    if (cf.y == 0.0) {
        return a * (cf.x / d);
    }
    let fa = frexp(a);
    let fd = frexp(d);
    let e = clamp(fa.exp - fd.exp + i32(cf.y), -200, 127);
    return ldexp(fa.fract / fd.fract * cf.x, e);
}

// x^y for x > 0, as 2^(y·e) · 2^(y·log2(m)) with x = m·2^e: the integer
// part of y·e is split off exactly, so that exp2 sees a small argument
// (pow(x, y) = exp2(y·log2(x)) loses ~|y·log2(x)| ulps).
fn pow_pos(x: f32, y: f32) -> f32 {
    let fr = frexp(x);
    let e = f32(fr.exp);
    let yh = bitcast<f32>(bitcast<u32>(y) & 0xfffff000u);
    let yl = y - yh;
    let ah = yh * e;
    let k = floor(ah);
    let r = (ah - k) + yl * e + y * log2(fr.fract);
    return ldexp(exp2(r), clamp(i32(k), -200, 127));
}

// f^p for f >= 0.
fn fpow(f: f32, mode: u32, p: f32) -> f32 {
    if (mode == 0u) {
        return sqrt(f);
    }
    if (mode == 1u) {
        return f;
    }
    if (f == 0.0) {
        return 0.0;
    }
    return pow_pos(f, p);
}

// b2, 1 - b2, lr, natural-decay strength for this step of a tensor in `group`, from the table the
// host wrote for every step count the GPU may be at.
fn step_consts(group: u32) -> vec4<f32> {
    let base = tab[6];
    let t_next = atomicLoad(&status[0]) + 1u;
    let n = max(tab[base + 1u], 1u);
    let cand = min(t_next - min(t_next, tab[base]), n - 1u);
    let at = base + 4u + (cand * tab[0] + group) * 4u;
    return bitcast<vec4<f32>>(vec4<u32>(tab[at], tab[at + 1u], tab[at + 2u], tab[at + 3u]));
}

// One entry of the chunk table: the tensor the chunk lies in, its first
// element and length, and the tensor's parameter group.
struct Chunk {
    tensor: u32,
    start: u32,
    len: u32,
    group: u32,
}

fn chunk_at(c: u32) -> Chunk {
    let cb = tab[5] + c * 4u;
    let tensor = tab[cb];
    return Chunk(tensor, tab[cb + 1u], tab[cb + 2u], tab[tab[4] + tensor * 4u + 3u]);
}

fn chunk_id(wid: vec3<u32>) -> u32 {
    return wid.y * GRID_X + wid.x;
}

// Workgroup tree reduction of three scaled sums and a flag word.
var<workgroup> sh_s: array<vec3<f32>, 256>;
var<workgroup> sh_k: array<vec3<i32>, 256>;
var<workgroup> sh_f: array<u32, 256>;
var<workgroup> wg_flag: u32;

fn tree_reduce(lid: u32, g: Ssq, n: Ssq, w: Ssq, flags: u32) {
    sh_s[lid] = vec3<f32>(g.s, n.s, w.s);
    sh_k[lid] = vec3<i32>(g.k, n.k, w.k);
    sh_f[lid] = flags;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            let a = sh_s[lid];
            let ak = sh_k[lid];
            let b = sh_s[lid + stride];
            let bk = sh_k[lid + stride];
            let rg = ssq_add(Ssq(a.x, ak.x), Ssq(b.x, bk.x));
            let rn = ssq_add(Ssq(a.y, ak.y), Ssq(b.y, bk.y));
            let rw = ssq_add(Ssq(a.z, ak.z), Ssq(b.z, bk.z));
            sh_s[lid] = vec3<f32>(rg.s, rn.s, rw.s);
            sh_k[lid] = vec3<i32>(rg.k, rn.k, rw.k);
            sh_f[lid] = sh_f[lid] | sh_f[lid + stride];
        }
        workgroupBarrier();
    }
}
