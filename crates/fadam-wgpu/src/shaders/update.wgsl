// Pass 3: the elementwise update, in the reference's order of operations.
// Nothing is written when the step was marked skipped. Every operation
// that can overflow saturates at +-MAX_F32 (`sat`), as the core's update
// does: finite inputs give finite outputs; the others cannot overflow (g
// and f are finite, d is at least the smallest normal number).

@compute @workgroup_size(WG)
fn update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let local = chunk_id(wid);
    if (local >= win.num_chunks) {
        return;
    }
    if (atomicLoad(&status[ST_SKIP_CODE]) != 0u) {
        return;
    }
    let c = win.first_chunk + local;
    let ch = chunk_at(c);
    let sc = scalar_base(ch.tensor);
    let e = bitcast<f32>(work[sc + SC_E]);
    let cn = vec2<f32>(bitcast<f32>(work[sc + SC_CN_M]), f32(bitcast<i32>(work[sc + SC_CN_E])));
    let cw = vec2<f32>(bitcast<f32>(work[sc + SC_CW_M]), f32(bitcast<i32>(work[sc + SC_CW_E])));
    let b2 = bitcast<f32>(work[sc + SC_B2]);
    let omb2 = bitcast<f32>(work[sc + SC_OMB2]);
    let lr = bitcast<f32>(work[sc + SC_LR]);
    let flags = gu(ch.group, G_FLAGS);
    let nat_m = (flags & F_NAT_M) != 0u;
    let nat_w = (flags & F_NAT_W) != 0u;
    let sign = gf(ch.group, G_SIGN);
    let l2 = gf(ch.group, G_L2);
    let lerp = gf(ch.group, G_LERP);
    let from_new = (flags & F_LERP_NEW) != 0u;
    let keep = gf(ch.group, G_KEEP);
    let nd = bitcast<f32>(work[sc + SC_ND]);
    let pmode = gu(ch.group, G_POWER);
    let p = gf(ch.group, G_P);
    for (var i = lid; i < ch.len; i = i + WG) {
        let idx = ch.start + i;
        let th = theta[idx];
        let g = sign * grad[idx] + l2 * th;
        let fi = fis[idx] * b2 + omb2 * g * g;
        let d = sat(fpow(fi, pmode, p) + e);
        let m0 = mom[idx];
        var input = g;
        if (nat_m) {
            input = sat(clipped(g, d, cn));
        }
        var base = m0;
        if (from_new) {
            base = input;
        }
        let mi = sat(base + lerp * sat(input - m0));
        var dir = mi;
        if (!nat_m) {
            dir = sat(mi / d);
        }
        if (nat_w) {
            dir = sat(dir + sat(nd * sat(clipped(th, d, cw))));
        }
        theta[idx] = sat(sat(th * keep) - sat(lr * dir));
        mom[idx] = mi;
        fis[idx] = fi;
    }
}

// One invocation after every update dispatch: advance the step counter or
// count the skip, and the sequence number the host matches reports with.
@compute @workgroup_size(1)
fn finish() {
    if (atomicLoad(&status[ST_SKIP_CODE]) == 0u) {
        atomicAdd(&status[ST_STEP], 1u);
        atomicStore(&status[ST_LAST_SKIPPED], 0u);
    } else {
        atomicAdd(&status[ST_SKIPS], 1u);
        atomicStore(&status[ST_LAST_SKIPPED], 1u);
    }
    atomicAdd(&status[ST_SEQ], 1u);
}
