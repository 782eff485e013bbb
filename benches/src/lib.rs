//! Shared pieces of the fadam benchmarks: deterministic workloads and the
//! streaming floors that an optimizer step is measured against.
//!
//! A floor moves the same bytes as a step, in the same passes, with the
//! least arithmetic that keeps the compiler from removing it. A step's time
//! over its floor's says how close to memory speed it runs.

pub use fadam_core::{FAdamConfig, Param, Real, State, Tensor, step, step_model};
use fadam_testkit::rand::RngExt;
use fadam_testkit::rng::{Draw, seeded};

/// The sizes of a model of `count` tensors, log-uniform between 1e3 and
/// 2e5 elements (seed 42): 200 tensors hold 7 123 560 parameters.
pub fn model_sizes(count: usize) -> Vec<usize> {
    let mut rng = seeded(42);
    let (lo, hi) = (1e3f64.ln(), 2e5f64.ln());
    (0..count)
        .map(|_| rng.random_range(lo..hi).exp() as usize)
        .collect()
}

/// Which update a workload runs; the names are the command line's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// FAdam with the paper's defaults.
    #[value(name = "fadam")]
    FAdam,
    /// The crate's Adam mode (`FAdamConfig::adam()`).
    #[value(name = "adam")]
    Adam,
    /// The crate's AdamW mode.
    #[value(name = "adamw")]
    AdamW,
    /// The streaming floor of the FAdam step (40 bytes per f32 parameter).
    #[value(name = "floor-fadam")]
    FloorFAdam,
    /// A read of `g` then the update pass (32 bytes): the Adam mode's
    /// floor without the parameter check.
    #[value(name = "floor-adam")]
    FloorAdam,
    /// A single read-4-write-3 pass (28 bytes): what one-pass Adam moves.
    #[value(name = "floor-onepass")]
    FloorOnePass,
}

impl Mode {
    /// The config of a step mode (`None` for a floor).
    pub fn config(self) -> Option<FAdamConfig> {
        match self {
            Self::FAdam => Some(FAdamConfig::new()),
            Self::Adam => Some(FAdamConfig::adam()),
            Self::AdamW => Some(FAdamConfig::adamw()),
            _ => None,
        }
    }

    /// Bytes per parameter of type `P` that the mode moves (reads plus
    /// writes), with state of the same width, for a verified state: FAdam
    /// reads `g, f, θ` then updates (`θ, g, m, f` in, `θ, m, f` out); the
    /// Adam mode reads `g, θ` (the gradient and parameter checks) then
    /// updates. A checked state adds `m` (and `f` in the Adam mode) to the
    /// first pass.
    pub fn bytes_per_param<P>(self, check: StateCheck) -> usize {
        let w = core::mem::size_of::<P>();
        let checked = check == StateCheck::Checked;
        match self {
            Self::FAdam if checked => 11 * w,
            Self::Adam | Self::AdamW if checked => 11 * w,
            Self::FAdam | Self::FloorFAdam => 10 * w,
            Self::Adam | Self::AdamW => 9 * w,
            Self::FloorAdam => 8 * w,
            Self::FloorOnePass => 7 * w,
        }
    }
}

/// One tensor's data and state.
pub struct Slot<P: Param> {
    /// Parameters.
    pub params: Vec<P>,
    /// Gradient.
    pub grads: Vec<P>,
    /// Optimizer state.
    pub state: State<P::State>,
}

/// A model: tensors of the given sizes with random parameters and
/// gradients (seed 7).
pub fn workload<P: Param<State = P> + Real>(sizes: &[usize]) -> Vec<Slot<P>> {
    let mut rng = seeded(7);
    sizes
        .iter()
        .map(|&n| Slot {
            params: (0..n).map(|_| P::narrow(rng.signed())).collect(),
            grads: gradient(&mut rng, n),
            state: State::new(n),
        })
        .collect()
}

/// A random gradient of `n` elements.
fn gradient<P: Real>(rng: &mut impl Draw, n: usize) -> Vec<P> {
    (0..n).map(|_| P::narrow(rng.signed() * 1e-2)).collect()
}

