//! The optimizer state of one parameter tensor, and its record.

use burn::module::ParamId;
use burn::optim::{ModuleOptimizer, RecordState, StateSink, StateSource};
use burn::store::RecordError;
use burn::tensor::{DType, Device, FloatDType, Shape, Tensor};
use burn_pack::Scalar;

use crate::check::{LEAVES, Leaf, check_state};

/// The FAdam state of one parameter tensor of rank `D`.
///
/// Everything the update reads lives on the parameter's device; only the
/// number of calls is kept on the host. Saved and loaded through burn's
/// optimizer records ([`ModuleOptimizer::to_record`],
/// [`ModuleOptimizer::save`], ...) under the names of the fields.
#[derive(Clone, Debug)]
pub struct FAdamState<const D: usize> {
    /// Momentum `m`, shaped as the parameter.
    pub momentum: Tensor<D>,
    /// Fisher diagonal `f`, shaped as the parameter.
    pub fisher: Tensor<D>,
    /// Steps attempted (taken and refused).
    pub calls: u64,
    /// Steps refused for a non-finite gradient, as a one-element tensor (the
    /// steps taken are `calls - refused`).
    pub refused: Tensor<1>,
    /// `1 - β1^t` at the steps taken `t`, as a one-element tensor.
    pub bias_1: Tensor<1>,
    /// `1 - β2^t` at the steps taken `t`, as a one-element tensor.
    pub bias_2: Tensor<1>,
}

impl<const D: usize> FAdamState<D> {
    /// The state before the first step: zeros, in precision `dtype`.
    pub fn zeros(shape: Shape, dtype: FloatDType, device: &Device) -> Self {
        // Each its own buffer, so that a step may write them in place.
        let zeros = || Tensor::<D>::zeros(shape.clone(), device).cast(dtype);
        let scalar = || Tensor::<1>::zeros([1], device).cast(dtype);
        Self {
            momentum: zeros(),
            fisher: zeros(),
            calls: 0,
            refused: scalar(),
            bias_1: scalar(),
            bias_2: scalar(),
        }
    }

    /// The state on `device`.
    #[must_use]
    pub fn to_device(self, device: &Device) -> Self {
        Self {
            momentum: self.momentum.to_device(device),
            fisher: self.fisher.to_device(device),
            calls: self.calls,
            refused: self.refused.to_device(device),
            bias_1: self.bias_1.to_device(device),
            bias_2: self.bias_2.to_device(device),
        }
    }
}

impl<const D: usize> RecordState for FAdamState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "momentum", self.momentum.clone().into_data());
        out.push_tensor(prefix, "fisher", self.fisher.clone().into_data());
        out.push_scalar(prefix, "calls", Scalar::from(self.calls));
        out.push_tensor(prefix, "refused", self.refused.clone().into_data());
        out.push_tensor(prefix, "bias_1", self.bias_1.clone().into_data());
        out.push_tensor(prefix, "bias_2", self.bias_2.clone().into_data());
    }

    /// Rebuilds a saved state, or `None` (burn then starts that parameter
    /// afresh) when it is invalid: see [`StateError`](crate::StateError),
    /// and [`load_checked`](crate::load_checked) to be told instead.
    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let mut take = |leaf| src.take_tensor(prefix, leaf);
        let [momentum, fisher, refused, bias_1, bias_2] = LEAVES.map(&mut take);
        let data = [momentum?, fisher?, refused?, bias_1?, bias_2?];
        let calls = u64::try_from(src.take_scalar(prefix, "calls")?).ok()?;
        if data[0].shape().len() != D {
            return None;
        }
        let leaves = data.each_ref().map(|d| Leaf {
            dtype: d.dtype(),
            shape: d.shape(),
            bytes: d.as_bytes(),
        });
        check_state(leaves, calls).ok()?;
        // In the precision they were saved in (`f64` for `f64` parameters).
        let [momentum, fisher, refused, bias_1, bias_2] = data.map(|d| {
            let dtype = d.dtype();
            (d, dtype)
        });
        Some(Self {
            momentum: Tensor::from_data(momentum.0, (device, momentum.1)),
            fisher: Tensor::from_data(fisher.0, (device, fisher.1)),
            calls,
            refused: Tensor::from_data(refused.0, (device, refused.1)),
            bias_1: Tensor::from_data(bias_1.0, (device, bias_1.1)),
            bias_2: Tensor::from_data(bias_2.0, (device, bias_2.1)),
        })
    }
}

/// The steps refused for a non-finite gradient, per parameter, for the
/// parameters of `optim` that had any, in the order of their ids.
///
/// A diagnostic: it reads the whole optimizer state back to the host (it
/// serializes [`ModuleOptimizer::to_record`]). States of other optimizers
/// in the same [`ModuleOptimizer`] are ignored.
///
/// # Errors
/// When the record cannot be serialized or read back.
pub fn refused_steps(optim: &ModuleOptimizer) -> Result<Vec<(ParamId, u64)>, RecordError> {
    let reader = burn_pack::Reader::from_bytes(optim.into_bytes()?)?;
    let mut found = Vec::new();
    for tensor in reader.into_tensors()? {
        if !tensor.name.ends_with(".refused") {
            continue;
        }
        let (_, dtype, _, id, bytes) = tensor.into_parts()?;
        let count = match dtype {
            DType::F64 => bytes
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(f64::from_le_bytes),
            DType::F32 => bytes
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(|b| f64::from(f32::from_le_bytes(b))),
            _ => None,
        };
        if let (Some(id), Some(count)) = (id, count)
            && count > 0.0
        {
            // The count is a small exact integer.
            found.push((ParamId::from(id), count as u64));
        }
    }
    found.sort_by_key(|&(id, _)| id.val());
    Ok(found)
}
