// Pass 2: per tensor, fold the partial sums of its chunks in chunk order
// (each invocation a contiguous run, then a fixed tree), and compute on the
// GPU what the update needs: epsilon, clip factors, the step constants.
// A tensor with a non-finite gradient or an overflowing Fisher value marks
// the whole step as skipped in `status`.

fn fold_tensor(wid: vec3<u32>, lid: u32, redo: bool) {
    let tensor = chunk_id(wid);
    if (tensor >= win.num_tensors) {
        return;
    }
    let sc = scalar_base(tensor);
    if (redo) {
        if (lid == 0u) {
            wg_flag = work[sc + SC_REDO];
        }
        let flag = workgroupUniformLoad(&wg_flag);
        if (flag == 0u) {
            return;
        }
    }
    let tb = tab[H_TENSOR_OFF] + tensor * TENSOR_WORDS;
    let first = tab[tb + T_FIRST_CHUNK];
    let count = tab[tb + T_N_CHUNKS];
    let len = tab[tb + T_LEN];
    let group = tab[tb + T_GROUP];
    let per = (count + WG - 1u) / WG;
    let lo = min(first + lid * per, first + count);
    let hi = min(lo + per, first + count);
    var ag = ssq_zero();
    var an = ssq_zero();
    var aw = ssq_zero();
    var bad = 0u;
    for (var c = lo; c < hi; c = c + 1u) {
        let pb = c * PARTIAL_WORDS;
        ag = ssq_add(ag, Ssq(bitcast<f32>(work[pb + P_S_G]), bitcast<i32>(work[pb + P_K_G])));
        an = ssq_add(an, Ssq(bitcast<f32>(work[pb + P_S_N]), bitcast<i32>(work[pb + P_K_N])));
        aw = ssq_add(aw, Ssq(bitcast<f32>(work[pb + P_S_W]), bitcast<i32>(work[pb + P_K_W])));
        bad = bad | work[pb + P_BAD];
    }
    tree_reduce(lid, ag, an, aw, bad);
    if (lid != 0u) {
        return;
    }
    let s = sh_s[0];
    let kk = sh_k[0];
    let n = f32(len);
    let flags = gu(group, G_FLAGS);
    let clip_on = (flags & F_CLIP) != 0u;
    let c = gf(group, G_CLIP);
    if (!redo) {
        let b = sh_f[0];
        if (b != 0u) {
            // The highest bit comes first (see words.rs); kind = index + 1.
            let kind = firstLeadingBit(b) + 1u;
            atomicMax(&status[ST_SKIP_CODE], ((SKIP_TENSOR_MAX - tensor) << SKIP_KIND_BITS) | kind);
        }
        let k = step_consts(group);
        work[sc + SC_B2] = bitcast<u32>(k.x);
        work[sc + SC_OMB2] = bitcast<u32>(k.y);
        work[sc + SC_LR] = bitcast<u32>(k.z);
        work[sc + SC_ND] = bitcast<u32>(k.w);
        // Epsilon from RMS(g) = r.
        let r = rms_of(Ssq(s.x, kk.x), n);
        work[sc + SC_RMS_M] = bitcast<u32>(r.x);
        work[sc + SC_RMS_E] = bitcast<u32>(i32(r.y));
        let fb = gf(group, G_EPS_FB);
        var e = fb;
        let rule = gu(group, G_RULE);
        if (r.x > 0.0) {
            if (rule == RULE_ADAPTIVE) {
                let eps = gf(group, G_EPS);
                let x = ldexp(gf(group, G_EPS2) * r.x, clamp(i32(r.y), EXP_FLOOR, EXP_CEIL));
                if (x < eps) {
                    let two_p = gf(group, G_TWO_P);
                    var v = 0.0;
                    if (two_p == 1.0) {
                        v = x;
                    } else if (x > 0.0) {
                        v = pow_pos(x, two_p);
                    }
                    e = max(v, MIN_POS);
                }
            } else if (rule == RULE_PAPER_V3) {
                let rv = ldexp(r.x, i32(min(r.y, f32(EXP_CEIL - 1))));
                e = max(gf(group, G_EPS) * min(1.0, rv), MIN_POS);
            }
        }
        work[sc + SC_E] = bitcast<u32>(e);
        let need = (flags & (F_NEED_N | F_NEED_W)) != 0u;
        if (need && e != fb) {
            work[sc + SC_REDO] = 1u;
            return;
        }
        work[sc + SC_REDO] = 0u;
    }
    var cn = vec2<f32>(1.0, 0.0);
    var cw = vec2<f32>(1.0, 0.0);
    if (clip_on) {
        cn = clip_factor(rms_of(Ssq(s.y, kk.y), n), c);
        cw = clip_factor(rms_of(Ssq(s.z, kk.z), n), c);
    }
    work[sc + SC_CN_M] = bitcast<u32>(cn.x);
    work[sc + SC_CN_E] = bitcast<u32>(i32(cn.y));
    work[sc + SC_CW_M] = bitcast<u32>(cw.x);
    work[sc + SC_CW_E] = bitcast<u32>(i32(cw.y));
}

@compute @workgroup_size(WG)
fn fold_fused(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    fold_tensor(wid, lid, false);
}

@compute @workgroup_size(WG)
fn fold_redo(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    fold_tensor(wid, lid, true);
}
