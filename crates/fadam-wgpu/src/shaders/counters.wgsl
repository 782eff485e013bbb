// The step count of one tensor stepped by a TensorStep, in a framework's
// buffers: the framework keeps the refused steps and the bias terms
// 1 - b1^t, 1 - b2^t as one-element f32 tensors, so the host does not know
// the count t of steps taken. `begin` runs before the passes: while no
// step was refused, the host's step constants (of t = calls + 1) stand;
// after a refused step it forms them from the bias terms, as fadam-burn's
// tensor-operation step does, in the same order of operations. `end` runs
// after the update: it advances the bias terms of a step taken, or counts
// a refused one.

@group(0) @binding(0) var<storage, read_write> tab: array<u32>;
@group(0) @binding(1) var<storage, read_write> status: array<u32, STATUS_WORDS>;
@group(0) @binding(2) var<storage, read_write> refused: array<f32>;
@group(0) @binding(3) var<storage, read_write> bias_1: array<f32>;
@group(0) @binding(4) var<storage, read_write> bias_2: array<f32>;

fn kf(slot: u32) -> f32 {
    return bitcast<f32>(tab[tab[H_COUNTER_OFF] + slot]);
}

// The next bias terms: (1 - b1^t, b2 (1 - b2^(t-1)), 1 - b2^t).
fn next_bias() -> vec3<f32> {
    let old_2 = bias_2[0] * kf(K_BETA2);
    return vec3<f32>(bias_1[0] * kf(K_BETA1) + kf(K_OMB1), old_2, old_2 + kf(K_OMB2));
}

@compute @workgroup_size(1)
fn begin() {
    for (var i = 0u; i < STATUS_WORDS; i = i + 1u) {
        status[i] = 0u;
    }
    if (refused[0] == 0.0) {
        return;
    }
    let b = next_bias();
    var lr = kf(K_LR);
    var decay = kf(K_DECAY);
    if (tab[tab[H_COUNTER_OFF] + K_ADAM] != 0u) {
        lr = (1.0 / b.x) * lr;
        decay = b.x * decay;
    }
    let at = tab[H_TCONST_OFF] + TCONST_HEADER;
    tab[at] = bitcast<u32>(b.y / b.z);
    tab[at + 1u] = bitcast<u32>((1.0 / b.z) * kf(K_OMB2));
    tab[at + 2u] = bitcast<u32>(lr);
    tab[at + 3u] = bitcast<u32>(decay);
}

@compute @workgroup_size(1)
fn end() {
    if (status[ST_SKIP_CODE] == 0u) {
        let b = next_bias();
        bias_1[0] = b.x;
        bias_2[0] = b.z;
    } else {
        refused[0] = refused[0] + 1.0;
    }
}
