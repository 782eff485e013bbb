//! The tensor-operation step: FAdam's update composed of burn tensor
//! operations on the parameter's device (GPU backends without
//! `FAdam::with_wgpu`, autodiff tensors, `f16`/`bf16`, or
//! [`FAdam::with_host_step(false)`](FAdam::with_host_step)). The tensor-wide
//! sums stay one-element tensors; nothing is read back.

use burn::tensor::{Bool, FloatDType, Tensor};
use fadam_core::{DecayMode, EpsilonRule, MomentumMode, StepScalars};

use crate::FAdam;
use crate::corrections::Corrections;

/// `m + w·(x - m)` for `w = 1 - β1` below one half, else
/// `x - β1·(x - m)`, as fadam-core (and torch's `lerp`) computes the
/// momentum EMA: exact at `β1 = 0`.
fn lerp(m: Tensor<1>, x: Tensor<1>, beta1: f64) -> Tensor<1> {
    let weight = 1.0 - beta1;
    let diff = x.clone() - m.clone();
    if weight < 0.5 {
        m + diff.mul_scalar(weight)
    } else {
        x + diff.mul_scalar(weight - 1.0)
    }
}

/// `RMS(x)` of a flat tensor as a one-element tensor, scaled by the largest
/// magnitude so that no square overflows; 0 for an all-zero tensor. Five
/// passes over `x`: only for the clips when `p != 1/2`, where `|g / d|` has
/// no bound and `e` may be far below `d`.
fn scaled_rms(x: Tensor<1>) -> Tensor<1> {
    let max = x.clone().abs().max();
    let safe = max.clone().mask_fill(max.clone().equal_elem(0.0), 1.0);
    x.div(safe).square().mean().sqrt().mul(max)
}

/// `RMS(x)` as a one-element tensor, in two passes: for a tensor whose
/// squares cannot overflow.
fn rms(x: Tensor<1>) -> Tensor<1> {
    x.square().mean().sqrt()
}

/// `min(1, c / rms)`: what a clipped quotient is multiplied by (1 without
/// clipping). Non-finite `rms` gives 0 (see the type's docs). One-element
/// tensors only.
fn clip_factor(rms: Tensor<1>, clip: Option<f64>) -> Option<Tensor<1>> {
    let c = clip?;
    let s = rms.recip().mul_scalar(c).clamp_max(1.0);
    Some(s.clone().mask_fill(s.is_nan(), 0.0))
}

/// The floor that keeps epsilon a normal number of the working type, as
/// fadam-core floors it (see [`fadam_core::FAdamConfig::epsilon`]).
fn epsilon_floor(dtype: FloatDType) -> f64 {
    match dtype {
        FloatDType::F64 => f64::MIN_POSITIVE,
        _ => f64::from(f32::MIN_POSITIVE),
    }
}

impl FAdam {
    /// The epsilon `e` as a one-element tensor, from `RMS(g)` (only the
    /// fixed rule does without it).
    fn epsilon(&self, r: Option<Tensor<1>>, one: &Tensor<1>, dtype: FloatDType) -> Tensor<1> {
        let c = &self.config;
        let min = epsilon_floor(dtype);
        let fallback = c.epsilon_fallback(min);
        match (c.epsilon_rule, r) {
            (EpsilonRule::Adaptive, Some(r)) => {
                let s = r.mul_scalar(c.eps2);
                let adaptive = s
                    .clone()
                    .greater_elem(0.0)
                    .bool_and(s.clone().lower_elem(c.eps));
                let two_p = 2.0 * c.fisher_power;
                let e = if two_p == 1.0 {
                    s
                } else {
                    s.powf_scalar(two_p)
                };
                e.mask_fill(adaptive.bool_not(), fallback).clamp_min(min)
            }
            (EpsilonRule::PaperV3, Some(r)) => {
                let zero = r.clone().equal_elem(0.0);
                r.clamp_max(1.0)
                    .mul_scalar(c.eps)
                    .mask_fill(zero, fallback)
                    .clamp_min(min)
            }
            _ => one.clone().mul_scalar(fallback),
        }
    }

