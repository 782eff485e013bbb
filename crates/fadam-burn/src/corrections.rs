//! The bias-correction terms of a step, as one-element tensors on the
//! parameter's device.

use burn::tensor::Tensor;
use fadam_core::{FAdamConfig, MomentumMode, StepScalars};

/// The bias-correction terms of one step, as one-element tensors.
pub(crate) struct Corrections {
    /// `b2` and `1 - b2`.
    pub(crate) b2: Tensor<1>,
    pub(crate) one_minus_b2: Tensor<1>,
    /// The new `1 - β1^t` and `1 - β2^t` recurrences.
    pub(crate) bias_1: Tensor<1>,
    pub(crate) bias_2: Tensor<1>,
    /// Adam momentum only: `η / (1 - β1^t)` and, with natural decay,
    /// `λ·(1 - β1^t)`.
    pub(crate) lr_t: Option<Tensor<1>>,
    pub(crate) decay_t: Option<Tensor<1>>,
}

impl Corrections {
    /// The factors of the step after the state's `refused`, `bias_1` and
    /// `bias_2`: exact host values (`host`) while no step of this tensor was
    /// refused, else the device recurrence of `1 - β^t`.
    pub(crate) fn new(
        c: &FAdamConfig,
        lr: f64,
        host: &StepScalars,
        refused: &Tensor<1>,
        bias_1: &Tensor<1>,
        bias_2: &Tensor<1>,
    ) -> Self {
        let exact = refused.clone().equal_elem(0.0);
        // `next_bias`, with `β2·(1 - β2^(t-1))` kept for `b2`.
        let old_2 = bias_2.clone().mul_scalar(c.beta2);
        let bias_2 = old_2.clone().add_scalar(1.0 - c.beta2);
        let b2 = old_2.div(bias_2.clone()).mask_fill(exact.clone(), host.b2);
        let one_minus_b2 = bias_2
            .clone()
            .recip()
            .mul_scalar(1.0 - c.beta2)
            .mask_fill(exact.clone(), host.one_minus_b2);
        let bias_1 = next_bias(bias_1.clone(), c.beta1);
        // Adam momentum: θ -= η/(1 - β1^t) · (m/d + (1 - β1^t)·λ·w), as
        // fadam-core orders it.
        let (lr_t, decay_t) = match c.momentum {
            MomentumMode::Natural => (None, None),
            MomentumMode::Adam => (
                Some(
                    bias_1
                        .clone()
                        .recip()
                        .mul_scalar(lr)
                        .mask_fill(exact.clone(), host.lr),
                ),
                (host.natural_decay != 0.0).then(|| {
                    bias_1
                        .clone()
                        .mul_scalar(c.weight_decay)
                        .mask_fill(exact, host.natural_decay)
                }),
            ),
        };
        Self {
            b2,
            one_minus_b2,
            bias_1,
            bias_2,
            lr_t,
            decay_t,
        }
    }
}

/// `1 - β^t` from `1 - β^(t-1)`: the device recurrence of the bias terms
/// of a step taken (also on the host path, so that both keep the same
/// state).
pub(crate) fn next_bias(bias: Tensor<1>, beta: f64) -> Tensor<1> {
    bias.mul_scalar(beta).add_scalar(1.0 - beta)
}
