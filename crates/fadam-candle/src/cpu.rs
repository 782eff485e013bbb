//! The step on candle's CPU device: `fadam_core` itself, on the storage of
//! the vars, reached as slices through candle's custom ops.
//!
//! Phase 1 reads every var, gradient and Fisher diagonal (a read-only
//! [`CustomOp3`]) and runs `fadam_core`'s [`Reduction`] to readiness; any
//! refusal stops the step there, before anything is written. Phase 2
//! applies each reduction in place ([`InplaceOp2`] on the var, with the
//! state reached by a nested [`InplaceOp1`]). This is what
//! [`fadam_core::step_model`] does, tensor by tensor, with the same bits.

use std::cell::{Cell, RefCell};

use candle_core::{CpuStorage, CustomOp3, DType, InplaceOp1, InplaceOp2, Layout, Shape, Tensor};
use fadam_core::{Error, FAdamConfig, Param, Reduction, StateMut};
use half::{bf16, f16};

use crate::FAdamError;
use crate::optimizer::Slot;

/// A candle element whose CPU storage this crate reads and writes.
pub(crate) trait Storable: candle_core::WithDType {
    fn vec_mut(storage: &mut CpuStorage) -> Option<&mut Vec<Self>>;
}

macro_rules! storable {
    ($t:ty, $variant:ident) => {
        impl Storable for $t {
            fn vec_mut(storage: &mut CpuStorage) -> Option<&mut Vec<Self>> {
                match storage {
                    CpuStorage::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
storable!(f32, F32);
storable!(f64, F64);
storable!(f16, F16);
storable!(bf16, BF16);

/// A parameter type the CPU path steps.
pub(crate) trait Element: Param<State: Storable> + Storable {}
impl<P: Param<State: Storable> + Storable> Element for P {}

fn range(layout: &Layout) -> candle_core::Result<(usize, usize)> {
    layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::msg("fadam-candle: a non-contiguous operand"))
}

fn slice<'a, T: Storable>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    let (a, b) = range(l)?;
    Ok(&s.as_slice::<T>()?[a..b])
}

fn slice_mut<'a, T: Storable>(
    s: &'a mut CpuStorage,
    l: &Layout,
) -> candle_core::Result<&'a mut [T]> {
    let (a, b) = range(l)?;
    let v = T::vec_mut(s).ok_or_else(|| candle_core::Error::msg("fadam-candle: wrong dtype"))?;
    Ok(&mut v[a..b])
}

/// Phase 1 of one var: its sums, read under candle's read locks.
struct Plan<'a, P: Param> {
    config: &'a FAdamConfig,
    step: u64,
    reduction: RefCell<Option<Result<Reduction<P>, Error>>>,
}

impl<P: Element> CustomOp3 for Plan<'_, P> {
    fn name(&self) -> &'static str {
        "fadam-plan"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let theta = slice::<P>(s1, l1)?;
        let grad = slice::<P>(s2, l2)?;
        let fisher = &slice::<P::State>(s3, l3)?[theta.len()..];
        let reduce = || {
            let mut r = Reduction::new(self.config, self.step, theta.len())?;
            while !r.is_ready() {
                let sums = r.partial_sums(theta, grad, fisher)?;
                r.absorb(sums)?;
            }
            Ok(r)
        };
        *self.reduction.borrow_mut() = Some(reduce());
        // The op's output is unused: an empty tensor.
        Ok((CpuStorage::U8(Vec::new()), Shape::from(0)))
    }
}

/// Phase 2 of one var, on the var's storage.
struct Apply<'a, P: Param> {
    reduction: &'a Reduction<P>,
    state: &'a Tensor,
    step: &'a Cell<u64>,
}

/// Phase 2, nested: on the state's storage, with the var's slices.
struct ApplyState<'a, P: Param> {
    reduction: &'a Reduction<P>,
    theta: RefCell<Option<&'a mut [P]>>,
    grad: &'a [P],
    step: &'a Cell<u64>,
}

