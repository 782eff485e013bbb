//! The burn step against `fadam_core::step` (f32): every switch, ranks 1 to
//! 4, 20 steps, including an all-zero gradient, a gradient small enough for
//! the adaptive epsilon, and refused steps. Every way to step: the host
//! step on `flex` must give fadam-core's bits, the tensor-operation step (on
//! the default device: `flex`, or wgpu with the `wgpu` feature) and, with
//! the `wgpu` feature, fadam-wgpu's passes its values to rounding.

mod common;

use burn::optim::Optimizer;
use burn::tensor::{Device, Tensor};
use common::{tensor, values};
use fadam_burn::{FAdam, FAdamConfig, FAdamState};
use fadam_core::{EpsilonRule, Error, FAdamConfig as Core, State};
use fadam_testkit::close::{COMPOSED_F32_TOLERANCE, Floor, max_error};
use fadam_testkit::configs::every_switch;
use fadam_testkit::rng::{Draw, TestRng, seeded};

/// Relative to the larger of `|x|` and the tensor's RMS (see its docs).
const TOLERANCE: f64 = COMPOSED_F32_TOLERANCE;

/// The gradient of step `step` (1-based): varied scales, all zero at step 5,
/// tiny at step 9 (RMS below ε/ε₂, so the adaptive epsilon applies).
fn gradient(rng: &mut TestRng, n: usize, step: usize) -> Vec<f32> {
    match step {
        5 => vec![0.0; n],
        9 => rng.vec_f32(n, 1e-9),
        _ => rng.vec_f32(n, [0.1, 1.0, 3.0, 0.02][step % 4]),
    }
}

/// Which step a test runs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Path {
    /// fadam-core on the host data of `flex` tensors: bit for bit.
    Host,
    /// burn tensor operations on the default device: to rounding.
    Composed,
    /// fadam-wgpu's passes on the tensors' buffers: to rounding.
    #[cfg(feature = "wgpu")]
    Kernels,
}

impl Path {
    #[cfg(not(feature = "wgpu"))]
    const ALL: &[Path] = &[Path::Host, Path::Composed];
    #[cfg(feature = "wgpu")]
    const ALL: &[Path] = &[Path::Host, Path::Composed, Path::Kernels];

    fn device(self) -> Device {
        // With `wgpu`, the default device is the kernels' (initialized
        // first).
        #[cfg(feature = "wgpu")]
        let default = common::kernels().device().clone();
        #[cfg(not(feature = "wgpu"))]
        let default = Device::default();
        match self {
            Path::Host => Device::flex(),
            _ => default,
        }
    }

    fn optim(self, config: &FAdamConfig) -> FAdam {
        let optim = config.build().with_host_step(self == Path::Host);
        #[cfg(feature = "wgpu")]
        if self == Path::Kernels {
            return optim.with_wgpu(common::kernels());
        }
        optim
    }

    /// The largest error allowed, relative to the larger of `|x|` and the
    /// tensor's RMS.
    fn tolerance(self) -> f64 {
        match self {
            Path::Host => 0.0,
            _ => TOLERANCE,
        }
    }
}

