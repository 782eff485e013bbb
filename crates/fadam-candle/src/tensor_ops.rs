//! The step in candle tensor operations, for devices whose storage is not
//! reachable as slices (CUDA, Metal): `fadam_core`'s update, matched op by
//! op, with nothing read back to the host.
//!
//! A refusal cannot be returned without a read-back, so it is carried out
//! on the device: every new value is selected between the updated and the
//! old one by a flag that is 1 only if every stepped var's Fisher diagonal
//! is finite (a NaN or infinity in a gradient, or a square that overflows,
//! makes it not). The per-step constants come from the host for the step
//! count `t`; after a refused step the host no longer knows `t`, and the
//! bias corrections come from a recurrence on the device (see
//! [`DeviceState`]).

use candle_core::{DType, Tensor};
use fadam_core::{EpsilonRule, MomentumMode, StepScalars};

use crate::optimizer::Slot;
use crate::{ParamsFAdam, Result};

/// Device-side step state of one var: scalars of the state dtype.
#[derive(Debug)]
pub(crate) struct DeviceState {
    /// Refused steps of this var: steps taken = calls - refused.
    refused: Tensor,
    /// Steps refused because this var's own gradient was not finite.
    faults: Tensor,
    /// `1 - β1^t` and `1 - β2^t` of the steps taken, by recurrence.
    bias1: Tensor,
    bias2: Tensor,
}

fn read_count(t: &Tensor) -> Result<u64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()? as u64)
}

impl DeviceState {
    /// The state of a var that has taken `steps` steps.
    fn new(slot: &Slot, config: &ParamsFAdam) -> Result<Self> {
        let zero = Tensor::zeros((), slot.state.dtype(), slot.var.device())?;
        let t = slot.step as f64;
        Ok(Self {
            bias1: zero.affine(0.0, 1.0 - libm::pow(config.beta1, t))?,
            bias2: zero.affine(0.0, 1.0 - libm::pow(config.beta2, t))?,
            refused: zero.clone(),
            faults: zero,
        })
    }

    /// Reads back the number of refused steps.
    pub(crate) fn refused(&self) -> Result<u64> {
        read_count(&self.refused)
    }

    /// Reads back the number of steps this var's gradient refused.
    pub(crate) fn faults(&self) -> Result<u64> {
        read_count(&self.faults)
    }
}

/// Per-var values between the two passes.
struct Pending {
    theta: Tensor,
    momentum: Tensor,
    grad: Tensor,
    fisher: Tensor,
    /// The per-step constants that may come from the device recurrence.
    exact: Tensor,
    bias1: Tensor,
    bias2: Tensor,
    /// 1 (u8) if the new Fisher diagonal is finite, else 0.
    finite: Tensor,
}

/// A scalar tensor of value `c`, made on the device from a finite scalar
/// `like` (no upload).
fn konst(like: &Tensor, c: f64) -> Result<Tensor> {
    Ok(like.affine(0.0, c)?)
}

/// `RMS(x)` of a non-empty flat tensor, in the dtype of `one`. An `f32`
/// tensor with `f64` scalars (every device but Metal) is summed in `f64`,
/// where no square can overflow or underflow, as fadam-core sums; otherwise
/// it is scaled by its largest magnitude first, as BLAS `nrm2` does (0 for
/// an all-zero tensor).
fn rms(x: &Tensor, one: &Tensor) -> Result<Tensor> {
    if x.dtype() != one.dtype() {
        return Ok(x.to_dtype(one.dtype())?.sqr()?.mean_all()?.sqrt()?);
    }
    let max = x.abs()?.max_all()?;
    let safe = max.eq(&konst(one, 0.0)?)?.where_cond(one, &max)?;
    Ok(x.broadcast_div(&safe)?
        .sqr()?
        .mean_all()?
        .sqrt()?
        .mul(&max)?)
}

/// The dtype of the per-tensor scalars (RMS, epsilon, clip factors): `f64`
/// where the device has it, as fadam-core computes them.
fn scalar_dtype(work: DType, device: &candle_core::Device) -> DType {
    if device.is_metal() { work } else { DType::F64 }
}

/// `min(1, c / rms)`, 0 for a NaN RMS; 1 without clipping.
fn clip_factor(rms: Tensor, clip: Option<f64>, one: &Tensor) -> Result<Tensor> {
    let Some(c) = clip else {
        return Ok(one.clone());
    };
    let s = konst(one, c)?.div(&rms)?.minimum(one)?;
    Ok(s.eq(&s)?.where_cond(&s, &konst(one, 0.0)?)?)
}

