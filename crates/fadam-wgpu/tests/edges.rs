//! The edge cases of the GPU step: skipped and refused steps (nothing
//! written), zero, tiny and huge values, determinism, the state round
//! trip. Run on Mesa llvmpipe in CI (`FADAM_REQUIRE_GPU=1` turns "no
//! adapter" into a failure).
// Native only (they block); the browser's are in `web.rs`.
#![cfg(not(target_arch = "wasm32"))]

mod common;
mod shared;

use common::{
    Reference, TOL, all_finite, bits, gpu, grads_of, params_of, read, run_against_core, state_bits,
};
use fadam_core::Error as CoreError;
use fadam_core::{EpsilonRule, FAdamConfig};
use fadam_testkit::rng::{Draw, seeded};
use fadam_wgpu::{Arena, Buffer, Error, FAdamGpu, Layout, Options, SkipReason, State};

/// A NaN or infinity anywhere skips the whole step: nothing is written,
/// the counter stays, the report names the first tensor; later steps go
/// on as the core's do. The host runs ahead of the GPU meanwhile (no wait
/// between steps, two pending at most), so the step constants for every
/// possible counter are exercised.
#[test]
fn non_finite_gradient_skips_the_step() {
    let Some((device, queue)) = gpu() else { return };
    let groups = [FAdamConfig::new()];
    let layout = Layout::packed([(300, 0), (5000, 0), (7, 0)]).unwrap();
    let n = layout.arena_len() as usize;
    let mut rng = seeded(9);
    let p0 = rng.vec_f32(n, 1.0);
    let mut reference = Reference::new(&layout, &groups, &p0);
    let options = Options {
        max_pending_steps: 2,
        ..Options::default()
    };
    let mut opt = FAdamGpu::with_options(device, queue, layout, &groups, options).unwrap();
    let params = params_of(&opt, &p0);
    run_against_core(
        "nonfinite",
        &mut opt,
        &mut reference,
        &params,
        12,
        6,
        |step| {
            let mut g = rng.vec_f32(n, 1.0);
            match step {
                2 => g[400] = f32::NAN,
                3 => {
                    g[5] = f32::INFINITY;
                    g[5305] = f32::NAN;
                }
                4 | 5 => g[n - 1] = f32::NEG_INFINITY,
                8 => g[1000] = 1e30, // g² overflows the Fisher diagonal
                _ => {}
            }
            g
        },
        TOL,
    );
    assert_eq!(opt.read_state().unwrap().step(), 7);

    // Through the host path: an error, and the slices and state unchanged.
    let s0 = state_bits(&opt.read_state().unwrap());
    let mut p = read(device, queue, params.buffer());
    let before = p.clone();
    let mut g = vec![0.1f32; n];
    g[301] = f32::NAN;
    assert_eq!(
        opt.step_slices(&mut p, &g),
        Err(Error::Core(CoreError::NonFiniteGradient { tensor: 1 }))
    );
    assert_eq!(bits(&p), bits(&before));
    assert_eq!(state_bits(&opt.read_state().unwrap()), s0);
}

#[test]
fn skip_is_reported_without_waiting() {
    let Some((device, queue)) = gpu() else { return };
    let layout = Layout::packed([(10, 0), (10, 0)]).unwrap();
    let mut opt = FAdamGpu::new(device, queue, layout, &[FAdamConfig::new()]).unwrap();
    let params = params_of(&opt, &[1.0; 20]);
    let mut g = vec![0.5f32; 20];
    g[15] = f32::NAN;
    let grads = grads_of(&opt, &g);
    let call = opt.step(&params, &grads).unwrap();
    // poll never blocks; the report arrives eventually.
    let mut reports = Vec::new();
    let start = std::time::Instant::now();
    while reports.is_empty() && start.elapsed().as_secs() < 30 {
        reports = opt.poll().unwrap();
        std::thread::yield_now();
    }
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].call, call);
    assert_eq!(reports[0].step, 0);
    assert_eq!(reports[0].skipped, Some((1, SkipReason::NonFiniteGradient)));
    assert_eq!(read(device, queue, params.buffer()), vec![1.0; 20]);
}

