//! The GPU step against fadam-core: sizes, every switch, mixed models,
//! split bindings, the golden vectors. The edge cases, error paths and
//! determinism are in `edges.rs`. Run on Mesa llvmpipe in CI
//! (`FADAM_REQUIRE_GPU=1` turns "no adapter" into a failure).
// Native only (they block); the browser's are in `web.rs`.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use fadam_core::{DecayMode, EpsilonRule, FAdamConfig, MomentumMode};
use fadam_wgpu::{FAdamGpu, Layout, Options, State, TensorSpec};

fn single(n: u64, config: FAdamConfig, seed: u64, steps: usize) {
    let Some((device, queue)) = gpu() else { return };
    let layout = Layout::packed([(n, 0)]);
    let mut rng = Rng::new(seed);
    let p0 = rng.vec(n as usize, 1.0);
    let mut reference = Reference::new(&layout, &[config], &p0);
    let params = buffer(device, &p0);
    let mut opt = FAdamGpu::new(device, queue, layout, &[config]).unwrap();
    run_against_core(
        &format!("n={n}"),
        &mut opt,
        &mut reference,
        &params,
        steps,
        1,
        |_| rng.vec(n as usize, 1.0),
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
    let layout = Layout::packed(specs);
    let scales: Vec<f32> = layout
        .tensors()
        .iter()
        .flat_map(|t| {
            let s = if t.group >= plain { 1e-7 } else { 1.0 };
            std::iter::repeat_n(s, t.len as usize)
        })
        .collect();
    let mut rng = Rng::new(3);
    let n = layout.arena_len() as usize;
    let p0 = rng.vec(n, 1.0);
    let mut reference = Reference::new(&layout, &groups, &p0);
    let params = buffer(device, &p0);
    let mut opt = FAdamGpu::new(device, queue, layout, &groups).unwrap();
    run_against_core(
        "switches",
        &mut opt,
        &mut reference,
        &params,
        20,
        5,
        |_| {
            rng.vec(n, 1.0)
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
    let mut rng = Rng::new(11);
    let mut specs = Vec::new();
    let mut offset = 0u64;
    for i in 0..60u64 {
        let len = match i % 6 {
            0 => 1,
            1 => 4096,
            2 => 8193,
            3 => (rng.next().abs() * 3000.0) as u64 + 1,
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
    let p0 = rng.vec(n, 2.0);
    let mut reference = Reference::new(&layout, &groups, &p0);
    let params = buffer(device, &p0);
    let mut opt = FAdamGpu::new(device, queue, layout, &groups).unwrap();
    assert_eq!(opt.windows(), 1);
    assert_eq!(opt.dispatches_per_step(), 6);
    run_against_core(
        "mixed",
        &mut opt,
        &mut reference,
        &params,
        20,
        4,
        |_| rng.vec(n, 1.0),
        TOL,
    );
}

/// An arena larger than the binding size (forced down to 64 KiB) is
/// stepped in windows; tensors straddle window boundaries.
#[test]
fn split_bindings_match_core() {
    let Some((device, queue)) = gpu() else { return };
    let groups = [FAdamConfig::new(), FAdamConfig::adam()];
    let layout = Layout::packed([(40_000, 0), (3, 1), (20_000, 1), (9000, 0), (1, 0)]);
    let n = layout.arena_len() as usize;
    let mut rng = Rng::new(5);
    let p0 = rng.vec(n, 1.0);
    let mut reference = Reference::new(&layout, &groups, &p0);
    let params = buffer(device, &p0);
    let options = Options {
        max_binding_bytes: Some(64 << 10),
        ..Options::default()
    };
    let mut opt = FAdamGpu::with_options(device, queue, layout, &groups, options).unwrap();
    assert_eq!(opt.windows(), n.div_ceil(16384));
    run_against_core(
        "split",
        &mut opt,
        &mut reference,
        &params,
        10,
        5,
        |_| rng.vec(n, 1.0),
        TOL,
    );
}

/// The golden vectors of fadam-core (PyTorch references).
#[test]
fn golden_vectors() {
    let Some(_) = gpu() else { return };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fadam-core/tests/golden");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    assert!(cases.len() >= 7);
    for case in cases {
        golden_case(&dir, case);
    }
}

fn golden_case(dir: &std::path::Path, case: &serde_json::Value) {
    let (device, queue) = gpu().unwrap();
    let name = case["name"].as_str().unwrap();
    let h = &case["hyperparameters"];
    let num = |k: &str| h[k].as_f64().unwrap();
    let optimizer = case["optimizer"].as_str().unwrap();
    let base = match optimizer {
        "pytorch_optimizer.FAdam" => FAdamConfig::new()
            .with_clip(num("clip"))
            .with_fisher_power(num("p"))
            .with_eps2(num("eps_2")),
        "torch.optim.Adam" => FAdamConfig::adam(),
        "torch.optim.AdamW" => FAdamConfig::adamw(),
        other => panic!("{name}: unknown optimizer {other}"),
    };
    let config = base
        .with_lr(num("lr"))
        .with_betas(
            h["betas"][0].as_f64().unwrap(),
            h["betas"][1].as_f64().unwrap(),
        )
        .with_eps(num("eps"))
        .with_weight_decay(num("weight_decay"))
        .with_maximize(h["maximize"].as_bool().unwrap_or(false));
    let sizes: Vec<u64> = case["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s.as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .product()
        })
        .collect();
    let file = |role: &str| -> Vec<f32> {
        let bytes = std::fs::read(dir.join(case["files"][role].as_str().unwrap())).unwrap();
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    let layout = Layout::packed(sizes.iter().map(|&n| (n, 0)));
    let numel = layout.arena_len() as usize;
    let mut params = file("init");
    let (grads, expected) = (file("grads"), file("params"));
    let steps = grads.len() / numel;
    let mut opt = FAdamGpu::new(device, queue, layout, &[config]).unwrap();
    // The golden criterion: |a - b| <= 1e-5 · max(1, |b|).
    let check = |what: String, a: &[f32], e: &[f32]| {
        for (i, (&a, &e)) in a.iter().zip(e).enumerate() {
            let err = (f64::from(a) - f64::from(e)).abs();
            assert!(
                err <= 1e-5 * f64::from(e).abs().max(1.0),
                "{name} {what}[{i}]: gpu {a} vs {e}"
            );
        }
    };
    for t in 0..steps {
        opt.step_slices(&mut params, &grads[t * numel..(t + 1) * numel])
            .unwrap();
        check(
            format!("params@{}", t + 1),
            &params,
            &expected[t * numel..(t + 1) * numel],
        );
    }
    let State {
        momentum: m,
        fisher: mut f,
        step,
    } = opt.read_state().unwrap();
    assert_eq!(step, steps as u64);
    if config.momentum == MomentumMode::Adam {
        let correction = 1.0 - config.beta2.powi(steps as i32);
        f.iter_mut()
            .for_each(|x| *x = (f64::from(*x) * correction) as f32);
    }
    check("momentum".into(), &m, &file("momentum"));
    check("fisher".into(), &f, &file("fim"));
}