/// `f^p`.
fn power(f: &Tensor, p: f64) -> Result<Tensor> {
    Ok(match p {
        0.5 => f.sqrt()?,
        1.0 => f.clone(),
        p => f.powf(p)?,
    })
}

/// The epsilon as a scalar tensor, from the effective gradient `g`.
fn epsilon(c: &ParamsFAdam, g: &Tensor, one: &Tensor, floor: f64) -> Result<Tensor> {
    let fallback = konst(one, c.epsilon_fallback(floor))?;
    let floor = konst(one, floor)?;
    if c.epsilon_rule == EpsilonRule::Fixed || g.elem_count() == 0 {
        return Ok(fallback);
    }
    let r = rms(g, one)?;
    let zero = konst(one, 0.0)?;
    Ok(match c.epsilon_rule {
        EpsilonRule::Adaptive => {
            let s = r.affine(c.eps2, 0.0)?;
            let small = s.gt(&zero)?.mul(&s.lt(&konst(one, c.eps)?)?)?;
            small
                .where_cond(&power(&s, 2.0 * c.fisher_power)?, &fallback)?
                .maximum(&floor)?
        }
        _ => {
            let v3 = r.minimum(one)?.affine(c.eps, 0.0)?.maximum(&floor)?;
            r.gt(&zero)?.where_cond(&v3, &fallback)?
        }
    })
}

/// Pass 1 of one var: the effective gradient, the new Fisher diagonal and
/// whether it is finite.
fn prepare(c: &ParamsFAdam, k: &StepScalars, slot: &Slot, grad: &Tensor) -> Result<Pending> {
    let device = slot
        .device
        .as_ref()
        .ok_or_else(|| candle_core::Error::msg("fadam-candle: the device state is missing"))?;
    let work = slot.state.dtype();
    let theta = slot.var.as_tensor().to_dtype(work)?.flatten_all()?;
    let n = theta.elem_count();
    let momentum = slot.state.narrow(0, 0, 1)?.flatten_all()?;
    let fisher = slot.state.narrow(0, 1, 1)?.flatten_all()?;
    let mut g = grad.to_dtype(work)?.flatten_all()?.affine(k.sign, 0.0)?;
    if k.l2 != 0.0 {
        g = g.add(&theta.affine(k.l2, 0.0)?)?;
    }
    // Host constants while no step of this var was refused, else the
    // device recurrence of 1 - β^t.
    let refused = &device.refused;
    let exact = refused.eq(&konst(refused, 0.0)?)?;
    let bias1 = device.bias1.affine(c.beta1, 1.0 - c.beta1)?;
    let bias2 = device.bias2.affine(c.beta2, 1.0 - c.beta2)?;
    let b2 = exact.where_cond(
        &konst(refused, k.b2)?,
        &device.bias2.affine(c.beta2, 0.0)?.div(&bias2)?,
    )?;
    let one_minus_b2 = exact.where_cond(
        &konst(refused, k.one_minus_b2)?,
        &bias2.recip()?.affine(1.0 - c.beta2, 0.0)?,
    )?;
    // As fadam-core: f·b2 + (1 - b2)·g·g.
    let fisher = fisher
        .broadcast_mul(&b2)?
        .add(&g.broadcast_mul(&one_minus_b2)?.mul(&g)?)?;
    let finite = if n == 0 {
        konst(refused, 1.0)?.to_dtype(DType::U8)?
    } else {
        fisher.sub(&fisher)?.sum_all()?.eq(&konst(refused, 0.0)?)?
    };
    Ok(Pending {
        theta,
        momentum,
        grad: g,
        fisher,
        exact,
        bias1,
        bias2,
        finite,
    })
}

