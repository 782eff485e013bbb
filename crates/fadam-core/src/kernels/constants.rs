//! The per-step constants the kernels take, in the state type (computed in
//! `f64` by [`StepScalars`](crate::StepScalars) and the reduction).

use crate::Real;

/// `x` clamped to the finite range of its type: the identity on finite
/// values (bits included, `-0.0` too), `±MAX` for `±∞`. Every operation of
/// the update that can overflow is saturated with it, so no infinity ever
/// meets a zero or an opposite infinity: finite inputs give finite results
/// (see `docs/algorithm.md`, "Finite in, finite out").
#[inline(always)]
pub(crate) fn sat<S: Real>(x: S) -> S {
    clamp(x, S::max_value())
}

/// `x` clamped to `[-max, max]`; the identity on values inside (`-0.0`
/// included). Written as compares and selects, which x86 runs as one
/// `max` and one `min` instruction (`f32::max` needs a NaN fix-up around
/// each); a NaN stays NaN, but none reaches it: the update's inputs are
/// finite and each of its operations is saturated.
#[inline(always)]
pub(crate) fn clamp<S: Real>(x: S, max: S) -> S {
    let x = if x < -max { -max } else { x };
    if x > max { max } else { x }
}

/// Per-element constants of one step, in the state type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Elementwise<S> {
    /// -1 to maximize, else 1.
    pub(crate) sign: S,
    /// λ of the L2 penalty, else 0.
    pub(crate) l2: S,
    /// Bias-corrected Fisher decay `b2` and `1 - b2`.
    pub(crate) b2: S,
    pub(crate) one_minus_b2: S,
    /// Epsilon added to `f^p`.
    pub(crate) eps: S,
}

impl<S: Real> Elementwise<S> {
    /// The effective gradient: negated to maximize, plus the L2 term.
    #[inline(always)]
    pub(crate) fn grad(&self, g: S, theta: S) -> S {
        self.sign * g + self.l2 * theta
    }

    /// The new Fisher diagonal, in the reference's order of operations.
    #[inline(always)]
    pub(crate) fn fisher(&self, f: S, g: S) -> S {
        f * self.b2 + self.one_minus_b2 * g * g
    }
}

/// How a clipped quotient `a / d · min(1, c / RMS(a / d))` is computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Clip {
    /// Multiply by `s · (1 / d)` with `s = min(1, c / RMS)` a normal number
    /// of the state type: `1 / d` cannot overflow since `d` is at least the
    /// smallest normal number, and `s ≤ 1`. The reciprocal, not `s / d`:
    /// the update forms `1 / d` once for both quotients (division is the
    /// slowest operation of the step; see docs/algorithm.md).
    Fast(f64),
    /// The factor is below the state type's range (the quotients overflow
    /// it): `a / d · c / RMS` with `RMS = rms_mantissa · 2^rms_exp`, in
    /// scaled `f64` arithmetic.
    Careful { c_over_mantissa: f64, rms_exp: i32 },
}

impl Clip {
    pub(crate) fn fast_factor(self) -> Option<f64> {
        match self {
            Self::Fast(s) => Some(s),
            Self::Careful { .. } => None,
        }
    }

    pub(super) fn quotient<S: Real>(self, a: S, d: S) -> S {
        match self {
            Self::Fast(s) => fast_quotient(a, S::narrow(s), d.recip()),
            Self::Careful {
                c_over_mantissa,
                rms_exp,
            } => {
                let (ma, ea) = libm::frexp(a.wide());
                let (md, ed) = libm::frexp(d.wide());
                S::narrow(libm::ldexp(ma / md * c_over_mantissa, ea - ed - rms_exp))
            }
        }
    }
}

/// The clipped quotient `a / d · s` of [`Clip::Fast`] as the kernels form
/// it, from the reciprocal `r = 1 / d` (one division serves both quotients
/// of an element).
#[inline(always)]
pub(super) fn fast_quotient<S: Real>(a: S, s: S, r: S) -> S {
    a * (s * r)
}

/// `m + w·(x - m)` for a weight `w = 1 - β1` below one half, else
/// `x - (1 - w)·(x - m)`, as torch's `lerp` computes it: exact at `w = 0`
/// and `w = 1` (`β1 = 0` must give `m = x` even when `m ≫ x`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lerp<S> {
    from_new: bool,
    coef: S,
}

impl<S: Real> Lerp<S> {
    pub(crate) fn new(weight: f64) -> Self {
        if weight < 0.5 {
            Self {
                from_new: false,
                coef: S::narrow(weight),
            }
        } else {
            Self {
                from_new: true,
                coef: S::narrow(weight - 1.0),
            }
        }
    }

    /// Saturated ([`sat`]): `x - m` and the sum may overflow for `m` and
    /// `x` of opposite signs near the type's range.
    #[inline(always)]
    pub(super) fn apply(self, m: S, x: S) -> S {
        let base = if self.from_new { x } else { m };
        sat(base + self.coef * sat(x - m))
    }
}

/// Constants of the update pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Update<S> {
    pub(crate) ew: Elementwise<S>,
    /// The momentum EMA as torch's `lerp`, exact at both ends.
    pub(crate) lerp: Lerp<S>,
    /// `1 - η·λ` for decoupled decay, else 1.
    pub(crate) keep: S,
    /// `η`, or `η / (1 - β1^t)` for Adam momentum.
    pub(crate) lr: S,
    /// `λ` for natural decay (times `1 - β1^t` for Adam momentum), else 0.
    pub(crate) natural_decay: S,
    /// Fast clip factors of `n` and `w` (1 when clipping is off).
    pub(crate) clip_n: S,
    pub(crate) clip_w: S,
}
