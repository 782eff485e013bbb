//! Saving and loading the optimizer state, in safetensors (candle's own
//! format).
//!
//! Per var `NAME`: `NAME.momentum` and `NAME.fisher` (the var's shape, `f32`
//! or for `f64` vars `f64`) and `NAME.step`, the number of steps taken (an
//! `i64` scalar holding the bits of the `u64` count).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Shape, Tensor};

use crate::optimizer::state_dtype;
use crate::{FAdam, FAdamError, Result};

const PARTS: [&str; 3] = ["momentum", "fisher", "step"];

impl FAdam {
    /// The state as named tensors, on the vars' devices: what
    /// [`save`](Self::save) writes.
    ///
    /// # Errors
    /// A candle error (reading back the tensor-op path's step counts).
    pub fn state_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let counts = self.step_counts()?;
        let mut map = HashMap::new();
        for (slot, (_, steps)) in self.slots.iter().zip(counts) {
            let shape = slot.var.shape();
            // Copies: the CPU path writes the state in place.
            let part = |i: usize| {
                slot.state
                    .narrow(0, i, 1)
                    .and_then(|t| t.reshape(shape))
                    .and_then(|t| t.copy())
            };
            map.insert(format!("{}.momentum", slot.name), part(0)?);
            map.insert(format!("{}.fisher", slot.name), part(1)?);
            let bits = i64::from_ne_bytes(steps.to_ne_bytes());
            map.insert(
                format!("{}.step", slot.name),
                Tensor::new(bits, slot.var.device())?,
            );
        }
        Ok(map)
    }

    /// Saves the state to a safetensors file. Together with the vars (for
    /// example `VarMap::save`), it resumes training bit-identically on the
    /// CPU path.
    ///
    /// ```
    /// use candle_core::{DType, Device, Tensor, Var};
    /// use candle_core::backprop::GradStore;
    /// use fadam_candle::{FAdam, ParamsFAdam};
    ///
    /// let w = Var::ones(3, DType::F32, &Device::Cpu)?;
    /// let mut opt = FAdam::with_groups(vec![ParamsFAdam::default()], [("w".into(), w.clone(), 0)])?;
    /// let mut grads = GradStore::default();
    /// grads.insert(&w, Tensor::new(&[0.1f32, -0.2, 0.3], &Device::Cpu)?);
    /// opt.try_step(&grads)?;
    ///
    /// let file = std::env::temp_dir().join("fadam-candle-doctest.safetensors");
    /// opt.save(&file)?;
    /// let mut fresh = FAdam::with_groups(vec![ParamsFAdam::default()], [("w".into(), w, 0)])?;
    /// fresh.load(&file)?;
    /// assert_eq!(fresh.step_counts()?, [("w", 1)]);
    /// # std::fs::remove_file(&file).ok();
    /// # Ok::<(), fadam_candle::FAdamError>(())
    /// ```
    ///
    /// # Errors
    /// A candle error (an I/O error included).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        candle_core::safetensors::save(&self.state_tensors()?, path)?;
        Ok(())
    }

    /// Loads state saved by [`save`](Self::save) for vars of the same
    /// names, shapes and dtypes.
    ///
    /// # Errors
    /// Nothing changes on error. [`FAdamError::MissingState`],
    /// [`FAdamError::UnexpectedState`], [`FAdamError::StateShape`],
    /// [`FAdamError::StateDType`], or a candle error (an I/O error, a
    /// malformed file).
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let map = candle_core::safetensors::load(path, &candle_core::Device::Cpu)?;
        self.load_state_tensors(map)
    }

    /// Loads state given as named tensors (as
    /// [`state_tensors`](Self::state_tensors) returns them, on any device).
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_state_tensors(&mut self, mut map: HashMap<String, Tensor>) -> Result<()> {
        let mut loaded = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            let mut take = |part: &str, shape: &Shape, dtype: DType| -> Result<Tensor> {
                let name = format!("{}.{part}", slot.name);
                let tensor = map
                    .remove(&name)
                    .ok_or_else(|| FAdamError::MissingState { name: name.clone() })?;
                if tensor.shape() != shape {
                    return Err(FAdamError::StateShape {
                        name,
                        expected: shape.clone(),
                        found: tensor.shape().clone(),
                    });
                }
                if tensor.dtype() != dtype {
                    return Err(FAdamError::StateDType {
                        name,
                        expected: dtype,
                        found: tensor.dtype(),
                    });
                }
                Ok(tensor)
            };
            let dtype = state_dtype(slot.var.dtype());
            let [m, f, s] = PARTS;
            let momentum = take(m, slot.var.shape(), dtype)?;
            let fisher = take(f, slot.var.shape(), dtype)?;
            let step = take(s, &Shape::from(()), DType::I64)?.to_scalar::<i64>()?;
            loaded.push((momentum, fisher, u64::from_ne_bytes(step.to_ne_bytes())));
        }
        if let Some(name) = map.into_keys().min() {
            return Err(FAdamError::UnexpectedState { name });
        }
        // Everything is checked: build the new state, then swap it in.
        let mut states = Vec::with_capacity(loaded.len());
        for (slot, (momentum, fisher, _)) in self.slots.iter().zip(&loaded) {
            let device = slot.var.device();
            let state = Tensor::stack(&[momentum, fisher], 0)?
                .to_device(device)?
                .contiguous()?;
            // A fresh allocation: the state is written in place.
            states.push(state.copy()?);
        }
        for ((slot, (_, _, step)), state) in self.slots.iter_mut().zip(loaded).zip(states) {
            slot.state = state;
            slot.step = step;
            slot.device = None;
        }
        Ok(())
    }
}
