//! One tensor's step as a protocol: partial sums, absorbed totals, apply.
//!
//! FAdam needs tensor-wide sums before it can update any element (`RMS(g)`
//! for epsilon, `RMS(n)` and `RMS(w)` for clipping). [`Reduction`] asks for
//! them pass by pass. A tensor held whole runs the protocol with one shard
//! ([`step`](crate::step) does exactly that); a tensor sharded across
//! data-parallel ranks (ZeRO) runs it with one partial sum per shard,
//! combined by the caller between the calls.

mod apply;

use core::marker::PhantomData;
use core::ops::Range;

use crate::kernels::{self, Clip, Elementwise, Power, versioned, with_power};
use crate::partial_sums::{PartialSums, flag};
use crate::sums::{Rms, ScaledSum};
use crate::{Buffer, EpsilonRule, Error, FAdamConfig, Param, Real, StateMut, StepScalars};

/// How far above `len · MIN_POSITIVE` (of the state type) a fast sum of
/// squares must be to be trusted: each square below the normal range loses
/// at most `MIN_POSITIVE`, so only a sum under `len · MIN_POSITIVE · 2^32`
/// can be visibly off (by more than a relative 2^-32), and is formed again
/// with per-element scaling.
const SUBNORMAL_MARGIN: f64 = 4_294_967_296.0; // 2^32

/// A fast `Σg²` at or above `MAX / OVERFLOW_MARGIN` (of the state type) is
/// checked element by element: that close to the range it may hide a
/// non-finite gradient, or a `g²` that overflows the Fisher diagonal.
const OVERFLOW_MARGIN: f64 = 4.0;

/// What one step of one tensor computed, for logging and tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// `RMS(g)` of the effective gradient (saturates to infinity beyond
    /// `f64`).
    pub grad_rms: f64,
    /// The epsilon `e` added to `f^p`.
    pub epsilon: f64,
    /// `max(1, RMS(n) / c)`: what the natural gradient was divided by
    /// (1 when it was not clipped).
    pub natgrad_divisor: f64,
    /// `max(1, RMS(w) / c)`: what the natural weight decay was divided by.
    pub decay_divisor: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Pass {
    /// `Σg²` and, with a guessed epsilon, `Σn²` and `Σw²` in the same read.
    Fused { eps: f64 },
    /// `Σg²` alone.
    Grad,
    /// `Σn²` and `Σw²` with the known epsilon.
    Natural { eps: f64 },
    /// Sums complete.
    Ready,
}

/// The step of one tensor, driven pass by pass; see the
/// [module docs](crate#sharded-tensors) for the sharded use.
///
/// ```
/// use fadam_core::{FAdamConfig, PartialSums, Reduction, StateMut};
///
/// let config = FAdamConfig::new();
/// // One tensor of 6 elements, sharded 4 + 2 over two "ranks".
/// let mut params = [0.5f32, -1.0, 2.0, 0.25, 1.5, -0.5];
/// let grads = [0.1f32, 0.2, -0.3, 0.05, 0.0, 1.0];
/// let (mut m, mut f, mut steps) = ([0.0f32; 6], [0.0f32; 6], [0u64; 2]);
///
/// let mut reduction = Reduction::<f32>::new(&config, 0, params.len()).unwrap();
/// while !reduction.is_ready() {
///     let a = reduction.partial_sums(&params[..4], &grads[..4], &m[..4], &f[..4]).unwrap();
///     let b = reduction.partial_sums(&params[4..], &grads[4..], &m[4..], &f[4..]).unwrap();
///     reduction.absorb(a.combine(&b)).unwrap(); // the all-reduce
/// }
/// let (p0, p1) = params.split_at_mut(4);
/// let (m0, m1) = m.split_at_mut(4);
/// let (f0, f1) = f.split_at_mut(4);
/// let (s0, s1) = steps.split_at_mut(1);
/// reduction.apply(p0, &grads[..4], StateMut::new(m0, f0, &mut s0[0])).unwrap();
/// reduction.apply(p1, &grads[4..], StateMut::new(m1, f1, &mut s1[0])).unwrap();
/// assert_eq!(steps, [1, 1]);
/// ```
#[derive(Clone, Debug)]
pub struct Reduction<P: Param> {
    config: FAdamConfig,
    tensor: usize,
    t: u64,
    scalars: StepScalars,
    count: u64,
    power: Power,
    pass: Pass,
    ew: Elementwise<P::State>,
    grad_rms: Rms,
    clip_n: Clip,
    clip_w: Clip,
    stats: StepStats,
    _param: PhantomData<fn() -> P>,
}

