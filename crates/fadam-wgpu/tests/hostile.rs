//! Input a hostile (or careless) user can give through the public API
//! (issue 10): buffers of another device or optimizer, extreme sizes and
//! counts, the step counter at its limit, invalid state, constants beyond
//! `f32`. Every refusal is a typed error that leaves the parameters and
//! the state bit for bit as they were; nothing panics.
// Native only (they block).
#![cfg(not(target_arch = "wasm32"))]

mod common;
mod shared;

use common::{Reference, bits, gpu, grads_of, params_of, read, state_bits};
use fadam_core::{Error as CoreError, FAdamConfig, Hyperparameter};
use fadam_testkit::rng::{Draw, seeded};
use fadam_wgpu::{
    Arena, ArenaBuffer, Buffer, Error, FAdamGpu, Layout, Options, SkipReason, TensorSpec, wgpu,
};

const GRAD: Arena = Arena::Other(Buffer::Gradient);

/// Parameters and state, as bits.
type Snapshot = (Vec<u32>, (Vec<u32>, Vec<u32>, u64));

fn snapshot(opt: &mut FAdamGpu, params: &ArenaBuffer) -> Snapshot {
    let (device, queue) = gpu().unwrap();
    let p = bits(&read(device, queue, params.buffer()));
    (p, state_bits(&opt.read_state().unwrap()))
}

/// An optimizer of `n` elements (FAdam, one group) that has taken three
/// steps, with its parameters.
fn stepped(device: &wgpu::Device, queue: &wgpu::Queue, n: u64) -> (FAdamGpu, ArenaBuffer) {
    let layout = Layout::packed([(n, 0)]).unwrap();
    let mut opt = FAdamGpu::new(device, queue, layout, &[FAdamConfig::new()]).unwrap();
    let mut rng = seeded(41);
    let params = params_of(&opt, &rng.vec_f32(n as usize, 1.0));
    for _ in 0..3 {
        opt.step(&params, &grads_of(&opt, &rng.vec_f32(n as usize, 1.0)))
            .unwrap();
    }
    assert!(opt.wait().unwrap().iter().all(|r| r.skipped.is_none()));
    (opt, params)
}

/// Buffers made on a second device (another `request_device`, so another
/// wgpu instance whose buffer ids collide with this one's), or by another
/// optimizer on the same device, are refused with `ForeignBuffer`; nothing
/// is written, and the optimizer steps on afterwards.
#[test]
fn foreign_buffers_are_refused() {
    let Some((device, queue)) = gpu() else { return };
    let n = 1000;
    let (mut opt, params) = stepped(device, queue, n);
    let grads = grads_of(&opt, &vec![0.25; n as usize]);
    let (device2, queue2, _) = fadam_wgpu::request_device().unwrap();
    let layout = opt.layout().clone();
    let other_device = FAdamGpu::new(&device2, &queue2, layout.clone(), opt.groups()).unwrap();
    let same_device = FAdamGpu::new(device, queue, layout, opt.groups()).unwrap();
    let before = snapshot(&mut opt, &params);
    for other in [&other_device, &same_device] {
        // Zeros and ones: stepped with either, the parameters would move.
        let g = other
            .create_buffer_init(GRAD, &vec![1.0; n as usize])
            .unwrap();
        let p = other.create_buffer(Arena::Params).unwrap();
        let foreign = |buffer| Err(Error::ForeignBuffer { buffer });
        assert_eq!(opt.step(&params, &g), foreign(GRAD));
        assert_eq!(opt.step(&p, &grads), foreign(Arena::Params));
        assert_eq!(opt.step(&p, &g), foreign(Arena::Params));
        assert_eq!(
            pollster::block_on(opt.step_async(&params, &g)),
            foreign(GRAD)
        );
        assert!(opt.wait().unwrap().is_empty());
        assert_eq!(snapshot(&mut opt, &params), before);
    }
    // Its own buffers still step (the refusals left nothing behind).
    opt.step(&params, &grads).unwrap();
    let reports = opt.wait().unwrap();
    assert_eq!((reports.len(), reports[0].step), (1, 4));
    assert_ne!(snapshot(&mut opt, &params).0, before.0);
}

