//! The host-side conveniences: reading and replacing the state, and a
//! step with parameters and gradients in host slices.

use fadam_core::{Buffer, State, validate_state};

use super::{ArenaBuffer, FAdamGpu, check_groups};
use crate::limits::{ELEM_BYTES, MAX_STEP, fit};
use crate::words::{ST_SEQ, ST_SKIPS, ST_STEP, STATUS_WORDS};
use crate::{Arena, Error};

/// The buffers [`FAdamGpu::step_slices`] uploads host slices to (made on
/// first use).
pub(super) struct HostArenas {
    params: ArenaBuffer,
    grads: ArenaBuffer,
}

/// `Err(LengthMismatch)` unless the slice of `buffer` has `expected`
/// elements.
pub(super) fn check_len(buffer: Arena, expected: u64, len: usize) -> Result<(), Error> {
    if len as u64 == expected {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            buffer,
            expected,
            found: len as u64,
        })
    }
}

impl FAdamGpu {
    /// Downloads the state: momentum and Fisher diagonal (arena layout) and
    /// the steps taken, once every submitted step is done. The blocking
    /// form of [`read_state_async`](Self::read_state_async) (not on
    /// `wasm32`).
    ///
    /// # Errors
    /// As [`read_state_async`](Self::read_state_async).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_state(&mut self) -> Result<State<f32>, Error> {
        pollster::block_on(self.read_state_async())
    }

    /// Downloads the state: momentum and Fisher diagonal (arena layout) and
    /// the steps taken, once every submitted step is done.
    ///
    /// # Errors
    /// [`Error::Device`] if a readback fails.
    pub async fn read_state_async(&mut self) -> Result<State<f32>, Error> {
        self.collect_all().await?;
        let bytes = self.layout.arena_len() * ELEM_BYTES;
        let momentum = self.read_buffer(&self.momentum, bytes).await?;
        let fisher = self.read_buffer(&self.fisher, bytes).await?;
        let (m, f) = (
            bytemuck::pod_collect_to_vec(&momentum),
            bytemuck::pod_collect_to_vec(&fisher),
        );
        Ok(State::from_parts_unchecked(m, f, self.confirmed_step))
    }

    /// Replaces the state (for example from a checkpoint): momentum and
    /// Fisher diagonal in arena layout, and the steps taken. Waits for
    /// every submitted step first. The blocking form of
    /// [`write_state_async`](Self::write_state_async) (not on `wasm32`).
    ///
    /// # Errors
    /// As [`write_state_async`](Self::write_state_async).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn write_state(
        &mut self,
        momentum: &[f32],
        fisher: &[f32],
        step: u64,
    ) -> Result<(), Error> {
        pollster::block_on(self.write_state_async(momentum, fisher, step))
    }

    /// Replaces the state (for example from a checkpoint): momentum and
    /// Fisher diagonal in arena layout, and the steps taken. Waits for
    /// every submitted step first.
    ///
    /// The state is checked as the core checks state from the outside
    /// ([`validate_state`]), tensor by tensor (values in the gaps between
    /// tensors are stored but never read by a step).
    ///
    /// # Errors
    /// Refused with nothing written: [`Error::LengthMismatch`]; the core's
    /// [`InvalidState`](fadam_core::Error::InvalidState) (in
    /// [`Error::Core`]) for a NaN or infinite momentum, or a negative, NaN
    /// or infinite Fisher value, naming the first such tensor;
    /// [`Error::TooLarge`] for a step count beyond `u32::MAX` (the GPU
    /// counts steps in 32 bits); [`Error::Device`].
    pub async fn write_state_async(
        &mut self,
        momentum: &[f32],
        fisher: &[f32],
        step: u64,
    ) -> Result<(), Error> {
        let expected = self.layout.arena_len();
        check_len(Arena::Other(Buffer::Momentum), expected, momentum.len())?;
        check_len(Arena::Other(Buffer::Fisher), expected, fisher.len())?;
        for (tensor, t) in self.layout.tensors().iter().enumerate() {
            // In range: the slices have `arena_len` elements.
            let r = t.offset as usize..(t.offset + t.len) as usize;
            validate_state(&momentum[r.clone()], &fisher[r]).map_err(|e| e.with_tensor(tensor))?;
        }
        fit("step counter", step, MAX_STEP)?;
        self.collect_all().await?;
        let guard = super::guard::Guard::push(&self.device);
        self.queue
            .write_buffer(&self.momentum, 0, bytemuck::cast_slice(momentum));
        self.queue
            .write_buffer(&self.fisher, 0, bytemuck::cast_slice(fisher));
        let mut status = [0u32; STATUS_WORDS];
        status[ST_STEP] = step as u32;
        status[ST_SKIPS] = self.confirmed_skips as u32;
        status[ST_SEQ] = self.calls as u32;
        self.queue
            .write_buffer(&self.buffers.status, 0, bytemuck::cast_slice(&status));
        self.queue.submit([]);
        if let Some(e) = guard.pop().await {
            return Err(Error::Device(e.to_string()));
        }
        self.confirmed_step = step;
        Ok(())
    }

    /// The convenience path for parameters and gradients on the host:
    /// uploads both (arena layout), steps, downloads the parameters into
    /// `params`. The blocking form of
    /// [`step_slices_async`](Self::step_slices_async) (not on `wasm32`).
    ///
    /// # Errors
    /// As [`step_slices_async`](Self::step_slices_async).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn step_slices(&mut self, params: &mut [f32], grads: &[f32]) -> Result<(), Error> {
        pollster::block_on(self.step_slices_async(params, grads))
    }

    /// The convenience path for parameters and gradients on the host:
    /// uploads both (arena layout), steps, downloads the parameters into
    /// `params` once the step is done.
    ///
    /// ```no_run
    /// # async fn run(opt: &mut fadam_wgpu::FAdamGpu) -> Result<(), fadam_wgpu::Error> {
    /// let mut params = vec![0.5f32; opt.layout().arena_len() as usize];
    /// let grads = vec![0.01f32; params.len()];
    /// opt.step_slices_async(&mut params, &grads).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`step`](Self::step), plus [`Error::LengthMismatch`]; and
    /// [`fadam_core::Error::NonFiniteGradient`] or
    /// [`fadam_core::Error::FisherOverflow`] (in [`Error::Core`]) when the
    /// GPU skipped the step (then `params` and the state are unchanged).
    pub async fn step_slices_async(
        &mut self,
        params: &mut [f32],
        grads: &[f32],
    ) -> Result<(), Error> {
        let expected = self.layout.arena_len();
        check_len(Arena::Params, expected, params.len())?;
        check_len(Arena::Other(Buffer::Gradient), expected, grads.len())?;
        check_groups(&self.groups)?;
        if self.host_arenas.is_none() {
            self.host_arenas = Some(HostArenas {
                params: self.create_buffer(Arena::Params)?,
                grads: self.create_buffer(Arena::Other(Buffer::Gradient))?,
            });
        }
        let HostArenas {
            params: p,
            grads: g,
        } = self.host_arenas.as_ref().expect("made above");
        let (p, g) = (p.clone(), g.clone());
        self.collect_all().await?;
        self.queue
            .write_buffer(&p.buffer, 0, bytemuck::cast_slice(params));
        self.queue
            .write_buffer(&g.buffer, 0, bytemuck::cast_slice(grads));
        let call = self.step_async(&p, &g).await?;
        self.collect_all().await?;
        self.report_of(call)?.result()?;
        let bytes = self.read_buffer(&p.buffer, expected * ELEM_BYTES).await?;
        params.copy_from_slice(&bytemuck::pod_collect_to_vec::<u8, f32>(&bytes));
        Ok(())
    }
}
