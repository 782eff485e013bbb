//! fadam-candle against `fadam_core::step_model`: every switch, f32 and
//! f64, vars of rank 0 to 4, 20 steps, with refused steps. The CPU path
//! must give the same bits; the tensor-op path (forced on the CPU) must
//! agree within a relative 1e-6.

mod common;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use common::{SHAPES, gradient, values, var};
use fadam_candle::{FAdam, FAdamError, StepPath};
use fadam_core::{FAdamConfig, Param, State, step_model};
use fadam_testkit::close::{COMPOSED_F32_TOLERANCE, Floor, max_error};
use fadam_testkit::configs::every_switch;
use fadam_testkit::rng::{Draw, seeded};

/// Relative to the larger of `|x|` and the tensor's RMS (see its docs).
const TOLERANCE: f64 = COMPOSED_F32_TOLERANCE;

/// A candle-side float type and its core twin.
trait Float: Param<State = Self> + candle_core::WithDType {
    fn of(x: f64) -> Self;
}
impl Float for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
}
impl Float for f64 {
    fn of(x: f64) -> Self {
        x
    }
}

/// Runs the core and candle side by side over 20 steps. `poison` lists
/// (step, var, value): that var's gradient gets a non-finite or
/// overflowing element and the core refuses the step. Returns the worst
/// relative error.
fn run<T: Float>(config: &FAdamConfig, path: StepPath, poison: &[(usize, usize, f64)]) -> f64 {
    let mut rng = seeded(7);
    let sizes: Vec<usize> = SHAPES.iter().map(|s| s.iter().product()).collect();
    let init: Vec<Vec<f64>> = sizes.iter().map(|&n| rng.vec_f64(n, 2.0)).collect();
    let vars: Vec<Var> = SHAPES
        .iter()
        .zip(&init)
        .map(|(s, v)| var(v, s, T::DTYPE))
        .collect();
    let mut params: Vec<Vec<T>> = init
        .iter()
        .map(|v| v.iter().map(|&x| T::of(x)).collect())
        .collect();
    let mut states: Vec<State<T>> = sizes.iter().map(|&n| State::new(n)).collect();
    let named = vars
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("v{i}"), v.clone(), 0));
    let mut opt = FAdam::with_groups(vec![*config], named).unwrap();
    opt.set_path(path).unwrap();
    let mut worst = 0.0f64;
    for step in 1..=20 {
        let mut grads: Vec<Vec<T>> = sizes
            .iter()
            .map(|&n| gradient(&mut rng, n, step).into_iter().map(T::of).collect())
            .collect();
        let poisoned = poison.iter().find(|p| p.0 == step);
        if let Some(&(_, v, value)) = poisoned {
            let n = grads[v].len();
            grads[v][n / 2] = T::of(value);
        }
        let mut tensors: Vec<_> = params
            .iter_mut()
            .zip(&grads)
            .zip(&mut states)
            .map(|((p, g), s)| fadam_core::Tensor::new(p, g, s.as_mut()))
            .collect();
        let core = step_model(&[*config], &mut tensors);
        let mut store = GradStore::default();
        for ((v, g), s) in vars.iter().zip(&grads).zip(SHAPES) {
            store.insert(
                v,
                Tensor::new(g.as_slice(), &Device::Cpu)
                    .unwrap()
                    .reshape(s)
                    .unwrap(),
            );
        }
        let result = opt.try_step(&store);
        match (poisoned, path) {
            (Some(&(_, v, _)), StepPath::Auto) => {
                assert!(core.is_err());
                assert!(
                    matches!(&result, Err(FAdamError::Refused { var, .. }) if *var == format!("v{v}")),
                    "{result:?}"
                );
            }
            _ => {
                assert_eq!(core.is_err(), poisoned.is_some());
                result.unwrap();
            }
        }
        // Each buffer of the whole model against the core's: bit for bit on
        // the core's own path; otherwise relative to the larger of `|x|` and
        // the buffer's RMS over every var (a scalar var's momentum crosses
        // zero, where its own magnitude is no yardstick).
        let state = opt.state_tensors().unwrap();
        let wide = |x: &[T]| x.iter().map(|&x| x.to_f64()).collect::<Vec<_>>();
        let mut got = [vec![], vec![], vec![]];
        let mut want = [vec![], vec![], vec![]];
        for (i, v) in vars.iter().enumerate() {
            got[0].extend(values(v.as_tensor()));
            got[1].extend(values(&state[&format!("v{i}.momentum")]));
            got[2].extend(values(&state[&format!("v{i}.fisher")]));
            want[0].extend(wide(&params[i]));
            want[1].extend(wide(states[i].momentum()));
            want[2].extend(wide(states[i].fisher()));
        }
        for (what, (g, w)) in ["theta", "momentum", "fisher"]
            .iter()
            .zip(got.iter().zip(&want))
        {
            let (e, at) = max_error(g, w, Floor::Rms);
            if path == StepPath::Auto {
                assert!(g == w, "{config:?} step {step}: {what} differs ({e:e})");
            } else {
                assert!(
                    e <= TOLERANCE,
                    "{config:?} step {step}: {what} off by {e:e} at element {at}"
                );
            }
            worst = worst.max(e);
        }
        let counts = opt.step_counts().unwrap();
        for ((_, c), s) in counts.iter().zip(&states) {
            assert_eq!(*c, s.step(), "steps taken");
        }
    }
    worst
}

fn all<T: Float>(path: StepPath, poison: &[(usize, usize, f64)]) {
    for (name, config) in every_switch() {
        let worst = run::<T>(&config, path, poison);
        eprintln!(
            "{name:>16} {:?} {path:?}: worst relative error {worst:.2e}",
            T::DTYPE
        );
    }
}

#[test]
fn cpu_path_is_bit_identical_to_core_f32() {
    all::<f32>(StepPath::Auto, &[]);
}

#[test]
fn cpu_path_is_bit_identical_to_core_f64() {
    all::<f64>(StepPath::Auto, &[]);
}

#[test]
fn tensor_path_matches_core_f32() {
    all::<f32>(StepPath::TensorOps, &[]);
}

#[test]
fn tensor_path_matches_core_f64() {
    all::<f64>(StepPath::TensorOps, &[]);
}

/// NaN, +inf, -inf, and a finite gradient whose square overflows f32.
const POISON: [(usize, usize, f64); 4] = [
    (3, 1, f64::NAN),
    (7, 4, f64::INFINITY),
    (8, 0, f64::NEG_INFINITY),
    (12, 2, 1e30),
];

#[test]
fn refused_steps_match_core() {
    all::<f32>(StepPath::Auto, &POISON);
    all::<f32>(StepPath::TensorOps, &POISON);
    all::<f64>(StepPath::Auto, &POISON[..3]);
    all::<f64>(StepPath::TensorOps, &POISON[..3]);
}