/// Whether `a` and `b` hold the same bits.
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Runs core and burn side by side; `poison` lists steps whose gradient gets
/// a non-finite or overflowing element (core refuses them). Returns the
/// worst relative error of θ, m and f over all steps, and whether every
/// step gave fadam-core's bits.
fn run<const D: usize>(
    core: &Core,
    shape: [usize; D],
    seed: u64,
    poison: &[(usize, f32)],
    path: Path,
) -> (f64, bool) {
    let device = path.device();
    let optim = path.optim(&FAdamConfig::from_core(core));
    let mut bitwise = true;
    let n: usize = shape.iter().product();
    let mut rng = seeded(seed);
    let mut theta = rng.vec_f32(n, 2.0);
    let mut state = State::<f32>::new(n);
    let mut burn_theta: Tensor<D> = tensor(theta.clone(), shape, &device);
    let mut burn_state: Option<FAdamState<D>> = None;
    let mut worst = 0.0f64;
    for step in 1..=20 {
        let mut grad = gradient(&mut rng, n, step);
        let poisoned = poison.iter().find(|&&(s, _)| s == step);
        if let Some(&(_, value)) = poisoned {
            grad[n / 2] = value;
        }
        let result = fadam_core::step(core, &mut theta, &grad, state.as_mut());
        match poisoned {
            Some(_) => assert!(
                matches!(
                    result,
                    Err(Error::NonFiniteGradient { .. } | Error::FisherOverflow { .. })
                ),
                "{result:?}"
            ),
            None => {
                result.unwrap();
            }
        }
        let (t, s) = optim.step(
            core.lr,
            burn_theta,
            tensor(grad, shape, &device),
            burn_state,
        );
        let s = s.unwrap();
        assert_eq!(t.dims(), shape);
        assert_eq!(s.momentum.dims(), shape);
        let got = [values(&t), values(&s.momentum), values(&s.fisher)];
        let want = [&theta[..], state.momentum(), state.fisher()];
        for ((what, got), want) in ["theta", "momentum", "fisher"].iter().zip(&got).zip(want) {
            let e = max_error(got, want, Floor::Rms).0;
            bitwise &= same_bits(got, want);
            assert!(
                e <= path.tolerance(),
                "{path:?} {core:?} shape {shape:?} step {step}: {what} off by {e:e}"
            );
            worst = worst.max(e);
        }
        if path == Path::Host {
            assert!(bitwise, "{core:?} shape {shape:?} step {step}: not bitwise");
        }
        let refused = values(&s.refused)[0] as u64;
        assert_eq!(s.calls, step as u64);
        assert_eq!(s.calls - refused, state.step(), "steps taken");
        burn_theta = t;
        burn_state = Some(s);
    }
    (worst, bitwise)
}

/// [`run`] over ranks 1 to 4 (and, on the host, a tensor of several
/// reduction blocks): the worst error, and whether all were bitwise.
fn run_all_ranks(core: &Core, poison: &[(usize, f32)], path: Path) -> (f64, bool) {
    let runs = [
        run(core, [37], 1, poison, path),
        run(core, [6, 5], 2, poison, path),
        run(core, [2, 3, 4], 3, poison, path),
        run(core, [2, 3, 2, 3], 4, poison, path),
    ];
    let mut worst = runs
        .iter()
        .fold((0.0f64, true), |(w, b), &(e, x)| (w.max(e), b && x));
    if path == Path::Host {
        // fadam-core sums in blocks of `REDUCTION_BLOCK` elements: two
        // blocks, the second partial.
        let big = run(
            core,
            [2, fadam_core::REDUCTION_BLOCK / 2 + 3],
            5,
            poison,
            path,
        );
        worst = (worst.0.max(big.0), worst.1 && big.1);
    }
    worst
}

#[test]
fn every_switch_matches_core() {
    for &path in Path::ALL {
        let mut any_rounding = false;
        for (name, core) in every_switch() {
            let (worst, bitwise) = run_all_ranks(&core, &[], path);
            any_rounding |= !bitwise;
            eprintln!("{path:?} {name:>28}: worst relative error {worst:.2e}");
        }
        // The bitwise check can fail: the tensor-operation step and the
        // GPU's passes round differently somewhere.
        assert_eq!(any_rounding, path != Path::Host, "{path:?}");
    }
}

#[test]
fn refused_steps_match_core() {
    // NaN, +inf, -inf, and a finite gradient whose square overflows f32.
    let poison = [
        (3, f32::NAN),
        (7, f32::INFINITY),
        (8, f32::NEG_INFINITY),
        (12, 1e30),
    ];
    for &path in Path::ALL {
        for (name, core) in every_switch() {
            let (worst, _) = run_all_ranks(&core, &poison, path);
            eprintln!("{path:?} {name:>28}: worst relative error with refused steps {worst:.2e}");
        }
    }
}