impl<P: Param> Reduction<P> {
    /// Starts step `step + 1` of a tensor of `len` elements in all, whose
    /// state has taken `step` steps.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid config, [`Error::OutOfRange`] for a
    /// per-step constant beyond the state type's range,
    /// [`Error::StepOverflow`] when `step` is `u64::MAX`.
    pub fn new(config: &FAdamConfig, step: u64, len: usize) -> Result<Self, Error> {
        Self::for_tensor(config, step, len, 0, 0)
    }

    pub(crate) fn for_tensor(
        config: &FAdamConfig,
        step: u64,
        len: usize,
        tensor: usize,
        group: usize,
    ) -> Result<Self, Error> {
        config
            .validate()
            .map_err(|error| Error::Config { group, error })?;
        let t = step.checked_add(1).ok_or(Error::StepOverflow { tensor })?;
        let scalars = StepScalars::new(config, t);
        if let Some((parameter, value)) = scalars.out_of_range(P::State::MAX_F64) {
            return Err(Error::OutOfRange {
                group,
                parameter,
                value,
            });
        }
        let pass = match (config.needs_natural_sums(), Self::eps_guess(config)) {
            (true, Some(eps)) => Pass::Fused { eps },
            _ => Pass::Grad,
        };
        let s = |x: f64| P::State::narrow(x);
        Ok(Self {
            config: *config,
            tensor,
            t,
            scalars,
            count: len as u64,
            power: Power::new(config.fisher_power),
            pass,
            ew: Elementwise {
                sign: s(scalars.sign),
                l2: s(scalars.l2),
                b2: s(scalars.b2),
                one_minus_b2: s(scalars.one_minus_b2),
                eps: s(0.0),
            },
            grad_rms: Rms::ZERO,
            clip_n: Clip::Fast(1.0),
            clip_w: Clip::Fast(1.0),
            stats: StepStats {
                grad_rms: 0.0,
                epsilon: 0.0,
                natgrad_divisor: 1.0,
                decay_divisor: 1.0,
            },
            _param: PhantomData,
        })
    }

    /// The epsilon when `RMS(g)` is not small, if the rule has one (the
    /// paper's rule depends on `RMS(g)` everywhere).
    fn eps_guess(config: &FAdamConfig) -> Option<f64> {
        (config.epsilon_rule != EpsilonRule::PaperV3)
            .then(|| config.epsilon_fallback(P::State::MIN_POSITIVE_F64))
    }

    /// The epsilon `e` for `RMS(g) = r`, floored so that `d ≥ e` is a normal
    /// number of the state type.
    fn epsilon(&self, r: f64) -> f64 {
        self.config.epsilon(r, P::State::MIN_POSITIVE_F64)
    }

    /// Whether all sums are in and [`apply`](Self::apply) may run.
    pub fn is_ready(&self) -> bool {
        self.pass == Pass::Ready
    }

    /// The step number this reduction computes (1 for the first step).
    pub fn step(&self) -> u64 {
        self.t
    }

    /// The partial sums of one shard for the current pass; reads only.
    ///
    /// Besides the sums, every pass checks the shard's parameters and state
    /// (finite `θ` and `m`, finite `f ≥ 0`) and its gradients: what it finds
    /// travels in the sums, so that every rank refuses the step together
    /// in [`absorb`](Self::absorb).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if the slices differ in length,
    /// [`Error::NotReady`] if the reduction is already complete.
    pub fn partial_sums(
        &self,
        params: &[P],
        grads: &[P],
        momentum: &[P::State],
        fisher: &[P::State],
    ) -> Result<PartialSums, Error> {
        self.sums_of(params, grads, momentum, fisher, true)
    }