/// Pass 2 of one var: the update, kept only if `ok`.
fn apply(c: &ParamsFAdam, k: &StepScalars, slot: &mut Slot, p: Pending, ok: &Tensor) -> Result<()> {
    let device = slot
        .device
        .as_mut()
        .ok_or_else(|| candle_core::Error::msg("fadam-candle: the device state is missing"))?;
    let one = konst(&device.refused, 1.0)?;
    let n = p.theta.elem_count();
    let floor = if slot.state.dtype() == DType::F64 {
        f64::MIN_POSITIVE
    } else {
        f64::from(f32::MIN_POSITIVE)
    };
    let g = &p.grad;
    let one_s = one.to_dtype(scalar_dtype(one.dtype(), one.device()))?;
    let work = one.dtype();
    let e = epsilon(c, g, &one_s, floor)?.to_dtype(work)?;
    let d = power(&p.fisher, c.fisher_power)?.broadcast_add(&e)?;
    // The sums square g·(1/d) and θ·(1/d), as fadam-core's do.
    let inv = d.recip()?;
    let natural_m = c.momentum == MomentumMode::Natural;
    let input = if natural_m {
        let s = if n == 0 {
            one.clone()
        } else {
            clip_factor(rms(&g.mul(&inv)?, &one_s)?, c.clip, &one_s)?.to_dtype(work)?
        };
        g.mul(&s.broadcast_div(&d)?)?
    } else {
        g.clone()
    };
    // fadam-core's lerp: exact at β1 = 0.
    let weight = 1.0 - c.beta1;
    let diff = input.sub(&p.momentum)?;
    let momentum = if weight < 0.5 {
        p.momentum.add(&diff.affine(weight, 0.0)?)?
    } else {
        input.add(&diff.affine(weight - 1.0, 0.0)?)?
    };
    let mut dir = if natural_m {
        momentum.clone()
    } else {
        momentum.div(&d)?
    };
    // Adam momentum: θ -= η/(1 - β1^t) · (m/d + (1 - β1^t)·λ·w).
    let adam = |host: f64, recurrence: Tensor| -> Result<Tensor> {
        Ok(p.exact.where_cond(&konst(&one, host)?, &recurrence)?)
    };
    if k.natural_decay != 0.0 {
        let s = if n == 0 {
            one.clone()
        } else {
            clip_factor(rms(&p.theta.mul(&inv)?, &one_s)?, c.clip, &one_s)?.to_dtype(work)?
        };
        let w = p.theta.mul(&s.broadcast_div(&d)?)?;
        let strength = if natural_m {
            konst(&one, k.natural_decay)?
        } else {
            adam(k.natural_decay, p.bias1.affine(c.weight_decay, 0.0)?)?
        };
        dir = dir.add(&w.broadcast_mul(&strength)?)?;
    }
    let lr = if natural_m {
        konst(&one, k.lr)?
    } else {
        adam(k.lr, p.bias1.recip()?.affine(c.lr, 0.0)?)?
    };
    let updated = p
        .theta
        .affine(k.decoupled_keep, 0.0)?
        .sub(&dir.broadcast_mul(&lr)?)?;

    // A refused step keeps every old value.
    let wide = ok.broadcast_as(n)?;
    let theta = wide.where_cond(&updated, &p.theta)?;
    let momentum = wide.where_cond(&momentum, &p.momentum)?;
    let fisher = wide.where_cond(&p.fisher, &slot.state.narrow(0, 1, 1)?.flatten_all()?)?;
    let state = Tensor::stack(&[momentum, fisher], 0)?.reshape(slot.state.shape())?;
    slot.var.set(
        &theta
            .to_dtype(slot.var.dtype())?
            .reshape(slot.var.shape())?,
    )?;
    slot.state = state;
    let not = |flag: &Tensor| -> Result<Tensor> { Ok(flag.to_dtype(work)?.affine(-1.0, 1.0)?) };
    device.refused = device.refused.add(&not(ok)?)?;
    device.faults = device.faults.add(&not(&p.finite)?)?;
    device.bias1 = ok.where_cond(&p.bias1, &device.bias1)?;
    device.bias2 = ok.where_cond(&p.bias2, &device.bias2)?;
    slot.step += 1;
    Ok(())
}

/// One step of the vars `stepped` (slot index, contiguous gradient).
pub(crate) fn step(
    groups: &[ParamsFAdam],
    slots: &mut [Slot],
    stepped: &[(usize, Tensor)],
) -> Result<()> {
    let mut pending = Vec::with_capacity(stepped.len());
    for (i, grad) in stepped {
        let slot = &mut slots[*i];
        let config = &groups[slot.group];
        if slot.device.is_none() {
            slot.device = Some(DeviceState::new(slot, config)?);
        }
        let k = StepScalars::new(config, slot.step + 1);
        pending.push(prepare(config, &k, slot, grad)?);
    }
    if pending.is_empty() {
        return Ok(());
    }
    // The flags are combined in f32, which every backend reduces (and vars
    // of different dtypes share).
    let flags = pending
        .iter()
        .map(|p| p.finite.to_dtype(DType::F32))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let all = Tensor::stack(&flags, 0)?.min_all()?;
    let ok = all.ne(&konst(&all, 0.0)?)?;
    for ((i, _), p) in stepped.iter().zip(pending) {
        let slot = &mut slots[*i];
        let config = &groups[slot.group];
        let k = StepScalars::new(config, slot.step + 1);
        apply(config, &k, slot, p, &ok)?;
    }
    Ok(())
}