#[test]
fn a_refused_step_changes_nothing() {
    for &path in Path::ALL {
        let device = path.device();
        let optim = path.optim(&FAdamConfig::new());
        let theta = tensor(vec![1.0, -2.0, 3.0], [3], &device);
        let grad = tensor(vec![0.5, -0.5, 0.25], [3], &device);
        let (theta, state) = optim.step(1e-2, theta, grad, None);
        let state = state.unwrap();
        let poisoned = tensor(vec![0.5, f32::NAN, 0.25], [3], &device);
        let (after, after_state) = optim.step(1e-2, theta.clone(), poisoned, Some(state.clone()));
        let after_state = after_state.unwrap();
        let same = |a: &Tensor<1>, b: &Tensor<1>| same_bits(&values(a), &values(b));
        assert!(same(&after, &theta), "{path:?}");
        assert!(same(&after_state.momentum, &state.momentum), "{path:?}");
        assert!(same(&after_state.fisher, &state.fisher), "{path:?}");
        assert!(same(&after_state.bias_1, &state.bias_1), "{path:?}");
        assert!(same(&after_state.bias_2, &state.bias_2), "{path:?}");
        assert_eq!(values(&after_state.refused), [1.0], "{path:?}");
        assert_eq!(after_state.calls, 2, "{path:?}");
    }
}

/// A first step with a tiny gradient: the adaptive epsilon is tiny and
/// `w = θ / d` is about 1e15.
#[test]
fn tiny_first_gradient_matches_core() {
    for &path in Path::ALL {
        let device = path.device();
        for core in [
            Core::new(),
            Core::new().with_epsilon_rule(EpsilonRule::PaperV3),
        ] {
            let core = core.with_lr(1e-2);
            let optim = path.optim(&FAdamConfig::from_core(&core));
            let mut rng = seeded(9);
            let mut theta = rng.vec_f32(64, 1.0);
            let grad = rng.vec_f32(64, 1e-15);
            let burn_theta = tensor(theta.clone(), [8, 8], &device);
            let mut state = State::<f32>::new(64);
            fadam_core::step(&core, &mut theta, &grad, state.as_mut()).unwrap();
            let (t, s) = optim.step(core.lr, burn_theta, tensor(grad, [8, 8], &device), None);
            let s = s.unwrap();
            let tolerance = path.tolerance();
            assert!(max_error(&values(&t), &theta, Floor::Rms).0 <= tolerance);
            assert!(max_error(&values(&s.momentum), state.momentum(), Floor::Rms).0 <= tolerance);
        }
    }
}

/// A gradient of about 1e-30: `e` is about 1e-32 and `w = θ / d` about
/// 1e32, whose square overflows f32. The step stays finite and within the
/// spec's bound `RMS(Δθ) <= η c (1 + λ)`. (The tensor-operation step takes
/// `RMS(g)` in `f32` and fadam-core in scaled `f64` sums, so they differ
/// here; the host step is compared bitwise by `every_switch_matches_core`.)
#[test]
fn subnormal_square_gradient_stays_finite() {
    for &path in Path::ALL {
        let device = path.device();
        let (lr, lambda) = (1e-2f64, 0.1f64);
        let optim = path.optim(&FAdamConfig::new().with_weight_decay(lambda));
        let mut rng = seeded(10);
        let theta = rng.vec_f32(64, 1.0);
        let grad = rng.vec_f32(64, 1e-30);
        let (t, s) = optim.step(
            lr,
            tensor(theta.clone(), [64], &device),
            tensor(grad, [64], &device),
            None,
        );
        let t = values(&t);
        assert!(
            t.iter()
                .chain(&values(&s.unwrap().momentum))
                .all(|x| x.is_finite()),
            "{path:?}"
        );
        let moved = (t
            .iter()
            .zip(&theta)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
            / 64.0)
            .sqrt();
        assert!(
            moved > 0.0 && moved <= lr * (1.0 + lambda) * (1.0 + 1e-5),
            "{path:?}: {moved}"
        );
    }
}

/// The zero-gradient fallback: at step 1 only the clipped natural weight
/// decay moves the parameters, `θ ← θ - η λ c θ / RMS(θ)`.
#[test]
fn zero_gradient_first_step() {
    for &path in Path::ALL {
        let device = path.device();
        let theta = vec![0.5f32, -1.0, 2.0, 0.25];
        let rms = (theta.iter().map(|x| x * x).sum::<f32>() / 4.0).sqrt();
        let (t, s) = path.optim(&FAdamConfig::new()).step(
            1e-3,
            tensor(theta.clone(), [2, 2], &device),
            tensor(vec![0.0; 4], [2, 2], &device),
            None,
        );
        let s = s.unwrap();
        for (got, th) in values(&t).iter().zip(&theta) {
            let want = th - 1e-3 * 0.1 * th / rms;
            assert!(
                (got - want).abs() <= 1e-6 * want.abs(),
                "{path:?}: {got} vs {want}"
            );
        }
        assert!(values(&s.momentum).iter().all(|&m| m == 0.0));
        assert!(values(&s.fisher).iter().all(|&f| f == 0.0));
    }
}

