//! The GPU step against fadam-core: sizes, every switch, mixed models,
//! split bindings, the golden vectors. The edge cases, error paths and
//! determinism are in `edges.rs`. Run on Mesa llvmpipe in CI
//! (`FADAM_REQUIRE_GPU=1` turns "no adapter" into a failure).
// Native only (they block); the browser's are in `web.rs`.
#![cfg(not(target_arch = "wasm32"))]

mod common;
mod shared;

use common::{Reference, TOL, gpu, params_of, run_against_core};
use fadam_core::{DecayMode, EpsilonRule, FAdamConfig, MomentumMode};
use fadam_testkit::golden::{load_dir, repository_dir};
use fadam_testkit::rng::{Draw, seeded};
use fadam_wgpu::{FAdamGpu, Layout, Options, TensorSpec};
use shared::golden_case;

fn single(n: u64, config: FAdamConfig, seed: u64, steps: usize) {
    let Some((device, queue)) = gpu() else { return };
    let layout = Layout::packed([(n, 0)]).unwrap();
    let mut rng = seeded(seed);
    let p0 = rng.vec_f32(n as usize, 1.0);
    let mut reference = Reference::new(&layout, &[config], &p0);
    let mut opt = FAdamGpu::new(device, queue, layout, &[config]).unwrap();
    let params = params_of(&opt, &p0);
    run_against_core(
        &format!("n={n}"),
        &mut opt,
        &mut reference,
        &params,
        steps,
        1,
        |_| rng.vec_f32(n as usize, 1.0),
        TOL,
    );
}

#[test]
fn single_tensor_sizes_match_core() {
    for n in [1, 255, 256, 257, 4096, 4097] {
        single(n, FAdamConfig::new(), n, 20);
    }
}

#[test]
fn large_tensor_matches_core() {
    single(65537, FAdamConfig::new(), 7, 20);
}

/// Every combination of the switches, each as its own group of one model
/// (so groups are exercised too), plus other Fisher powers, epsilons and
/// tiny gradients that take the adaptive-epsilon branch.
#[test]
fn every_switch_matches_core() {
    let Some((device, queue)) = gpu() else { return };
    let mut groups = Vec::new();
    for rule in [
        EpsilonRule::Adaptive,
        EpsilonRule::PaperV3,
        EpsilonRule::Fixed,
    ] {
        for momentum in [MomentumMode::Natural, MomentumMode::Adam] {
            for clip in [Some(1.0), None, Some(0.05)] {
                for decay in [
                    DecayMode::Natural,
                    DecayMode::Decoupled,
                    DecayMode::L2,
                    DecayMode::None,
                ] {
                    for maximize in [false, true] {
                        let mut c = FAdamConfig::new()
                            .with_epsilon_rule(rule)
                            .with_momentum(momentum)
                            .with_decay(decay)
                            .with_maximize(maximize);
                        c.clip = clip;
                        groups.push(c);
                    }
                }
            }
        }
    }
    groups.push(FAdamConfig::new().with_fisher_power(1.0));
    groups.push(FAdamConfig::new().with_fisher_power(0.7).with_eps(1e-4));
    groups.push(FAdamConfig::new().with_weight_decay(0.0));
    groups.push(FAdamConfig::adam());
    groups.push(FAdamConfig::adamw());
    groups.push(
        FAdamConfig::new()
            .with_betas(0.5, 0.9)
            .with_lr(0.05)
            .with_eps2(0.1),
    );
    let plain = groups.len();
    // Tiny-gradient tensors (scaled below) for the adaptive branch.
    groups.push(FAdamConfig::new());
    groups.push(FAdamConfig::new().with_epsilon_rule(EpsilonRule::PaperV3));
    groups.push(FAdamConfig::new().with_fisher_power(0.7));
    let sizes = [300u64, 17, 1, 600];
    let specs: Vec<(u64, usize)> = (0..groups.len())
        .map(|g| (sizes[g % sizes.len()], g))
        .collect();
    let layout = Layout::packed(specs).unwrap();
    let scales: Vec<f32> = layout
        .tensors()
        .iter()
        .flat_map(|t| {
            let s = if t.group >= plain { 1e-7 } else { 1.0 };
            std::iter::repeat_n(s, t.len as usize)
        })
        .collect();
    let mut rng = seeded(3);
    let n = layout.arena_len() as usize;
    let p0 = rng.vec_f32(n, 1.0);
    let mut reference = Reference::new(&layout, &groups, &p0);
    let mut opt = FAdamGpu::new(device, queue, layout, &groups).unwrap();
    let params = params_of(&opt, &p0);
    run_against_core(
        "switches",
        &mut opt,
        &mut reference,
        &params,
        20,
        5,
        |_| {
            rng.vec_f32(n, 1.0)
                .iter()
                .zip(&scales)
                .map(|(g, s)| g * s)
                .collect()
        },
        TOL,
    );
}