/// Zero gradients and huge parameters: finite outputs, the core's values.
#[test]
fn zero_gradients_and_huge_params_match_core() {
    let Some((device, queue)) = gpu() else { return };
    let groups = [
        FAdamConfig::new(),
        FAdamConfig::new().with_epsilon_rule(EpsilonRule::PaperV3),
        FAdamConfig::new().with_epsilon_rule(EpsilonRule::Fixed),
        FAdamConfig::adam(),
    ];
    // Per group: zero grads; zero grads with 1e30 params; 1e30 params.
    let layout = Layout::packed((0..12).map(|i| (513u64, i / 3))).unwrap();
    let n = layout.arena_len() as usize;
    let kind = |i: usize| (i / 513) % 3;
    let mut rng = seeded(13);
    let p0: Vec<f32> = (0..n)
        .map(|i| rng.signed_f32() * if kind(i) == 0 { 1.0 } else { 1e30 })
        .collect();
    let mut reference = Reference::new(&layout, &groups, &p0);
    let mut opt = FAdamGpu::new(device, queue, layout, &groups).unwrap();
    let params = params_of(&opt, &p0);
    run_against_core(
        "extreme",
        &mut opt,
        &mut reference,
        &params,
        6,
        3,
        |_| {
            (0..n)
                .map(|i| if kind(i) == 2 { rng.signed_f32() } else { 0.0 })
                .collect()
        },
        TOL,
    );
    let p = read(device, queue, params.buffer());
    assert!(all_finite(&p, &opt.read_state().unwrap()));
}

/// Gradients of 1e-30 (their squares underflow f32; the f32 core, which
/// squares before widening, sees RMS(g) = 0 where the GPU's scaled sums
/// see 1e-30, so the core is no reference here): finite outputs, and the
/// spec's bound RMS(Δθ) <= η·c·(1 + λ) on every step, with normal and huge
/// parameters.
#[test]
fn tiny_gradients_stay_finite_and_bounded() {
    let Some((device, queue)) = gpu() else { return };
    let groups = [
        FAdamConfig::new(),
        FAdamConfig::new().with_epsilon_rule(EpsilonRule::PaperV3),
        FAdamConfig::new().with_fisher_power(0.7),
    ];
    let layout = Layout::packed((0..6).map(|i| (1000u64, i / 2))).unwrap();
    let n = layout.arena_len() as usize;
    let mut rng = seeded(19);
    let p0: Vec<f32> = (0..n)
        .map(|i| rng.signed_f32() * if (i / 1000) % 2 == 1 { 1e30 } else { 1.0 })
        .collect();
    let mut opt = FAdamGpu::new(device, queue, layout.clone(), &groups).unwrap();
    let params = params_of(&opt, &p0);
    let mut before = p0;
    for _ in 0..5 {
        let g = grads_of(&opt, &rng.vec_f32(n, 1e-30));
        opt.step(&params, &g).unwrap();
        let p = read(device, queue, params.buffer());
        assert!(all_finite(&p, &opt.read_state().unwrap()));
        for t in layout.tensors() {
            let r = t.offset as usize..(t.offset + t.len) as usize;
            let c = groups[t.group];
            let ms: f64 = p[r.clone()]
                .iter()
                .zip(&before[r])
                .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                .sum::<f64>()
                / t.len as f64;
            let bound = c.lr * c.clip.unwrap() * (1.0 + c.weight_decay);
            // f32 rounding of 1e30 parameters: an ulp is ~7e22.
            let ulp = if t.offset / 1000 % 2 == 1 {
                1e-7 * 1e30
            } else {
                0.0
            };
            assert!(ms.sqrt() <= bound * 1.0001 + ulp, "{} > {bound}", ms.sqrt());
        }
        before = p;
    }
}

/// Two fresh runs give the same bits.
#[test]
fn deterministic() {
    let Some((device, queue)) = gpu() else { return };
    let groups = [FAdamConfig::new(), FAdamConfig::adam()];
    let layout = Layout::packed([(65537, 0), (3000, 1), (1, 0), (20000, 0)]).unwrap();
    let n = layout.arena_len() as usize;
    let run = || {
        let mut rng = seeded(21);
        let mut opt = FAdamGpu::new(device, queue, layout.clone(), &groups).unwrap();
        let params = params_of(&opt, &rng.vec_f32(n, 1.0));
        for _ in 0..5 {
            let g = grads_of(&opt, &rng.vec_f32(n, 1.0));
            opt.step(&params, &g).unwrap();
        }
        let state = state_bits(&opt.read_state().unwrap());
        (bits(&read(device, queue, params.buffer())), state)
    };
    let a = run();
    let b = run();
    assert_eq!(a.1.2, 5);
    assert!(a == b, "two runs differ");
}