/// A buffer of the optimizer destroyed by the user: the device's error,
/// as `Error::Device`, nothing written and no panic.
#[test]
fn destroyed_buffer_is_a_device_error() {
    let Some((device, queue)) = gpu() else { return };
    let (mut opt, params) = stepped(device, queue, 300);
    let before = snapshot(&mut opt, &params);
    let grads = grads_of(&opt, &[0.5; 300]);
    grads.buffer().destroy();
    assert!(matches!(opt.step(&params, &grads), Err(Error::Device(_))));
    assert!(opt.wait().unwrap().is_empty());
    assert_eq!(snapshot(&mut opt, &params), before);
    opt.step(&params, &grads_of(&opt, &[0.5; 300])).unwrap();
    assert_eq!(opt.wait().unwrap()[0].step, 4);
}

/// The GPU counts steps in 32 bits: from `u32::MAX - 1` one step is
/// taken (to `u32::MAX`), the next is refused with nothing written; a
/// skipped step does not count; steps submitted without waiting reach the
/// same limit.
#[test]
fn step_counter_reaches_u32_max() {
    let Some((device, queue)) = gpu() else { return };
    let n = 100;
    let (mut opt, params) = stepped(device, queue, n);
    let (momentum, fisher, _) = opt.read_state().unwrap().into_parts();
    let grads = grads_of(&opt, &vec![0.5; n as usize]);
    let mut nan = vec![0.5; n as usize];
    nan[7] = f32::NAN;
    let nan = grads_of(&opt, &nan);
    let max = u64::from(u32::MAX);
    for pending in [false, true] {
        opt.write_state(&momentum, &fisher, max - 2).unwrap();
        // A skipped step leaves the counter.
        opt.step(&params, &nan).unwrap();
        if !pending {
            opt.wait().unwrap();
        }
        opt.step(&params, &grads).unwrap();
        if !pending {
            opt.wait().unwrap();
        }
        // At u32::MAX - 1: this step fits (waiting for the pending
        // reports first, which say whether it does).
        opt.step(&params, &grads).unwrap();
        let reports = opt.wait().unwrap();
        let last = reports.last().unwrap();
        assert_eq!((last.step, last.skipped), (max, None));
        assert_eq!(opt.reported_step(), max);
        let before = snapshot(&mut opt, &params);
        let refused = Error::TooLarge {
            what: "step counter",
            needed: max + 1,
            limit: max,
        };
        assert_eq!(opt.step(&params, &grads), Err(refused.clone()));
        let mut host = read(device, queue, params.buffer());
        assert_eq!(
            opt.step_slices(&mut host, &vec![0.5; n as usize]),
            Err(refused.clone())
        );
        assert_eq!(bits(&host), before.0);
        assert!(opt.wait().unwrap().is_empty());
        assert_eq!(snapshot(&mut opt, &params), before);
        // A skipped step at the limit is refused too (it could not be known
        // to skip before it ran).
        assert_eq!(opt.step(&params, &nan), Err(refused));
    }
    let skipped = Some((0, SkipReason::NonFiniteGradient));
    opt.write_state(&momentum, &fisher, max - 1).unwrap();
    opt.step(&params, &nan).unwrap();
    assert_eq!(opt.wait().unwrap()[0].skipped, skipped);
    opt.step(&params, &grads).unwrap();
    assert_eq!(opt.wait().unwrap()[0].step, max);
}

/// `write_state` checks the state as the core does: a NaN or infinite
/// momentum, or a negative (not `-0.0`), NaN or infinite Fisher value, is
/// `InvalidState` naming its tensor, and nothing is written.
#[test]
fn write_state_refuses_invalid_state() {
    let Some((device, queue)) = gpu() else { return };
    let t = |offset, len| TensorSpec {
        offset,
        len,
        group: 0,
    };
    // Tensor 1 lies first in the arena; a gap of 5 after tensor 0.
    let layout = Layout::new(vec![t(40, 30), t(0, 35), t(75, 1)]).unwrap();
    let mut opt = FAdamGpu::new(device, queue, layout, &[FAdamConfig::new()]).unwrap();
    let mut rng = seeded(43);
    let params = params_of(&opt, &rng.vec_f32(76, 1.0));
    let m: Vec<f32> = rng.vec_f32(76, 1.0);
    let f: Vec<f32> = rng.vec_f32(76, 1.0).iter().map(|x| x.abs()).collect();
    opt.write_state(&m, &f, 5).unwrap();
    let before = snapshot(&mut opt, &params);
    let invalid = |tensor, buffer| Err(Error::Core(CoreError::InvalidState { tensor, buffer }));
    for (at, tensor) in [(50, 0), (3, 1), (75, 2)] {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut bad_m = m.clone();
            bad_m[at] = bad;
            assert_eq!(
                opt.write_state(&bad_m, &f, 9),
                invalid(tensor, Buffer::Momentum)
            );
        }
        for bad in [-1.0, -f32::MIN_POSITIVE, f32::NAN, f32::INFINITY] {
            let mut bad_f = f.clone();
            bad_f[at] = bad;
            assert_eq!(
                opt.write_state(&m, &bad_f, 9),
                invalid(tensor, Buffer::Fisher)
            );
        }
        assert_eq!(snapshot(&mut opt, &params), before);
    }
    // The first bad tensor (by index) is named, the momentum first.
    let (mut bad_m, mut bad_f) = (m.clone(), f.clone());
    bad_m[3] = f32::NAN;
    bad_f[41] = -2.0;
    assert_eq!(
        opt.write_state(&bad_m, &bad_f, 9),
        invalid(0, Buffer::Fisher)
    );
    // Gaps are not state; -0.0 is a valid Fisher value.
    let (mut gap_m, mut zero_f) = (m.clone(), f.clone());
    gap_m[37] = f32::NAN;
    zero_f[10] = -0.0;
    opt.write_state(&gap_m, &zero_f, 9).unwrap();
    let s = opt.read_state().unwrap();
    assert_eq!(
        (bits(s.momentum()), bits(s.fisher()), s.step()),
        (bits(&gap_m), bits(&zero_f), 9)
    );
}