fn core_error(error: Error) -> candle_core::Error {
    candle_core::Error::msg(format!("fadam-candle: the checked step failed: {error}"))
}

impl<P: Element> InplaceOp2 for Apply<'_, P> {
    fn name(&self) -> &'static str {
        "fadam-apply"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let inner = ApplyState {
            reduction: self.reduction,
            theta: RefCell::new(Some(slice_mut::<P>(s1, l1)?)),
            grad: slice::<P>(s2, l2)?,
            step: self.step,
        };
        self.state.inplace_op1(&inner)
    }
}

impl<P: Element> InplaceOp1 for ApplyState<'_, P> {
    fn name(&self) -> &'static str {
        "fadam-apply-state"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let theta = self
            .theta
            .borrow_mut()
            .take()
            .ok_or_else(|| candle_core::Error::msg("fadam-candle: state applied twice"))?;
        let (m, f) = slice_mut::<P::State>(storage, layout)?.split_at_mut(theta.len());
        let mut step = self.step.get();
        self.reduction
            .apply(theta, self.grad, StateMut::new(m, f, &mut step))
            .map_err(core_error)?;
        self.step.set(step);
        Ok(())
    }
}

/// One var's phase 1 result, whatever its dtype.
pub(crate) trait Planned {
    /// Phase 2: writes the var and its state.
    fn apply(&self, slot: &mut Slot, grad: &Tensor) -> Result<(), FAdamError>;
}

struct Ready<P: Param>(Reduction<P>);

impl<P: Element> Planned for Ready<P> {
    fn apply(&self, slot: &mut Slot, grad: &Tensor) -> Result<(), FAdamError> {
        if slot.var.elem_count() == 0 {
            // Nothing to write (candle refuses in-place ops on empty
            // tensors); the step count advances as in fadam-core.
            let (theta, grad, (m, f)): (&mut [P], &[P], _) = (&mut [], &[], (&mut [], &mut []));
            let mut step = slot.step;
            self.0
                .apply(theta, grad, StateMut::new(m, f, &mut step))
                .map_err(core_error)?;
            slot.step = step;
            return Ok(());
        }
        let step = Cell::new(slot.step);
        let op = Apply {
            reduction: &self.0,
            state: &slot.state,
            step: &step,
        };
        slot.var.inplace_op2(grad, &op)?;
        slot.step = step.get();
        Ok(())
    }
}

fn plan_as<P: Element>(
    config: &FAdamConfig,
    index: usize,
    slot: &Slot,
    grad: &Tensor,
) -> Result<Box<dyn Planned>, FAdamError> {
    let op = Plan::<P> {
        config,
        step: slot.step,
        reduction: RefCell::new(None),
    };
    slot.var.apply_op3_no_bwd(grad, &slot.state, &op)?;
    let reduction = op
        .reduction
        .into_inner()
        .ok_or_else(|| candle_core::Error::msg("fadam-candle: the plan did not run"))?;
    match reduction {
        Ok(r) => Ok(Box::new(Ready(r))),
        Err(Error::Config { error, .. }) => Err(FAdamError::Config {
            group: slot.group,
            error,
        }),
        Err(error) => Err(FAdamError::Refused {
            var: slot.name.clone(),
            error: error.with_tensor(index),
        }),
    }
}

/// Phase 1 of var number `index` (its position in the optimizer); `grad`
/// is contiguous, of the var's shape and dtype.
pub(crate) fn plan(
    config: &FAdamConfig,
    index: usize,
    slot: &Slot,
    grad: &Tensor,
) -> Result<Box<dyn Planned>, FAdamError> {
    match slot.var.dtype() {
        DType::F32 => plan_as::<f32>(config, index, slot, grad),
        DType::F64 => plan_as::<f64>(config, index, slot, grad),
        DType::F16 => plan_as::<f16>(config, index, slot, grad),
        DType::BF16 => plan_as::<bf16>(config, index, slot, grad),
        dtype => Err(FAdamError::UnsupportedDType {
            var: slot.name.clone(),
            dtype,
        }),
    }
}