/// A model of many tensors of mixed sizes in three groups, with gaps in
/// the arena and tensors given out of order.
#[test]
fn mixed_model_matches_core() {
    let Some((device, queue)) = gpu() else { return };
    let groups = [
        FAdamConfig::new(),
        FAdamConfig::new().with_weight_decay(0.0).with_lr(3e-3),
        FAdamConfig::adamw().with_lr(1e-2),
    ];
    let mut rng = seeded(11);
    let mut specs = Vec::new();
    let mut offset = 0u64;
    for i in 0..60u64 {
        let len = match i % 6 {
            0 => 1,
            1 => 4096,
            2 => 8193,
            3 => (rng.signed_f32().abs() * 3000.0) as u64 + 1,
            4 => 0,
            _ => 77,
        };
        specs.push(TensorSpec {
            offset,
            len,
            group: (i % 3) as usize,
        });
        offset += len + (i % 4) * 5;
    }
    specs.reverse();
    let layout = Layout::new(specs).unwrap();
    let n = layout.arena_len() as usize;
    let p0 = rng.vec_f32(n, 2.0);
    let mut reference = Reference::new(&layout, &groups, &p0);
    let mut opt = FAdamGpu::new(device, queue, layout, &groups).unwrap();
    let params = params_of(&opt, &p0);
    assert_eq!(opt.windows(), 1);
    assert_eq!(opt.dispatches_per_step(), 6);
    run_against_core(
        "mixed",
        &mut opt,
        &mut reference,
        &params,
        20,
        4,
        |_| rng.vec_f32(n, 1.0),
        TOL,
    );
}

/// An arena larger than the binding size (forced down to 64 KiB) is
/// stepped in windows; tensors straddle window boundaries.
#[test]
fn split_bindings_match_core() {
    let Some((device, queue)) = gpu() else { return };
    let groups = [FAdamConfig::new(), FAdamConfig::adam()];
    let layout = Layout::packed([(40_000, 0), (3, 1), (20_000, 1), (9000, 0), (1, 0)]).unwrap();
    let n = layout.arena_len() as usize;
    let mut rng = seeded(5);
    let p0 = rng.vec_f32(n, 1.0);
    let mut reference = Reference::new(&layout, &groups, &p0);
    let options = Options {
        max_binding_bytes: Some(64 << 10),
        ..Options::default()
    };
    let mut opt = FAdamGpu::with_options(device, queue, layout, &groups, options).unwrap();
    let params = params_of(&opt, &p0);
    assert_eq!(opt.windows(), n.div_ceil(16384));
    run_against_core(
        "split",
        &mut opt,
        &mut reference,
        &params,
        10,
        5,
        |_| rng.vec_f32(n, 1.0),
        TOL,
    );
}

/// The golden vectors of fadam-core (PyTorch references).
#[test]
fn golden_vectors() {
    let Some((device, queue)) = gpu() else { return };
    let cases = load_dir(&repository_dir()).unwrap();
    assert!(cases.len() >= 7);
    for case in cases {
        let out = pollster::block_on(golden_case(device, queue, &case.unwrap()));
        assert!(out.failure.is_none(), "{}: {:?}", out.name, out.failure);
    }
}
