// Pass 1: per-chunk partial sums. A chunk lies inside one tensor and one
// window; one workgroup folds it in a fixed order.
//
// `reduce_fused` sums g^2 and, with the epsilon the rule gives unless
// RMS(g) is small, (g/d)^2 and (theta/d)^2 in the same read, and flags
// non-finite gradients, Fisher overflow, and values in the parameters or
// the state that no step can have written (in every mode, so it reads
// theta, m and f whatever the mode needs). `reduce_redo` sums (g/d)^2 and
// (theta/d)^2 again, with the right epsilon, for the tensors whose guess
// was wrong (the others return at once).

fn reduce_chunk(wid: vec3<u32>, lid: u32, redo: bool) {
    let local = chunk_id(wid);
    if (local >= win.num_chunks) {
        return;
    }
    let c = win.first_chunk + local;
    let ch = chunk_at(c);
    let sc = scalar_base(ch.tensor);
    var e = gf(ch.group, G_EPS_FB);
    if (redo) {
        if (lid == 0u) {
            wg_flag = work[sc + SC_REDO];
        }
        let flag = workgroupUniformLoad(&wg_flag);
        if (flag == 0u) {
            return;
        }
        e = bitcast<f32>(work[sc + SC_E]);
    }
    let flags = gu(ch.group, G_FLAGS);
    let need_n = (flags & F_NEED_N) != 0u;
    let need_w = (flags & F_NEED_W) != 0u;
    let read_theta = (flags & F_READ_THETA) != 0u;
    let sign = gf(ch.group, G_SIGN);
    let l2 = gf(ch.group, G_L2);
    let pmode = gu(ch.group, G_POWER);
    let p = gf(ch.group, G_P);
    let k = step_consts(ch.group);
    let b2 = k.x;
    let omb2 = k.y;

    var ag = ssq_zero();
    var an = ssq_zero();
    var aw = ssq_zero();
    var bad = 0u;
    for (var i = lid; i < ch.len; i = i + WG) {
        let idx = ch.start + i;
        var th = 0.0;
        if (read_theta) {
            th = theta[idx];
        }
        if (!redo) {
            var th_in = th;
            if (!read_theta) {
                th_in = theta[idx];
            }
            let f_in = fis[idx];
            if (!is_finite(th_in)) {
                bad = bad | BAD_PARAM;
            }
            if (!is_finite(mom[idx])) {
                bad = bad | BAD_MOMENTUM;
            }
            // -0.0 is valid, as in the core.
            if (!is_finite(f_in) || f_in < 0.0) {
                bad = bad | BAD_FISHER_STATE;
            }
        }
        let g = sign * grad[idx] + l2 * th;
        if (!is_finite(g)) {
            bad = bad | BAD_NON_FINITE;
            continue;
        }
        if (!redo) {
            ag = ssq_add(ag, ssq_sq(g));
        }
        if (need_n || need_w) {
            let fi = fis[idx] * b2 + omb2 * g * g;
            if (!is_finite(fi)) {
                bad = bad | BAD_FISHER;
                continue;
            }
            let d = fpow(fi, pmode, p) + e;
            if (need_n) {
                an = ssq_add(an, ssq_quot(g, d));
            }
            if (need_w) {
                aw = ssq_add(aw, ssq_quot(th, d));
            }
        } else if (!is_finite(omb2 * g * g)) {
            bad = bad | BAD_FISHER;
        }
    }
    tree_reduce(lid, ag, an, aw, bad);
    if (lid == 0u) {
        let s = sh_s[0];
        let kk = sh_k[0];
        let pb = c * PARTIAL_WORDS;
        if (!redo) {
            work[pb + P_S_G] = bitcast<u32>(s.x);
            work[pb + P_K_G] = bitcast<u32>(kk.x);
            work[pb + P_BAD] = sh_f[0];
        }
        work[pb + P_S_N] = bitcast<u32>(s.y);
        work[pb + P_K_N] = bitcast<u32>(kk.y);
        work[pb + P_S_W] = bitcast<u32>(s.z);
        work[pb + P_K_W] = bitcast<u32>(kk.z);
    }
}

@compute @workgroup_size(WG)
fn reduce_fused(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    reduce_chunk(wid, lid, false);
}

@compute @workgroup_size(WG)
fn reduce_redo(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    reduce_chunk(wid, lid, true);
}