    /// [`partial_sums`](Self::partial_sums), checking the state (momentum
    /// and Fisher values) only if `check_state`; parameters and gradients
    /// are always checked.
    fn sums_of(
        &self,
        params: &[P],
        grads: &[P],
        momentum: &[P::State],
        fisher: &[P::State],
        check_state: bool,
    ) -> Result<PartialSums, Error> {
        let len = params.len();
        self.check_len(Buffer::Gradient, len, grads.len())?;
        self.check_len(Buffer::Momentum, len, momentum.len())?;
        self.check_len(Buffer::Fisher, len, fisher.len())?;
        let mut ew = self.ew;
        let need_w = self.config.natural_decay();
        let theta = params;
        // Squares are formed in the state type. A sum is exact to its
        // rounding unless some square overflowed (the sum is not finite) or
        // squares fell below the normal range (see SUBNORMAL_MARGIN): such
        // sums are formed again with per-element scaling.
        let tiny = len as f64 * P::State::MIN_POSITIVE_F64 * SUBNORMAL_MARGIN;
        let exact = |sum: f64| sum.is_finite() && sum >= tiny;
        let mut sums = PartialSums {
            count: len as u64,
            ..PartialSums::EMPTY
        };
        let inputs = |r: Range<usize>| -> kernels::Inputs<'_, P> {
            let (g, f) = (&grads[r.clone()], &fisher[r.clone()]);
            (g, f, &theta[r.clone()], &momentum[r])
        };
        let (grad_sum, bad_sum) = match self.pass {
            Pass::Ready => return Err(Error::NotReady),
            Pass::Grad => {
                let blocks = |a: Range<usize>, b: Range<usize>| {
                    let x = [inputs(a), inputs(b)];
                    if check_state {
                        versioned!(grad_sum::<P, true>(x, &ew))
                    } else {
                        versioned!(grad_sum::<P, false>(x, &ew))
                    }
                };
                let [g, bad] = kernels::fold_block_pairs(len, blocks, kernels::add, [0.0; 2]);
                (g, bad)
            }
            Pass::Fused { eps } | Pass::Natural { eps } => {
                ew.eps = P::State::narrow(eps);
                let [g, n, w, bad] = with_power!(self.power, P::State, |q| {
                    let blocks = |a: Range<usize>, b: Range<usize>| {
                        let x = [inputs(a), inputs(b)];
                        match (need_w, check_state) {
                            (true, true) => {
                                versioned!(natural_sums::<P, _, true, true>(x, &ew, q))
                            }
                            (true, false) => {
                                versioned!(natural_sums::<P, _, true, false>(x, &ew, q))
                            }
                            (false, true) => {
                                versioned!(natural_sums::<P, _, false, true>(x, &ew, q))
                            }
                            (false, false) => {
                                versioned!(natural_sums::<P, _, false, false>(x, &ew, q))
                            }
                        }
                    };
                    kernels::fold_block_pairs(len, blocks, kernels::add, [0.0; 4])
                });
                sums.natgrad = ScaledSum::plain(n);
                sums.decay = ScaledSum::plain(w);
                let careful = |decay| {
                    kernels::careful_quotient_sum(grads, fisher, theta, &ew, self.power, decay)
                };
                if !exact(n) {
                    sums.natgrad = careful(false);
                }
                if !exact(w) {
                    sums.decay = careful(true);
                }
                (g, bad)
            }
        };
        // A refused shard sends only its count and what it found (its sums
        // may be NaN, which no valid encoding holds).
        let refused = |flags| PartialSums {
            count: len as u64,
            flags,
            ..PartialSums::EMPTY
        };
        if !kernels::all_valid(bad_sum) {
            return Ok(refused(kernels::scan_state(params, momentum, fisher)));
        }
        sums.grad = ScaledSum::plain(grad_sum);
        // A sum close to the state type's range may also hide a non-finite
        // gradient, or a g² that overflows f: check element by element.
        if !exact(grad_sum) || grad_sum >= P::State::MAX_F64 / OVERFLOW_MARGIN {
            let scan = kernels::scan_grad(grads, fisher, theta, &ew);
            if scan.flags != 0 {
                return Ok(refused(scan.flags));
            }
            sums.grad = scan.sum;
        }
        Ok(sums)
    }

    /// Takes the total of all shards' partial sums for the current pass.
    ///
    /// # Errors
    /// [`Error::NonFiniteParam`], [`Error::InvalidState`],
    /// [`Error::NonFiniteGradient`] or [`Error::FisherOverflow`] (the first
    /// in this order): the step is refused, and nothing may be applied.
    /// [`Error::ShardMismatch`] if the sums do not cover the tensor's
    /// elements exactly once, [`Error::InvalidPartialSums`] if their counts
    /// overflowed `u64` when combined.
    pub fn absorb(&mut self, total: PartialSums) -> Result<(), Error> {
        if total.flags & flag::COUNT_OVERFLOW == 0 && total.count != self.count {
            return Err(Error::ShardMismatch {
                expected: self.count,
                found: total.count,
            });
        }
        let tensor = self.tensor;
        // The first failed check in this order is reported.
        let refusals = [
            (flag::COUNT_OVERFLOW, Error::InvalidPartialSums),
            (flag::NONFINITE_PARAM, Error::NonFiniteParam { tensor }),
            (
                flag::BAD_MOMENTUM,
                Error::InvalidState {
                    tensor,
                    buffer: Buffer::Momentum,
                },
            ),
            (
                flag::BAD_FISHER,
                Error::InvalidState {
                    tensor,
                    buffer: Buffer::Fisher,
                },
            ),
            (flag::NONFINITE_GRAD, Error::NonFiniteGradient { tensor }),
            (flag::FISHER_OVERFLOW, Error::FisherOverflow { tensor }),
        ];
        if let Some(&(_, error)) = refusals.iter().find(|(bit, _)| total.flags & bit != 0) {
            return Err(error);
        }
        let c = self.config;
        let natural_sums = |this: &mut Self, eps: f64| {
            this.finish(
                eps,
                total.natgrad.rms(this.count),
                total.decay.rms(this.count),
            );
        };
        match self.pass {
            Pass::Ready => return Err(Error::NotReady),
            Pass::Natural { eps } => natural_sums(self, eps),
            Pass::Fused { .. } | Pass::Grad => {
                self.grad_rms = total.grad.rms(self.count);
                let eps = self.epsilon(self.grad_rms.value());
                if self.pass == (Pass::Fused { eps }) {
                    // The guessed epsilon was right: the fused sums stand.
                    natural_sums(self, eps);
                } else if c.needs_natural_sums() {
                    self.pass = Pass::Natural { eps };
                } else {
                    self.finish(eps, Rms::ZERO, Rms::ZERO);
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, eps: f64, natgrad: Rms, decay: Rms) {
        let c = &self.config;
        self.ew.eps = P::State::narrow(eps);
        let clip = |rms: Rms| match c.clip {
            Some(c) if rms.value() > c => {
                let c_over_mantissa = c / rms.mantissa;
                let s = libm::ldexp(c_over_mantissa, -rms.exp);
                if s >= P::State::MIN_POSITIVE_F64 {
                    Clip::Fast(s)
                } else {
                    Clip::Careful {
                        c_over_mantissa,
                        rms_exp: rms.exp,
                    }
                }
            }
            _ => Clip::Fast(1.0),
        };
        let divisor = |rms: Rms| c.clip.map_or(1.0, |c| (rms.value() / c).max(1.0));
        self.clip_n = clip(natgrad);
        self.clip_w = clip(decay);
        self.stats = StepStats {
            grad_rms: self.grad_rms.value(),
            epsilon: eps,
            natgrad_divisor: divisor(natgrad),
            decay_divisor: divisor(decay),
        };
        self.pass = Pass::Ready;
    }

    /// What the step computed; meaningful once [`is_ready`](Self::is_ready).
    pub fn stats(&self) -> StepStats {
        self.stats
    }

    fn check_len(&self, buffer: Buffer, expected: usize, found: usize) -> Result<(), Error> {
        if expected == found {
            Ok(())
        } else {
            Err(Error::LengthMismatch {
                tensor: self.tensor,
                buffer,
                expected,
                found,
            })
        }
    }

    /// Runs every pass over a tensor held whole. The first pass checks the
    /// state unless it is verified, and later passes read what it checked.
    pub(crate) fn reduce_whole(
        &mut self,
        params: &[P],
        grads: &[P],
        state: &StateMut<'_, P::State>,
    ) -> Result<(), Error> {
        let mut check_state = !state.is_verified();
        while !self.is_ready() {
            let sums =
                self.sums_of(params, grads, state.momentum(), state.fisher(), check_state)?;
            self.absorb(sums)?;
            check_state = false;
        }
        Ok(())
    }
}
