//! The optimizer: its vars, groups and state, and candle's `Optimizer`.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use candle_nn::{Optimizer, VarMap};

use crate::tensor_ops::DeviceState;
use crate::{FAdamError, ParamsFAdam, Result, cpu, tensor_ops};

/// Which implementation computes a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum StepPath {
    /// `fadam_core` itself where every var is on candle's CPU device (exact,
    /// and the fastest there), candle tensor operations otherwise (CUDA,
    /// Metal). The default.
    #[default]
    Auto,
    /// candle tensor operations on every device, the CPU included (what runs
    /// on a GPU; for tests and comparisons on the CPU).
    TensorOps,
}

/// One var and its state.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) name: String,
    pub(crate) var: Var,
    pub(crate) group: usize,
    /// Momentum and Fisher diagonal stacked, of shape `[2, var's shape]`
    /// and the state dtype (`f64` for `f64` vars, else `f32`).
    pub(crate) state: Tensor,
    /// Steps taken; on the tensor-op path, calls (see [`DeviceState`]).
    pub(crate) step: u64,
    /// The tensor-op path's device-side step state.
    pub(crate) device: Option<DeviceState>,
}

/// The dtype of the optimizer state of a var of `dtype`.
pub(crate) fn state_dtype(dtype: DType) -> DType {
    if dtype == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// FAdam as a candle optimizer: `fadam_core`'s step for every var, on the
/// vars' own device and dtype (`f32`, `f64`, and `f16`/`bf16` with `f32`
/// state).
///
/// A drop-in replacement for candle's `AdamW`:
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_nn::{Optimizer, VarBuilder, VarMap};
/// use fadam_candle::{FAdam, ParamsFAdam};
///
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let model = candle_nn::linear(4, 1, vb.pp("fc"))?;
/// // Was: let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW { lr: 1e-2, ..Default::default() })?;
/// let mut opt = FAdam::new(varmap.all_vars(), ParamsFAdam { lr: 1e-2, ..Default::default() })?;
///
/// let x = Tensor::ones((8, 4), DType::F32, &Device::Cpu)?;
/// for _ in 0..3 {
///     let loss = candle_core::Module::forward(&model, &x)?.sqr()?.mean_all()?;
///     opt.backward_step(&loss)?;
/// }
/// # Ok::<(), candle_core::Error>(())
/// ```
///
/// # Refusal
///
/// A NaN or infinity in any gradient refuses the step of the whole
/// optimizer, as [`fadam_core::step_model`] does: every var and all state
/// stay as they were. On the CPU ([`StepPath::Auto`]) the step returns
/// [`FAdamError::Refused`] naming the var (inside candle's error for
/// [`Optimizer::step`], see [`FAdamError::find`]). On the tensor-op path
/// nothing is read back to the host during a step, so the step returns
/// `Ok` and the refusal is done on the device: [`FAdam::check`] reads back
/// which vars refused how many steps.
///
/// A var with no gradient in the [`GradStore`] is skipped, as candle's own
/// optimizers do; its step count does not advance.
///
/// # The tensor-op path
///
/// Where it runs ([`StepPath`]), the step differs from `fadam_core` only in
/// rounding: the elementwise operations are the core's, in the same order
/// and precision; the tensor-wide sums are formed by candle's reductions,
/// in `f64` where the device has it (CPU, CUDA) and otherwise in the state
/// precision, scaled by the largest magnitude so that no square overflows.
/// Results agree with `fadam_core` within a relative 1e-6 over 20 steps in
/// this crate's tests. After a refused step, a var's bias corrections come
/// from a recurrence on the device (a few units in the last place off the
/// host's) until the state is saved and loaded. Where a clip factor falls
/// below the `f32` range (the core then uses scaled arithmetic), it rounds
/// to zero or a subnormal here. All vars stepped on this path must be on one
/// device: the refusal flag is combined across them.
#[derive(Debug)]
pub struct FAdam {
    pub(crate) groups: Vec<ParamsFAdam>,
    pub(crate) slots: Vec<Slot>,
    pub(crate) path: StepPath,
}

impl FAdam {
    /// An optimizer over `vars` named `(name, var, group)`, with one config
    /// per parameter group (for example no weight decay on biases and
    /// norms). Vars of integer dtypes are left out, as candle's optimizers
    /// do. The names key the state in [`save`](Self::save).
    ///
    /// ```
    /// use candle_core::{Device, Var};
    /// use fadam_candle::{FAdam, ParamsFAdam};
    ///
    /// let w = Var::ones((3, 2), candle_core::DType::F32, &Device::Cpu)?;
    /// let b = Var::zeros(2, candle_core::DType::F32, &Device::Cpu)?;
    /// let groups = vec![ParamsFAdam::default(), ParamsFAdam { weight_decay: 0.0, ..Default::default() }];
    /// let opt = FAdam::with_groups(groups, [("w".to_string(), w, 0), ("b".to_string(), b, 1)])?;
    /// assert_eq!(opt.names().collect::<Vec<_>>(), ["w", "b"]);
    /// # Ok::<(), fadam_candle::FAdamError>(())
    /// ```
    ///
    /// # Errors
    /// [`FAdamError::Config`] for an invalid config,
    /// [`FAdamError::UnknownGroup`], [`FAdamError::DuplicateName`],
    /// [`FAdamError::UnsupportedDType`] for a float var of another dtype
    /// than `f16`, `bf16`, `f32`, `f64`.
    pub fn with_groups(
        groups: Vec<ParamsFAdam>,
        vars: impl IntoIterator<Item = (String, Var, usize)>,
    ) -> Result<Self> {
        for (group, config) in groups.iter().enumerate() {
            config
                .validate()
                .map_err(|error| FAdamError::Config { group, error })?;
        }
        let mut slots: Vec<Slot> = Vec::new();
        for (name, var, group) in vars {
            let dtype = var.dtype();
            if !dtype.is_float() {
                continue;
            }
            if !matches!(dtype, DType::F16 | DType::BF16 | DType::F32 | DType::F64) {
                return Err(FAdamError::UnsupportedDType { var: name, dtype });
            }
            if group >= groups.len() {
                return Err(FAdamError::UnknownGroup {
                    var: name,
                    group,
                    groups: groups.len(),
                });
            }
            if slots
                .iter()
                .any(|s| s.name == name || s.var.id() == var.id())
            {
                return Err(FAdamError::DuplicateName { name });
            }
            let mut dims = vec![2];
            dims.extend_from_slice(var.dims());
            let state = Tensor::zeros(dims, state_dtype(dtype), var.device())?;
            slots.push(Slot {
                name,
                var,
                group,
                state,
                step: 0,
                device: None,
            });
        }
        Ok(Self {
            groups,
            slots,
            path: StepPath::Auto,
        })
    }

    /// An optimizer over the vars of a [`VarMap`], named as there and in
    /// name order (so that a checkpoint maps back to the same vars), all in
    /// one group.
    ///
    /// # Errors
    /// As [`with_groups`](Self::with_groups).
    pub fn from_varmap(varmap: &VarMap, params: ParamsFAdam) -> Result<Self> {
        Self::from_varmap_groups(varmap, vec![params], |_| 0)
    }

    /// As [`from_varmap`](Self::from_varmap), with parameter groups:
    /// `group_of` gives each var's group from its name.
    ///
    /// ```
    /// use candle_core::{DType, Device};
    /// use candle_nn::{VarBuilder, VarMap};
    /// use fadam_candle::{FAdam, ParamsFAdam};
    ///
    /// let varmap = VarMap::new();
    /// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    /// let _ = candle_nn::linear(4, 3, vb.pp("fc"))?;
    /// let no_decay = ParamsFAdam { weight_decay: 0.0, ..Default::default() };
    /// let opt = FAdam::from_varmap_groups(&varmap, vec![ParamsFAdam::default(), no_decay], |name| {
    ///     usize::from(name.ends_with("bias"))
    /// })?;
    /// assert_eq!(opt.names().collect::<Vec<_>>(), ["fc.bias", "fc.weight"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`with_groups`](Self::with_groups).
    pub fn from_varmap_groups(
        varmap: &VarMap,
        groups: Vec<ParamsFAdam>,
        group_of: impl Fn(&str) -> usize,
    ) -> Result<Self> {
        let mut named: Vec<(String, Var)> = {
            let data = varmap.data().lock().map_err(|_| {
                candle_core::Error::msg("fadam-candle: the VarMap lock is poisoned")
            })?;
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let vars = named.into_iter().map(|(name, var)| {
            let group = group_of(&name);
            (name, var, group)
        });
        Self::with_groups(groups, vars)
    }

    /// The parameter groups' configs; change them between steps (a
    /// schedule per group), every step validates them.
    pub fn groups_mut(&mut self) -> &mut [ParamsFAdam] {
        &mut self.groups
    }

    /// The parameter groups' configs.
    pub fn groups(&self) -> &[ParamsFAdam] {
        &self.groups
    }

    /// The vars' names, in the optimizer's order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().map(|s| s.name.as_str())
    }

    /// The implementation steps use.
    pub fn path(&self) -> StepPath {
        self.path
    }

    /// Chooses the implementation; the state carries over.
    ///
    /// # Errors
    /// A candle error when the device state cannot be read back.
    pub fn set_path(&mut self, path: StepPath) -> Result<()> {
        if path != self.path {
            self.settle()?;
            self.path = path;
        }
        Ok(())
    }

    /// Whether steps run `fadam_core` on the vars' CPU storage.
    fn on_core(&self) -> bool {
        self.path == StepPath::Auto && self.slots.iter().all(|s| s.var.device().is_cpu())
    }

    /// Reads back the tensor-op path's device step state into the host
    /// step counts (steps taken), so that both paths and the saved state
    /// see the same counts.
    pub(crate) fn settle(&mut self) -> Result<()> {
        for slot in &mut self.slots {
            if let Some(device) = slot.device.take() {
                slot.step -= device.refused()?;
            }
        }
        Ok(())
    }

    /// One step, returning this crate's typed error.
    ///
    /// # Errors
    /// Nothing is written on error. [`FAdamError::Config`],
    /// [`FAdamError::Refused`] (on the CPU path), the gradient checks
    /// ([`FAdamError::GradientShape`], [`FAdamError::GradientDType`],
    /// [`FAdamError::GradientDevice`]), or a candle error.
    pub fn try_step(&mut self, grads: &GradStore) -> Result<()> {
        for (group, config) in self.groups.iter().enumerate() {
            config
                .validate()
                .map_err(|error| FAdamError::Config { group, error })?;
        }
        let mut stepped = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(grad) = grads.get(&slot.var) else {
                continue;
            };
            let var = || slot.name.clone();
            if grad.dtype() != slot.var.dtype() {
                return Err(FAdamError::GradientDType {
                    var: var(),
                    expected: slot.var.dtype(),
                    found: grad.dtype(),
                });
            }
            if grad.shape() != slot.var.shape() {
                return Err(FAdamError::GradientShape {
                    var: var(),
                    expected: slot.var.shape().clone(),
                    found: grad.shape().clone(),
                });
            }
            if !grad.device().same_device(slot.var.device()) {
                return Err(FAdamError::GradientDevice { var: var() });
            }
            if slot.step == u64::MAX {
                return Err(FAdamError::Refused {
                    var: var(),
                    error: fadam_core::Error::StepOverflow { tensor: i },
                });
            }
            stepped.push((i, grad.contiguous()?));
        }
        if self.on_core() {
            self.settle()?;
            let mut plans = Vec::with_capacity(stepped.len());
            for (i, grad) in &stepped {
                let slot = &self.slots[*i];
                plans.push(cpu::plan(&self.groups[slot.group], *i, slot, grad)?);
            }
            for ((i, grad), plan) in stepped.iter().zip(plans) {
                plan.apply(&mut self.slots[*i], grad)?;
            }
            Ok(())
        } else {
            tensor_ops::step(&self.groups, &mut self.slots, &stepped)
        }
    }

    /// The refusals of the tensor-op path so far, read back from the
    /// device: `Ok` if no step was refused, else [`FAdamError::Refused`]
    /// naming the first var whose gradient was not finite (a refused step of
    /// the CPU path was already returned by the step itself).
    ///
    /// # Errors
    /// [`FAdamError::Refused`], or a candle error.
    pub fn check(&self) -> Result<()> {
        for (i, slot) in self.slots.iter().enumerate() {
            let faults = slot.device.as_ref().map_or(Ok(0), DeviceState::faults)?;
            if faults > 0 {
                return Err(FAdamError::Refused {
                    var: slot.name.clone(),
                    error: fadam_core::Error::NonFiniteGradient { tensor: i },
                });
            }
        }
        Ok(())
    }

    /// How many steps each var has taken (reads the device state back on
    /// the tensor-op path).
    ///
    /// # Errors
    /// A candle error.
    pub fn step_counts(&self) -> Result<Vec<(&str, u64)>> {
        self.slots
            .iter()
            .map(|s| {
                let refused = s.device.as_ref().map_or(Ok(0), DeviceState::refused)?;
                Ok((s.name.as_str(), s.step - refused))
            })
            .collect()
    }
}

impl Optimizer for FAdam {
    type Config = ParamsFAdam;

    /// The vars named by their position (`"0"`, `"1"`, ...), in one group.
    /// Use [`FAdam::from_varmap`] for state to be saved and loaded:
    /// `VarMap::all_vars` does not keep an order between runs.
    fn new(vars: Vec<Var>, config: ParamsFAdam) -> candle_core::Result<Self> {
        let named = vars
            .into_iter()
            .enumerate()
            .map(|(i, var)| (i.to_string(), var, 0));
        Ok(Self::with_groups(vec![config], named)?)
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        Ok(self.try_step(grads)?)
    }

    /// The learning rate of the first group.
    fn learning_rate(&self) -> f64 {
        self.groups.first().map_or(0.0, |g| g.lr)
    }

    /// Sets the learning rate of every group.
    fn set_learning_rate(&mut self, lr: f64) {
        for group in &mut self.groups {
            group.lr = lr;
        }
    }
}