/// Refused steps: typed errors, nothing written.
#[test]
fn refused_steps_write_nothing() {
    let Some((device, queue)) = gpu() else { return };
    let layout = Layout::packed([(100, 0), (28, 0)]).unwrap();
    let mut opt = FAdamGpu::new(device, queue, layout.clone(), &[FAdamConfig::new()]).unwrap();
    let p0 = vec![1.0f32; 128];
    let params = params_of(&opt, &p0);
    let grads = grads_of(&opt, &[0.5; 128]);
    assert_eq!(
        opt.create_buffer_init(Arena::Other(Buffer::Gradient), &[0.5; 127])
            .unwrap_err(),
        Error::LengthMismatch {
            buffer: Arena::Other(Buffer::Gradient),
            expected: 128,
            found: 127
        }
    );
    assert_eq!(opt.step(&params, &params), Err(Error::SameBuffer));
    opt.groups_mut()[0].lr = f64::NAN;
    assert!(matches!(
        opt.step(&params, &grads),
        Err(Error::Core(CoreError::Config { group: 0, .. }))
    ));
    let mut host = p0.clone();
    assert!(matches!(
        opt.step_slices(&mut host, &[0.5; 128]),
        Err(Error::Core(CoreError::Config { group: 0, .. }))
    ));
    opt.groups_mut()[0].lr = 1e-3;
    assert!(matches!(
        opt.step_slices(&mut host, &[0.5; 12]),
        Err(Error::LengthMismatch {
            buffer: Arena::Other(Buffer::Gradient),
            ..
        })
    ));
    assert!(opt.wait().unwrap().is_empty());
    assert_eq!(read(device, queue, params.buffer()), p0);
    assert_eq!(opt.read_state().unwrap(), State::new(128));
    // Construction errors.
    let bad = Layout::packed([(4, 3)]).unwrap();
    assert_eq!(
        FAdamGpu::new(device, queue, bad, &[FAdamConfig::new()]).unwrap_err(),
        Error::Core(CoreError::UnknownGroup {
            tensor: 0,
            group: 3,
            groups: 1
        })
    );
    assert_eq!(
        FAdamGpu::new(device, queue, layout.clone(), &[]).unwrap_err(),
        Error::NoGroups
    );
    let huge = Layout::packed([(u64::from(u32::MAX) * 4, 0)]).unwrap();
    assert!(matches!(
        FAdamGpu::new(device, queue, huge, &[FAdamConfig::new()]),
        Err(Error::TooLarge { .. })
    ));
    let tiny_bind = Options {
        max_binding_bytes: Some(1024),
        ..Options::default()
    };
    assert!(matches!(
        FAdamGpu::with_options(device, queue, layout, &[FAdamConfig::new()], tiny_bind),
        Err(Error::Unsupported { .. })
    ));
}

/// State round trip, and resuming from a checkpoint matches the core.
#[test]
fn write_state_resumes() {
    let Some((device, queue)) = gpu() else { return };
    let groups = [FAdamConfig::new()];
    let layout = Layout::packed([(1000, 0)]).unwrap();
    let mut rng = seeded(17);
    let p0 = rng.vec_f32(1000, 1.0);
    let mut reference = Reference::new(&layout, &groups, &p0);
    for _ in 0..7 {
        reference.step(&rng.vec_f32(1000, 1.0)).unwrap();
    }
    let (m, f) = reference.state_arenas();
    let mut opt = FAdamGpu::new(device, queue, layout, &groups).unwrap();
    let params = params_of(&opt, &reference.params);
    opt.write_state(&m, &f, 7).unwrap();
    let written = (bits(&m), bits(&f), 7);
    assert_eq!(state_bits(&opt.read_state().unwrap()), written);
    // The GPU counts steps in 32 bits: a larger count is refused, and
    // nothing is written.
    let zeros = vec![0.0f32; 1000];
    assert!(matches!(
        opt.write_state(&zeros, &zeros, u64::from(u32::MAX) + 1),
        Err(Error::TooLarge {
            what: "step counter",
            ..
        })
    ));
    assert_eq!(state_bits(&opt.read_state().unwrap()), written);
    run_against_core(
        "resume",
        &mut opt,
        &mut reference,
        &params,
        5,
        5,
        |_| rng.vec_f32(1000, 1.0),
        TOL,
    );
    assert_eq!(opt.reported_step(), 12);
}