    /// The step on flat tensors in the working precision, in phases: the
    /// step's scalars, the bias corrections, the effective gradient and the
    /// Fisher diagonal, the denominator, the update, and the choice between
    /// the new and the old values. `docs/benchmarks.md` counts its passes.
    pub(crate) fn step_flat(
        &self,
        lr: f64,
        theta: Tensor<1>,
        grad: Tensor<1>,
        state: Flat,
    ) -> (Tensor<1>, Flat) {
        let dtype = FloatDType::from(theta.dtype());
        let calls = state.calls + 1;
        // The step's constants at call number `calls` (exact while nothing
        // was refused), with burn's learning rate.
        let host = StepScalars::new(&self.config.with_lr(lr), calls);
        let one = state.bias_2.ones_like();
        let corrections = Corrections::new(
            &self.config,
            lr,
            &host,
            &state.refused,
            &state.bias_1,
            &state.bias_2,
        );
        let g = self.effective_gradient(grad, &theta, &host);
        let denominator = self.denominator(&g, &state.fisher, &corrections, &one, dtype);
        let (updated, momentum) = self.update(
            &theta,
            g,
            &denominator,
            state.momentum.clone(),
            &corrections,
            &host,
            &one,
        );
        keep_or_refuse(
            (updated, momentum, denominator, corrections),
            theta,
            state,
            dtype,
        )
    }

    /// The gradient negated to maximize, plus the L2 term.
    fn effective_gradient(
        &self,
        grad: Tensor<1>,
        theta: &Tensor<1>,
        host: &StepScalars,
    ) -> Tensor<1> {
        let mut g = if self.config.maximize {
            grad.neg()
        } else {
            grad
        };
        if host.l2 != 0.0 {
            g = g + theta.clone().mul_scalar(host.l2);
        }
        g
    }

    /// The new Fisher diagonal `f' = b2·f + (1 - b2)·g·g` (fadam-core's
    /// order), `√f'`, `e`, and `d = f'^p + e`. `RMS(g)` comes from the
    /// Fisher term: `mean((1 - b2)·g·g) / (1 - b2)`.
    fn denominator(
        &self,
        g: &Tensor<1>,
        fisher: &Tensor<1>,
        corrections: &Corrections,
        one: &Tensor<1>,
        dtype: FloatDType,
    ) -> Denominator {
        let c = &self.config;
        let fresh = g
            .clone()
            .mul(corrections.one_minus_b2.clone())
            .mul(g.clone());
        let r = (c.epsilon_rule != EpsilonRule::Fixed).then(|| {
            fresh
                .clone()
                .mean()
                .div(corrections.one_minus_b2.clone())
                .sqrt()
        });
        let fisher = fisher.clone().mul(corrections.b2.clone()) + fresh;
        let root = fisher.clone().sqrt();
        let e = self.epsilon(r, one, dtype);
        let power = match c.fisher_power {
            0.5 => root.clone(),
            1.0 => fisher.clone(),
            p => fisher.clone().powf_scalar(p),
        };
        Denominator {
            d: power + e.clone(),
            e,
            fisher,
            root,
        }
    }

    /// The updated parameters and momentum.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        theta: &Tensor<1>,
        g: Tensor<1>,
        den: &Denominator,
        momentum: Tensor<1>,
        corrections: &Corrections,
        host: &StepScalars,
        one: &Tensor<1>,
    ) -> (Tensor<1>, Tensor<1>) {
        let c = &self.config;
        let d = &den.d;
        let natural_m = c.momentum == MomentumMode::Natural;
        let input = if natural_m {
            let u = g.div(d.clone());
            // With p = 1/2, |g / d| <= 1 / √(1 - β2): its squares cannot
            // overflow.
            let r = if c.fisher_power == 0.5 {
                rms(u.clone())
            } else {
                scaled_rms(u.clone())
            };
            match clip_factor(r, c.clip) {
                Some(s) => u.mul(s),
                None => u,
            }
        } else {
            g
        };
        let momentum = lerp(momentum, input, c.beta1);
        let mut dir = if natural_m {
            momentum.clone()
        } else {
            momentum.clone().div(d.clone())
        };
        if host.natural_decay != 0.0 {
            let strength = match &corrections.decay_t {
                Some(decay_t) => decay_t.clone(),
                None => one.clone().mul_scalar(host.natural_decay),
            };
            dir = dir + self.natural_decay(theta, den, c.clip, strength, one);
        }
        let kept = if c.decay_strength(DecayMode::Decoupled) != 0.0 {
            theta.clone().mul_scalar(host.decoupled_keep)
        } else {
            theta.clone()
        };
        let step = match &corrections.lr_t {
            Some(lr_t) => dir.mul(lr_t.clone()),
            None => dir.mul_scalar(host.lr),
        };
        (kept - step, momentum)
    }
}

