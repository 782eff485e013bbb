//! The optimizer of one tensor: its settings, and which of the three
//! steps (host, wgpu passes, tensor operations) a tensor takes.

use burn::optim::{LearningRate, Optimizer};
use burn::tensor::{DType, Device, FloatDType, Tensor};

use crate::composed::Flat;
use crate::{FAdamState, host};

/// The FAdam optimizer of one parameter tensor, for burn's
/// [`ModuleOptimizer`](burn::optim::ModuleOptimizer).
///
/// Built by [`FAdamConfig::build`](crate::FAdamConfig::build) (or
/// [`init`](crate::FAdamConfig::init) for a whole module). Parameters in
/// `f16`/`bf16` are updated in `f32` with `f32` state; `f64` parameters in
/// `f64`.
///
/// # Three ways to step
///
/// - On burn's `flex` backend (the CPU; tensors outside autodiff, as
///   `ModuleOptimizer` steps them), for `f32` and `f64` parameters, a step
///   is [`fadam_core::step`] itself on the tensors' host data: the same
///   bits as `fadam_core`, in its fused passes over memory, with no copy
///   when the tensors hold their buffers alone (a tensor that shares its
///   buffer, or is strided, is copied once).
/// - On burn's wgpu backend, with `with_wgpu` (feature
///   `wgpu`), for `f32` parameters on the `WgpuKernels`'
///   device: `fadam-wgpu`'s compute passes
///   ([`fadam_wgpu::TensorStep`](https://docs.rs/fadam-wgpu)) on the
///   tensors' own buffers, in place, 7 dispatches per tensor, with no
///   read-back; its results are fadam-wgpu's (the core's to rounding).
/// - Everywhere else (other GPU backends, autodiff tensors, `f16`/`bf16`
///   parameters, or [`with_host_step(false)`](Self::with_host_step)), a
///   step computes the update of [`fadam_core::step`] with burn tensor
///   operations on the parameter's device: the tensor-wide sums stay
///   tensors, and nothing is read back to the host. Its rounding differs
///   from fadam-core's (see below).
///
/// All keep the same [`FAdamState`], so a state moves between them (with
/// [`to_device`](Optimizer::to_device)) and through records unchanged.
///
/// # A refused step
///
/// A NaN or infinity in the effective gradient (or a gradient whose square
/// overflows the Fisher diagonal) refuses the step of that tensor, as
/// [`fadam_core::step`] does; the tensor-operation step does it without a
/// read-back: every new value is selected on the device between the
/// updated and the old one. The parameters, the momentum, the Fisher
/// diagonal and the bias-correction terms keep their old values, so the
/// step count that enters the update does not advance; [`FAdamState::refused`] counts the refused steps, and
/// [`refused_steps`](crate::refused_steps) reads them back for a whole
/// optimizer.
///
/// # Differences of the tensor-operation step from fadam-core
///
/// - The sums and square roots are computed in the working precision
///   (`f32` for `f32`/`f16`/`bf16`), not in `f64`. An RMS whose squares
///   cannot overflow is formed directly (`RMS(g)` from the Fisher term
///   `(1 - b2)·g·g`, and with `p = 1/2` the clip of `g / d` and the decay
///   term); with `p != 1/2` the clips are scaled by the tensor's largest
///   magnitude (as BLAS `nrm2` does). Results agree with
///   [`fadam_core::step`] to rounding (within a relative 1e-6 over 20 steps
///   in this crate's tests).
/// - For a gradient below about 1e-19 the `f32` squares are subnormal or
///   zero: fadam-core forms such a sum again with per-element scaling and
///   finds the true, tiny `RMS(g)`, where this step's is inexact or 0 (and
///   then the fixed epsilon applies).
/// - After a refused step, the bias-correction factors of that tensor come
///   from an `f32` recurrence on the device instead of the host's `f64`,
///   which costs a few units in the last place.
/// - Where `θ / d` itself exceeds the `f32` range (for parameters of order
///   one, only with a gradient RMS below about 1e-30), fadam-core computes
///   the clipped weight decay in scaled arithmetic; this step drops the
///   natural weight decay of that tensor for that step instead. It never
///   writes NaN or infinity for finite inputs.
#[derive(Clone, Debug)]
pub struct FAdam {
    pub(crate) config: fadam_core::FAdamConfig,
    host_step: bool,
    /// fadam-wgpu's passes on burn's wgpu device, where given.
    #[cfg(feature = "wgpu")]
    wgpu: Option<crate::WgpuKernels>,
}

impl FAdam {
    /// The optimizer of a validated config (its `lr` is not used: burn gives
    /// the learning rate to each step).
    pub(crate) fn new(config: fadam_core::FAdamConfig) -> Self {
        Self {
            config,
            host_step: true,
            #[cfg(feature = "wgpu")]
            wgpu: None,
        }
    }