/// `count` further gradients per tensor of a model (seed 8), for steps that
/// rotate their gradients as torch's benchmark script does.
pub fn gradient_pool<P: Param<State = P> + Real>(
    model: &[Slot<P>],
    count: usize,
) -> Vec<Vec<Vec<P>>> {
    let mut rng = seeded(8);
    (0..count)
        .map(|_| {
            model
                .iter()
                .map(|s| gradient(&mut rng, s.params.len()))
                .collect()
        })
        .collect()
}

/// Whether a step finds its state verified (the steady state of a training
/// loop over owned [`State`]s) or checks it (a state written from outside,
/// or a raw `StateMut`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StateCheck {
    /// Verified: the steps skip the state check.
    Verified,
    /// Unverified before every step: the first pass checks the state.
    Checked,
}

/// How much of the model one call keeps all-or-nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Atomic {
    /// One `step_model` call: an error anywhere leaves every tensor as it
    /// was, so the first pass covers the whole model before any update.
    Model,
    /// One `step` call per tensor (in parallel with the `rayon` feature):
    /// each tensor all-or-nothing on its own, its update finding in cache
    /// what its first pass read, where the tensor fits.
    Tensor,
}

/// One step of `mode` over every tensor of the model.
pub fn run<P: Param<State = P> + Real>(mode: Mode, model: &mut [Slot<P>]) {
    run_with(mode, model, StateCheck::Verified, Atomic::Model);
}

/// One step of `mode` over every tensor of the model, with the state
/// verified or checked, as one call or one call per tensor.
pub fn run_with<P: Param<State = P> + Real>(
    mode: Mode,
    model: &mut [Slot<P>],
    check: StateCheck,
    atomic: Atomic,
) {
    if check == StateCheck::Checked {
        // Written from the outside, as far as the step can tell.
        model.iter_mut().for_each(|s| {
            s.state.parts_mut();
        });
    }
    match (mode.config(), atomic) {
        (Some(config), Atomic::Model) => {
            let mut tensors: Vec<_> = model
                .iter_mut()
                .map(|s| Tensor::new(&mut s.params, &s.grads, s.state.as_mut()))
                .collect();
            step_model(&[config], &mut tensors).expect("benchmark step");
        }
        (Some(config), Atomic::Tensor) => {
            let one = |s: &mut Slot<P>| {
                step(&config, &mut s.params, &s.grads, s.state.as_mut()).expect("benchmark step");
            };
            #[cfg(feature = "rayon")]
            {
                use rayon::prelude::*;
                model.par_iter_mut().for_each(one);
            }
            #[cfg(not(feature = "rayon"))]
            model.iter_mut().for_each(one);
        }
        (None, _) => model.iter_mut().for_each(|s| floor(mode, s)),
    }
}

/// The floors, per tensor.
fn floor<P: Param<State = P> + Real>(mode: Mode, s: &mut Slot<P>) {
    let (t, g) = (&mut s.params[..], &s.grads[..]);
    let (m, f, _) = s.state.parts_mut();
    let sums = match mode {
        Mode::FloorFAdam => read3(g, f, t),
        Mode::FloorAdam => read3(g, g, g),
        _ => 0.0,
    };
    let k = P::narrow(1e-9 * sums.min(1.0));
    // Reads θ, g, m, f and writes θ, m, f: the one update pass.
    for (((t, &g), m), f) in t.iter_mut().zip(g).zip(m.iter_mut()).zip(f.iter_mut()) {
        *m = *m + g * k;
        *f = *f + g * g;
        *t = *t - *m * k;
    }
}

/// A vectorizable read of up to three arrays (the same array passed twice is
/// read once from memory): plain adds into 16 independent lanes.
#[inline(never)]
fn read3<P: Real>(a: &[P], b: &[P], c: &[P]) -> f64 {
    const L: usize = 16;
    let mut acc = [P::narrow(0.0); L];
    for ((a, b), c) in a
        .chunks_exact(L)
        .zip(b.chunks_exact(L))
        .zip(c.chunks_exact(L))
    {
        for l in 0..L {
            acc[l] = acc[l] + (a[l] + b[l] + c[l]);
        }
    }
    acc.iter().map(|x| x.wide()).sum()
}