impl FAdam {
    /// The natural weight decay term `strength·clip(θ / d)`.
    fn natural_decay(
        &self,
        theta: &Tensor<1>,
        den: &Denominator,
        clip: Option<f64>,
        strength: Tensor<1>,
        one: &Tensor<1>,
    ) -> Tensor<1> {
        let d = &den.d;
        if self.config.fisher_power == 0.5 {
            // `θ·e/d = (θ / d)·e` is at most |θ| (d >= e): its squares do
            // not overflow where `θ / d` would; RMS(θ / d) = RMS(θ·e/d) / e.
            // With p = 1/2, e is not far below d (see the type's docs).
            let scaled = theta.clone().mul(den.e.clone().div(d.clone()));
            let factor = clip_factor(rms(scaled.clone()).div(den.e.clone()), clip)
                .unwrap_or_else(|| one.clone());
            scaled.mul(factor.mul(strength).div(den.e.clone()))
        } else {
            let factor = clip_factor(scaled_rms(theta.clone().div(d.clone())), clip)
                .unwrap_or_else(|| one.clone());
            theta.clone().mul(factor.mul(strength).div(d.clone()))
        }
    }
}

/// The denominator of a step and what it is made of.
struct Denominator {
    /// `d = f'^p + e`.
    d: Tensor<1>,
    /// `e`, one element.
    e: Tensor<1>,
    /// The new Fisher diagonal `f'`.
    fisher: Tensor<1>,
    /// `√f'`: NaN where `f'` is negative, so the refusal check reads it.
    root: Tensor<1>,
}

/// The new parameters and state, or, where the new parameters or `√f'` are
/// not finite (a refused step), every old value.
///
/// One check covers every cause: a non-finite gradient, a gradient whose
/// square overflows the Fisher diagonal, a negative or non-finite Fisher
/// value in the state (`√f'` is NaN or infinite), and a non-finite momentum
/// or parameter (the new parameters are then not finite). `θ' + √f'` is
/// finite exactly when both are, since `√f'` is far below half an ulp of
/// the largest finite value.
fn keep_or_refuse(
    (updated, momentum, den, corrections): (Tensor<1>, Tensor<1>, Denominator, Corrections),
    theta: Tensor<1>,
    state: Flat,
    dtype: FloatDType,
) -> (Tensor<1>, Flat) {
    let n = theta.dims()[0];
    let refused: Tensor<1, Bool> = (updated.clone() + den.root).is_finite().all().bool_not();
    let wide = refused.clone().expand([n]);
    let select =
        |new: Tensor<1>, old: Tensor<1>, mask: &Tensor<1, Bool>| new.mask_where(mask.clone(), old);
    let theta = select(updated, theta, &wide);
    let state = Flat {
        momentum: select(momentum, state.momentum, &wide),
        fisher: select(den.fisher, state.fisher, &wide),
        calls: state.calls + 1,
        refused: state.refused + refused.clone().float().cast(dtype),
        bias_1: select(corrections.bias_1, state.bias_1, &refused),
        bias_2: select(corrections.bias_2, state.bias_2, &refused),
    };
    (theta, state)
}

/// [`FAdamState`] with flat tensors, in the working precision.
pub(crate) struct Flat {
    pub(crate) momentum: Tensor<1>,
    pub(crate) fisher: Tensor<1>,
    pub(crate) calls: u64,
    pub(crate) refused: Tensor<1>,
    pub(crate) bias_1: Tensor<1>,
    pub(crate) bias_2: Tensor<1>,
}