    /// Steps the `f32` tensors on `kernels`' device with fadam-wgpu's compute
    /// passes on their buffers (7 dispatches per tensor) instead of burn
    /// tensor operations (about 70): see [`WgpuKernels`](crate::WgpuKernels).
    #[cfg(feature = "wgpu")]
    #[must_use]
    pub fn with_wgpu(mut self, kernels: &crate::WgpuKernels) -> Self {
        self.wgpu = Some(kernels.clone());
        self
    }

    /// With `false`, every step is composed of burn tensor operations, also
    /// on `flex` where by default [`fadam_core::step`] runs on the host data
    /// (see [the type's docs](Self#three-ways-to-step)): to compare the two,
    /// or to test the tensor-operation step without a GPU.
    ///
    /// ```
    /// use burn::optim::Optimizer;
    /// use burn::tensor::{Device, Tensor};
    /// use fadam_burn::FAdamConfig;
    ///
    /// let device = Device::default();
    /// let theta = Tensor::<1>::from_floats([1.0, -2.0], &device);
    /// let grad = Tensor::<1>::from_floats([0.5, 0.25], &device);
    /// let host = FAdamConfig::new().build();
    /// let composed = FAdamConfig::new().build().with_host_step(false);
    /// let (a, _) = host.step(1e-2, theta.clone(), grad.clone(), None);
    /// let (b, _) = composed.step(1e-2, theta, grad, None);
    /// // The same step, up to rounding.
    /// a.into_data().assert_approx_eq::<f32>(&b.into_data(), Default::default());
    /// ```
    #[must_use]
    pub fn with_host_step(mut self, enabled: bool) -> Self {
        self.host_step = enabled;
        self
    }

    /// The hyperparameters, as a [`fadam_core::FAdamConfig`] with `lr = 0`.
    pub fn config(&self) -> &fadam_core::FAdamConfig {
        &self.config
    }
}

/// What a fast step (the host's, the wgpu passes') gives back when it does
/// not step: the parameter, its gradient and its state, with their values
/// (boxed: burn tensors are large, and this is the rare case).
pub(crate) type Declined<const D: usize> = (Tensor<D>, Tensor<D>, FAdamState<D>);

/// The precision a step computes in.
fn working(dtype: DType) -> FloatDType {
    match dtype {
        DType::F64 => FloatDType::F64,
        _ => FloatDType::F32,
    }
}

impl Optimizer for FAdam {
    type State<const D: usize> = FAdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let dtype = tensor.dtype();
        let work = working(dtype);
        let shape = tensor.shape();
        let n = shape.num_elements();
        let device = tensor.device();
        let state = match state {
            Some(state) => state,
            None => FAdamState::zeros(shape.clone(), work, &device),
        };
        let (tensor, grad, state) = if self.host_step && n > 0 && host::on_host(&device) {
            match host::step(&self.config, lr, tensor, grad, state) {
                Ok((tensor, state)) => return (tensor, Some(state)),
                Err(declined) => *declined,
            }
        } else {
            (tensor, grad, state)
        };
        // A learning rate that fadam-core would reject (NaN, infinite or
        // negative, as a buggy scheduler may give) refuses the step, as a
        // non-finite gradient does: nothing changes but the counts.
        let config = self.config.with_lr(lr);
        let lr_valid = config.validate().is_ok();
        #[cfg(feature = "wgpu")]
        let (tensor, grad, state) = match &self.wgpu {
            Some(kernels) if n > 0 && lr_valid => {
                match crate::gpu::step(kernels, &config, (tensor, grad, state)) {
                    Ok((tensor, state)) => return (tensor, Some(state)),
                    Err(declined) => *declined,
                }
            }
            _ => (tensor, grad, state),
        };
        let flat = |t: Tensor<D>| t.cast(work).reshape([n]);
        let state = Flat {
            momentum: flat(state.momentum),
            fisher: flat(state.fisher),
            calls: state.calls,
            refused: state.refused.cast(work),
            bias_1: state.bias_1.cast(work),
            bias_2: state.bias_2.cast(work),
        };
        let (theta, state) = if !lr_valid {
            let state = Flat {
                calls: state.calls + 1,
                refused: state.refused.add_scalar(1.0),
                ..state
            };
            (flat(tensor), state)
        } else if n == 0 {
            let state = Flat {
                calls: state.calls + 1,
                ..state
            };
            (flat(tensor), state)
        } else {
            self.step_flat(lr, flat(tensor), flat(grad), state)
        };
        let theta = theta.reshape(shape.clone()).cast(FloatDType::from(dtype));
        let state = FAdamState {
            momentum: state.momentum.reshape(shape.clone()),
            fisher: state.fisher.reshape(shape),
            calls: state.calls,
            refused: state.refused,
            bias_1: state.bias_1,
            bias_2: state.bias_2,
        };
        (theta, Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.to_device(device)
    }
}
