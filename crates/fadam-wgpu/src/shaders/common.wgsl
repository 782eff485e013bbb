// Shared by every pass of the FAdam step: bindings, tables, scaled sums.
//
// The word layout of the tables, the scratch and the status buffer, the
// flag bits and codes, the binding indices, `WG` and `GRID_X` are the
// prelude's constants, generated from src/words.rs (documented there).

// Exponent floor of the ldexp calls: far below the smallest subnormal, so
// that the result rounds to zero without an out-of-range exponent.
const EXP_FLOOR: i32 = -200;
const EXP_CEIL: i32 = 127;

struct Window {
    first_chunk: u32,
    num_chunks: u32,
    num_tensors: u32,
    _pad: u32,
}

@group(0) @binding(B_THETA) var<storage, read_write> theta: array<f32>;
@group(0) @binding(B_GRAD) var<storage, read> grad: array<f32>;
@group(0) @binding(B_MOM) var<storage, read_write> mom: array<f32>;
@group(0) @binding(B_FIS) var<storage, read_write> fis: array<f32>;
@group(0) @binding(B_TAB) var<storage, read> tab: array<u32>;
@group(0) @binding(B_WORK) var<storage, read_write> work: array<u32>;
@group(0) @binding(B_STATUS) var<storage, read_write> status: array<atomic<u32>, STATUS_WORDS>;
@group(0) @binding(B_WINDOW) var<uniform> win: Window;

fn gf(group: u32, slot: u32) -> f32 {
    return bitcast<f32>(gu(group, slot));
}

fn gu(group: u32, slot: u32) -> u32 {
    return tab[tab[H_GROUP_OFF] + group * GW + slot];
}

fn scalar_base(tensor: u32) -> u32 {
    return tab[H_N_CHUNKS] * PARTIAL_WORDS + tensor * SCALAR_WORDS;
}

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// x clamped to the finite range: the identity on finite values, +-MAX_F32
// for +-infinity (as the core's `sat`).
fn sat(x: f32) -> f32 {
    return clamp(x, -MAX_F32, MAX_F32);
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
    return Ssq(ldexp(a.s, max(a.k - k, EXP_FLOOR)) + ldexp(b.s, max(b.k - k, EXP_FLOOR)), k);
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
// the factor (the careful path when e != 0). In range it is a * (m * (1 / d)),
// the core's form (it takes one reciprocal for both quotients).
fn clipped(a: f32, d: f32, cf: vec2<f32>) -> f32 {
    if (cf.y == 0.0) {
        return a * (cf.x * (1.0 / d));
    }
    let fa = frexp(a);
    let fd = frexp(d);
    let e = clamp(fa.exp - fd.exp + i32(cf.y), EXP_FLOOR, EXP_CEIL);
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
    return ldexp(exp2(r), clamp(i32(k), EXP_FLOOR, EXP_CEIL));
}

// f^p for f >= 0.
fn fpow(f: f32, mode: u32, p: f32) -> f32 {
    if (mode == POWER_SQRT) {
        return sqrt(f);
    }
    if (mode == POWER_ONE) {
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
    let base = tab[H_TCONST_OFF];
    let t_next = atomicLoad(&status[ST_STEP]) + 1u;
    let n = max(tab[base + TC_COUNT], 1u);
    let cand = min(t_next - min(t_next, tab[base + TC_BASE]), n - 1u);
    let at = base + TCONST_HEADER + (cand * tab[H_N_GROUPS] + group) * STEP_WORDS;
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
    let cb = tab[H_CHUNK_OFF] + c * CHUNK_WORDS;
    let tensor = tab[cb + C_TENSOR];
    let tb = tab[H_TENSOR_OFF] + tensor * TENSOR_WORDS;
    return Chunk(tensor, tab[cb + C_START], tab[cb + C_LEN], tab[tb + T_GROUP]);
}

fn chunk_id(wid: vec3<u32>) -> u32 {
    return wid.y * GRID_X + wid.x;
}

// Workgroup tree reduction of three scaled sums and a flag word.
var<workgroup> sh_s: array<vec3<f32>, WG>;
var<workgroup> sh_k: array<vec3<i32>, WG>;
var<workgroup> sh_f: array<u32, WG>;
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