/// A learning rate or weight decay whose step constant does not fit `f32`
/// is refused as the core's `f32` step refuses it (`OutOfRange`), nothing
/// written; Adam's bias correction counts (`η / (1 - β1)` at step 1).
#[test]
fn constants_beyond_f32_are_refused() {
    let Some((device, queue)) = gpu() else { return };
    let cases = [
        (
            FAdamConfig::new().with_lr(1e39),
            Hyperparameter::LearningRate,
        ),
        (
            FAdamConfig::new().with_weight_decay(1e39),
            Hyperparameter::WeightDecay,
        ),
        (
            FAdamConfig::adamw().with_lr(1e38),
            Hyperparameter::LearningRate,
        ),
        (
            // 1 - η·λ = 1 - 1e39: decoupled decay's factor.
            FAdamConfig::adamw().with_weight_decay(1e42),
            Hyperparameter::WeightDecay,
        ),
    ];
    for (config, parameter) in cases {
        let n = 64;
        let layout = Layout::packed([(n, 0), (n, 1)]).unwrap();
        let groups = [FAdamConfig::new(), FAdamConfig::new()];
        let mut opt = FAdamGpu::new(device, queue, layout.clone(), &groups).unwrap();
        let mut rng = seeded(47);
        let p0 = rng.vec_f32(2 * n as usize, 1.0);
        let g = rng.vec_f32(2 * n as usize, 1.0);
        let params = params_of(&opt, &p0);
        let grads = grads_of(&opt, &g);
        opt.groups_mut()[1] = config;
        let before = snapshot(&mut opt, &params);
        let mut core = Reference::new(&layout, &[FAdamConfig::new(), config], &p0);
        let expected = core.step(&g).map_err(Error::Core);
        assert!(
            matches!(expected, Err(Error::Core(CoreError::OutOfRange { group: 1, parameter: p, .. })) if p == parameter),
            "{expected:?}"
        );
        assert_eq!(opt.step(&params, &grads).map(|_| ()), expected);
        let mut host = p0.clone();
        assert_eq!(opt.step_slices(&mut host, &g), expected);
        assert_eq!(bits(&host), bits(&p0));
        assert!(opt.wait().unwrap().is_empty());
        assert_eq!(snapshot(&mut opt, &params), before);
    }
}

