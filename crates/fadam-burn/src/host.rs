//! The step on burn's `flex` backend (the CPU): [`fadam_core::step`]
//! itself on the tensors' host data, in its fused passes, instead of the
//! composed tensor operations of [`crate::optimizer`].
//!
//! On `flex` a tensor's data is a host buffer. `into_data` hands it over
//! without a copy when the tensor holds it alone and contiguously (as
//! burn's `ModuleOptimizer` hands over parameters, gradients and states),
//! else it copies it once; `from_data` takes a buffer back without a copy.
//! [`fadam_core::step`] checks everything before it writes anything, so a
//! refused step leaves the buffers as they were.

use burn::tensor::{DType, Device, Element, FloatDType, Tensor, TensorData};
use fadam_core::{FAdamConfig, Param, Real, StateMut};

use crate::FAdamState;
use crate::corrections::next_bias;
use crate::optimizer::Declined;

/// Whether tensors on `device` are stepped on the host: burn's `flex`
/// backend, outside autodiff (burn's `ModuleOptimizer` steps the inner
/// tensors of its parameters). Only a fast path: the data route is right on
/// any backend, it is just a read-back elsewhere.
pub(crate) fn on_host(device: &Device) -> bool {
    !device.is_autodiff() && *device == Device::flex()
}

/// The buffers of one step, as host data.
struct Buffers {
    theta: TensorData,
    grad: TensorData,
    momentum: TensorData,
    fisher: TensorData,
    refused: TensorData,
}

impl Buffers {
    /// Runs `fadam_core::step` on the buffers as slices of `P`: `Some(true)`
    /// for a step taken, `Some(false)` for a refused one (nothing written),
    /// `None` when a buffer cannot be reached as a slice of `P` (nothing
    /// written either).
    fn run<P>(&mut self, config: &FAdamConfig, calls: u64) -> Option<bool>
    where
        P: Param<State: Element> + Element,
    {
        let refused = match *self.refused.as_slice::<P::State>().ok()? {
            [r] => r,
            // Not one count: an invalid state.
            _ => return Some(false),
        };
        let theta = self.theta.as_mut_slice::<P>().ok()?;
        let grad = self.grad.as_slice::<P>().ok()?;
        let momentum = self.momentum.as_mut_slice::<P::State>().ok()?;
        let fisher = self.fisher.as_mut_slice::<P::State>().ok()?;
        // The steps taken, from the counts: a count that is not a whole
        // number in `[0, calls]` (a state edited by hand) is an invalid
        // state, and refuses the step as fadam-core refuses one.
        let Some(mut taken) = steps_taken(calls, refused.wide()) else {
            return Some(false);
        };
        let state = StateMut::new(momentum, fisher, &mut taken);
        Some(fadam_core::step(config, theta, grad, state).is_ok())
    }
}

/// `calls - refused` when `refused` is a whole number in `[0, calls]`.
fn steps_taken(calls: u64, refused: f64) -> Option<u64> {
    let whole = refused >= 0.0 && refused.fract() == 0.0 && refused <= calls as f64;
    // The count is a small exact integer.
    whole.then(|| calls - refused as u64)
}

/// The step of one non-empty tensor of `f32` or `f64` parameters on the
/// host, with burn's learning rate `lr`; or the inputs back, unchanged, for
/// a tensor of another precision or whose data cannot be reached as a
/// slice (then the tensor-operation step takes over).
///
/// The counts change as the tensor-operation step changes them: `calls`
/// always advances; a refused step (a non-finite gradient or parameter, an
/// invalid state or learning rate, anything [`fadam_core::step`] refuses)
/// adds one to `refused` and writes nothing else; a step taken advances
/// `bias_1` and `bias_2`.
pub(crate) fn step<const D: usize>(
    config: &FAdamConfig,
    lr: f64,
    theta: Tensor<D>,
    grad: Tensor<D>,
    state: FAdamState<D>,
) -> Result<(Tensor<D>, FAdamState<D>), Box<Declined<D>>> {
    let dtype = theta.dtype();
    // The precision of the parameters and of the state.
    let work = match dtype {
        DType::F32 => FloatDType::F32,
        DType::F64 => FloatDType::F64,
        _ => return Err(Box::new((theta, grad, state))),
    };
    let device = theta.device();
    let shape = theta.shape();
    let calls = state.calls;
    // A cast to a tensor's own type is the tensor itself.
    let mut buffers = Buffers {
        theta: theta.into_data(),
        grad: grad.cast(work).into_data(),
        momentum: state.momentum.cast(work).into_data(),
        fisher: state.fisher.cast(work).into_data(),
        refused: state.refused.cast(work).into_data(),
    };
    let config = config.with_lr(lr);
    let outcome = match work {
        FloatDType::F64 => buffers.run::<f64>(&config, calls),
        _ => buffers.run::<f32>(&config, calls),
    };
    // Each buffer back in its own shape, without a copy.
    let back = |data: TensorData| Tensor::<D>::from_data(data, (&device, dtype));
    let theta = back(buffers.theta);
    let kept = FAdamState {
        momentum: back(buffers.momentum),
        fisher: back(buffers.fisher),
        calls,
        refused: Tensor::from_data(buffers.refused, (&device, dtype)),
        bias_1: state.bias_1.cast(work),
        bias_2: state.bias_2.cast(work),
    };
    let Some(taken) = outcome else {
        return Err(Box::new((theta, back(buffers.grad), kept)));
    };
    let calls = calls.saturating_add(1);
    let state = if taken {
        // fadam-core checked that the state has the parameter's length.
        FAdamState {
            momentum: kept.momentum.reshape(shape.clone()),
            fisher: kept.fisher.reshape(shape),
            calls,
            bias_1: next_bias(kept.bias_1, config.beta1),
            bias_2: next_bias(kept.bias_2, config.beta2),
            ..kept
        }
    } else {
        FAdamState {
            calls,
            refused: kept.refused.add_scalar(1.0),
            ..kept
        }
    };
    Ok((theta, state))
}