#[test]
fn empty_tensor_is_a_no_op() {
    for &path in Path::ALL {
        let device = path.device();
        let (t, s) = path.optim(&FAdamConfig::new()).step(
            1e-3,
            tensor(vec![], [0, 3], &device),
            tensor(vec![], [0, 3], &device),
            None,
        );
        assert_eq!(t.dims(), [0, 3]);
        assert_eq!(s.unwrap().calls, 1);
    }
}

/// `f64` parameters are updated in `f64`, with `f64` state: compare with
/// `fadam_core::step` in `f64` (bitwise on the host).
#[test]
fn f64_parameters_match_core_f64() {
    use burn::tensor::{DType, TensorData};
    for &path in Path::ALL {
        let device = path.device();
        if !device.supports_dtype(DType::F64) {
            eprintln!("{device:?} has no f64: skipped");
            continue;
        }
        let f64_tensor =
            |v: Vec<f64>| Tensor::<2>::from_data(TensorData::new(v, [4, 5]), (&device, DType::F64));
        let f64_values = |t: &Tensor<2>| t.clone().into_data().try_to_vec::<f64>().unwrap();
        for core in [Core::new().with_lr(1e-2), Core::adam().with_lr(1e-2)] {
            let optim = path.optim(&FAdamConfig::from_core(&core));
            let mut rng = seeded(5);
            let mut theta: Vec<f64> = rng.vec_f32(20, 2.0).into_iter().map(f64::from).collect();
            let mut state = State::<f64>::new(20);
            let mut burn_theta = f64_tensor(theta.clone());
            let mut burn_state = None;
            for step in 1..=10 {
                let grad: Vec<f64> = gradient(&mut rng, 20, step)
                    .into_iter()
                    .map(f64::from)
                    .collect();
                fadam_core::step(&core, &mut theta, &grad, state.as_mut()).unwrap();
                let (t, s) = optim.step(core.lr, burn_theta, f64_tensor(grad), burn_state);
                let s = s.unwrap();
                assert_eq!(t.dtype(), DType::F64);
                assert_eq!(s.momentum.dtype(), DType::F64);
                let got = f64_values(&t);
                for (a, b) in got.iter().zip(&theta) {
                    let close = (a - b).abs() <= 1e-12 * b.abs().max(1.0);
                    let exact = a.to_bits() == b.to_bits();
                    assert!(
                        if path == Path::Host { exact } else { close },
                        "{path:?} step {step}: {a} vs {b}"
                    );
                }
                if path == Path::Host {
                    assert_eq!(f64_values(&s.momentum), state.momentum(), "step {step}");
                    assert_eq!(f64_values(&s.fisher), state.fisher(), "step {step}");
                }
                burn_theta = t;
                burn_state = Some(s);
            }
        }
    }
}

/// `bf16` parameters keep their type and are updated in `f32`, with `f32`
/// state.
#[test]
fn half_parameters_keep_their_type_with_f32_state() {
    use burn::tensor::{DType, FloatDType};
    let device = Device::default();
    if !device.supports_dtype(DType::BF16) {
        eprintln!("{device:?} has no bf16: skipped");
        return;
    }
    let core = Core::new().with_lr(1e-2);
    let optim = FAdamConfig::from_core(&core).build();
    let theta = vec![0.5f32, -1.0, 2.0, 0.25];
    let grad = vec![0.25f32, 0.5, -1.0, 0.125];
    let half = |v: Vec<f32>| tensor(v, [4], &device).cast(FloatDType::BF16);
    let (t, s) = optim.step(core.lr, half(theta.clone()), half(grad.clone()), None);
    let s = s.unwrap();
    assert_eq!(t.dtype(), DType::BF16);
    assert_eq!(s.momentum.dtype(), DType::F32);
    let (mut want, mut state) = (theta, State::<f32>::new(4));
    fadam_core::step(&core, &mut want, &grad, state.as_mut()).unwrap();
    assert!(max_error(&values(&t), &want, Floor::Rms).0 <= 1e-2);
    assert!(max_error(&values(&s.momentum), state.momentum(), Floor::Rms).0 <= 1e-6);
}