/// Sizes and counts near the integer limits: layouts whose arena would
/// pass `u64::MAX / 4` elements (its bytes overflow `u64`), a pending-step
/// count near `usize::MAX`: `TooLarge`, never an overflow or a huge
/// allocation (the tests would fail to allocate).
#[test]
fn extreme_sizes_are_too_large() {
    let limit = u64::MAX / 4;
    let too_large = |r: Result<Layout, Error>| {
        assert!(
            matches!(r, Err(Error::TooLarge { what: "arena elements", limit: l, .. }) if l == limit),
            "{r:?}"
        );
    };
    let t = |offset, len| TensorSpec {
        offset,
        len,
        group: 0,
    };
    too_large(Layout::new(vec![t(1 << 62, 0)]));
    too_large(Layout::new(vec![t(0, 1), t(limit, 1)]));
    too_large(Layout::new(vec![t(u64::MAX, 1)]));
    too_large(Layout::new(vec![t(u64::MAX - 1, 2)]));
    too_large(Layout::packed([(limit, 0), (1, 0)]));
    too_large(Layout::packed([(u64::MAX, 0), (u64::MAX, 0)]));
    too_large(Layout::packed([(1 << 62, 0)]));
    assert_eq!(
        Layout::new(vec![t(limit - 1, 1)]).unwrap().arena_len(),
        limit
    );
    assert_eq!(Layout::packed([(limit, 0)]).unwrap().arena_len(), limit);

    let Some((device, queue)) = gpu() else { return };
    let groups = [FAdamConfig::new()];
    let refused = |layout: Layout, options| {
        let r = FAdamGpu::with_options(device, queue, layout, &groups, options);
        assert!(matches!(r, Err(Error::TooLarge { .. })), "{r:?}");
    };
    let small = Layout::packed([(100, 0)]).unwrap();
    for max_pending_steps in [usize::MAX, usize::MAX - 1, 1 << 40] {
        let options = Options {
            max_pending_steps,
            ..Options::default()
        };
        refused(small.clone(), options);
    }
    // The largest arenas a layout may have, and offsets near 2^62.
    refused(Layout::packed([(limit, 0)]).unwrap(), Options::default());
    refused(
        Layout::new(vec![t(limit - 5, 5), t(0, 5)]).unwrap(),
        Options::default(),
    );
    refused(
        Layout::new(vec![t(1 << 61, 0)]).unwrap(),
        Options::default(),
    );
}

/// A NaN or infinite parameter, or a state value no step can have written
/// (put into the state buffers from outside: a NaN or infinite momentum, a
/// negative, NaN or infinite Fisher value), skips the step in every mode
/// with the core's error, in the core's precedence; nothing is written.
#[test]
fn invalid_params_and_state_skip_in_every_mode() {
    use fadam_core::{DecayMode, MomentumMode};
    let Some((device, queue)) = gpu() else { return };
    let modes = [
        FAdamConfig::new(),
        FAdamConfig::new().without_clip(),
        FAdamConfig::new().with_weight_decay(0.0),
        FAdamConfig::new().with_decay(DecayMode::L2),
        FAdamConfig::adam(),
        FAdamConfig::adamw(),
        FAdamConfig::new()
            .with_momentum(MomentumMode::Adam)
            .with_decay(DecayMode::None)
            .with_maximize(true),
    ];
    // (tensor 1's element, what is bad): P a parameter, M the momentum,
    // F the Fisher diagonal, G the gradient.
    #[derive(Clone, Copy, Debug)]
    enum Bad {
        P(f32),
        M(f32),
        F(f32),
        G(f32),
    }
    use Bad::{F, G, M, P};
    let cases: &[&[(usize, Bad)]] = &[
        &[(40, P(f32::NAN))],
        &[(40, P(f32::NEG_INFINITY))],
        &[(40, M(f32::NAN))],
        &[(40, M(f32::INFINITY))],
        &[(40, F(-1.0))],
        &[(40, F(-f32::MIN_POSITIVE))],
        &[(40, F(f32::NAN))],
        &[(40, F(f32::INFINITY))],
        // Precedence: parameter, momentum, Fisher, gradient; and the first
        // tensor before the kind.
        &[
            (41, G(f32::NAN)),
            (42, F(-1.0)),
            (43, M(f32::NAN)),
            (44, P(f32::INFINITY)),
        ],
        &[(41, G(f32::NAN)), (42, F(-1.0))],
        &[(10, G(f32::INFINITY)), (44, P(f32::NAN))],
    ];
    let layout = Layout::packed([(32, 0), (64, 0), (16, 0)]).unwrap();
    let n = layout.arena_len() as usize;
    for (m, config) in modes.into_iter().enumerate() {
        let groups = [config];
        let mut rng = seeded(53 + m as u64);
        let p0 = rng.vec_f32(n, 1.0);
        let mut opt = FAdamGpu::new(device, queue, layout.clone(), &groups).unwrap();
        let params = params_of(&opt, &p0);
        let mut core = Reference::new(&layout, &groups, &p0);
        for _ in 0..2 {
            let g = rng.vec_f32(n, 1.0);
            core.step(&g).unwrap();
            opt.step(&params, &grads_of(&opt, &g)).unwrap();
        }
        assert!(opt.wait().unwrap().iter().all(|r| r.skipped.is_none()));
        let clean = (
            read(device, queue, params.buffer()),
            opt.read_state().unwrap(),
            (core.params.clone(), core.states.clone()),
        );
        for case in cases {
            let (mut p, state, (core_params, core_states)) = clean.clone();
            let (mut mom, mut fis) = (state.momentum().to_vec(), state.fisher().to_vec());
            (core.params, core.states) = (core_params, core_states);
            let mut g = rng.vec_f32(n, 1.0);
            for &(at, bad) in *case {
                let (t, i) = if at < 32 { (0, at) } else { (1, at - 32) };
                match bad {
                    P(x) => (p[at], core.params[at]) = (x, x),
                    M(x) => (mom[at], core.states[t].parts_mut().0[i]) = (x, x),
                    F(x) => (fis[at], core.states[t].parts_mut().1[i]) = (x, x),
                    G(x) => g[at] = x,
                }
            }
            // As a user's own pass could write them (write_state refuses).
            queue.write_buffer(params.buffer(), 0, bytemuck::cast_slice(&p));
            queue.write_buffer(opt.momentum_buffer(), 0, bytemuck::cast_slice(&mom));
            queue.write_buffer(opt.fisher_buffer(), 0, bytemuck::cast_slice(&fis));
            let expected = core.step(&g).map_err(Error::Core);
            assert!(expected.is_err(), "mode {m}, {case:?}");
            let before = snapshot(&mut opt, &params);
            opt.step(&params, &grads_of(&opt, &g)).unwrap();
            let report = opt.wait().unwrap()[0];
            assert_eq!(report.result(), expected, "mode {m}, {case:?}");
            assert_eq!(snapshot(&mut opt, &params), before, "mode {m}, {case:?}");
        }
    }
}

