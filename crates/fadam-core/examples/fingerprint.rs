//! Prints a hash of every bit a fixed workload produces (FAdam, Adam and
//! AdamW, f32 and f64, every pass the step can take, tensors large enough to
//! run in parallel; odd steps check the state, even ones trust its verified
//! mark). Builds with different features (no `std`, `rayon`), on different
//! CPUs and with every copy of the kernels (`FADAM_KERNELS`) must print the
//! same line: CI compares them. The copy that ran goes to stderr.

use fadam_core::{EpsilonRule, FAdamConfig, Kernels, State, StateMut, step};

/// FNV-1a over 64-bit words.
fn fnv(hash: &mut u64, word: u64) {
    for b in word.to_le_bytes() {
        *hash = (*hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
}

fn main() {
    let configs = [
        FAdamConfig::new(),
        FAdamConfig::new().with_epsilon_rule(EpsilonRule::PaperV3),
        FAdamConfig::new().with_fisher_power(0.75),
        FAdamConfig::adam(),
        FAdamConfig::adamw(),
    ];
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for config in configs {
        for n in [1usize, 13, 1000, 300_007] {
            let mut t32: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.02)
                .collect();
            let mut t64: Vec<f64> = t32.iter().map(|&v| f64::from(v)).collect();
            let (mut s32, mut s64) = (State::new(n), State::new(n));
            for s in 0..4 {
                // Step 3 uses tiny gradients: the adaptive epsilon's other branch.
                let scale = if s == 2 { 1e-9 } else { 1e-2 };
                let g64: Vec<f64> = (0..n)
                    .map(|i| (((i * 13 + s) % 29) as f64 - 14.0) * scale)
                    .collect();
                let g32: Vec<f32> = g64.iter().map(|&v| v as f32).collect();
                if s % 2 == 0 {
                    step(&config, &mut t32, &g32, s32.as_mut()).expect("step");
                    step(&config, &mut t64, &g64, s64.as_mut()).expect("step");
                } else {
                    let (m, f, k) = s32.parts_mut();
                    step(&config, &mut t32, &g32, StateMut::new(m, f, k)).expect("step");
                    let (m, f, k) = s64.parts_mut();
                    step(&config, &mut t64, &g64, StateMut::new(m, f, k)).expect("step");
                }
            }
            for v in t32.iter().chain(s32.momentum()).chain(s32.fisher()) {
                fnv(&mut hash, u64::from(v.to_bits()));
            }
            for v in t64.iter().chain(s64.momentum()).chain(s64.fisher()) {
                fnv(&mut hash, v.to_bits());
            }
        }
    }
    eprintln!("kernels={}", Kernels::in_use().name());
    println!("fingerprint={hash:016x}");
}