/// Finite inputs near the ends of `f32` whose update overflows without
/// saturation (a momentum near `f32::MAX` over a tiny denominator, a huge
/// learning rate on a huge parameter): the GPU's results are finite and
/// the core's (which saturates the same operations), to the native tests'
/// tolerance.
#[test]
fn extreme_finite_inputs_give_finite_outputs() {
    use common::{TOL, all_finite};
    use fadam_testkit::close::{Floor, assert_close};
    let Some((device, queue)) = gpu() else { return };
    let n = 300usize;
    // (config, parameter, momentum, Fisher, gradient)
    let cases = [
        (FAdamConfig::adam(), 1.0f32, 1e38f32, 0.0f32, 0.0f32),
        (FAdamConfig::adam(), -3e38, -3e38, 0.0, 1e-3),
        (FAdamConfig::new().with_lr(1e38), -3e38, 0.5, 1.0, 1.0),
        (
            FAdamConfig::new().with_lr(1e38).without_clip(),
            3e38,
            -1.0,
            1e-6,
            -1.0,
        ),
        (FAdamConfig::adamw().with_lr(1e37), -3e38, 3e38, 1e-30, 1.0),
    ];
    for (k, (config, p, m, f, g)) in cases.into_iter().enumerate() {
        let layout = Layout::packed([(n as u64, 0)]).unwrap();
        let groups = [config];
        let mut rng = seeded(59);
        // Mostly the extreme values, some ordinary ones.
        let mix = |x: f32, rng: &mut fadam_testkit::rng::TestRng| -> Vec<f32> {
            (0..n)
                .map(|i| if i % 5 == 0 { rng.signed_f32() } else { x })
                .collect()
        };
        let (p0, m0, g0) = (mix(p, &mut rng), mix(m, &mut rng), mix(g, &mut rng));
        let f0: Vec<f32> = mix(f, &mut rng).iter().map(|x| x.abs()).collect();
        let mut opt = FAdamGpu::new(device, queue, layout.clone(), &groups).unwrap();
        let params = params_of(&opt, &p0);
        opt.write_state(&m0, &f0, 3).unwrap();
        let mut core = Reference::new(&layout, &groups, &p0);
        let (m, f, step) = core.states[0].parts_mut();
        m.copy_from_slice(&m0);
        f.copy_from_slice(&f0);
        *step = 3;
        core.step(&g0).unwrap();
        opt.step(&params, &grads_of(&opt, &g0)).unwrap();
        assert_eq!(opt.wait().unwrap()[0].result(), Ok(()), "case {k}");
        let got = read(device, queue, params.buffer());
        let state = opt.read_state().unwrap();
        assert!(all_finite(&got, &state), "case {k}: not finite");
        let floor = Floor::Largest(0.1);
        assert_close(&format!("case {k}: params"), &got, &core.params, TOL, floor);
        let (cm, cf) = core.state_arenas();
        assert_close(
            &format!("case {k}: momentum"),
            state.momentum(),
            &cm,
            TOL,
            floor,
        );
        assert_close(
            &format!("case {k}: fisher"),
            state.fisher(),
            &cf,
            TOL,
            floor,
        );
    }
}
