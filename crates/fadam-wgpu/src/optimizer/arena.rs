//! The parameter and gradient buffers an optimizer makes and accepts.
//!
//! wgpu cannot say which device a `wgpu::Buffer` belongs to, and compares
//! buffers by their id within an instance: a buffer of another device (or
//! of another `wgpu::Instance`, whose ids collide with this one's) passed
//! to a step would bind whatever this device's buffer of that id is, or
//! panic inside wgpu. So a step takes only [`ArenaBuffer`]s, which the
//! optimizer itself creates on its device and marks as its own.

use std::sync::Arc;

use super::FAdamGpu;
use crate::limits::{ELEM_BYTES, MIN_BUFFER_BYTES};
use crate::{Arena, Error};

/// The mark of the optimizer that made a buffer: compared by address.
#[derive(Debug)]
pub(super) struct Owner;

/// A buffer holding one arena (parameters or gradients) in the optimizer's
/// [`Layout`](crate::Layout), made by [`FAdamGpu::create_buffer`] on the
/// optimizer's device with `STORAGE | COPY_SRC | COPY_DST` usage.
///
/// Bind [`buffer`](Self::buffer) in your own passes (the forward and
/// backward passes that read the parameters and write the gradients), or
/// copy into it; [`FAdamGpu::step`] steps it in place. Only the optimizer
/// that made it accepts it (any other, even on the same device, refuses it
/// with [`Error::ForeignBuffer`]). Clones share the buffer.
#[derive(Clone, Debug)]
pub struct ArenaBuffer {
    pub(super) buffer: wgpu::Buffer,
    pub(super) owner: Arc<Owner>,
}

impl ArenaBuffer {
    /// The wgpu buffer, to bind or copy into on the optimizer's device.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }
}

impl FAdamGpu {
    /// A zeroed buffer for an arena on the optimizer's device, which
    /// [`step`](Self::step) accepts. `arena` names it (its label, and
    /// errors about it).
    ///
    /// ```no_run
    /// use fadam_core::FAdamConfig;
    /// use fadam_wgpu::{Arena, Buffer, FAdamGpu, Layout};
    ///
    /// let (device, queue, _info) = fadam_wgpu::request_device()?;
    /// let mut opt = FAdamGpu::new(&device, &queue, Layout::packed([(100, 0)])?, &[FAdamConfig::new()])?;
    /// let params = opt.create_buffer_init(Arena::Params, &[0.5; 100])?;
    /// let grads = opt.create_buffer(Arena::Other(Buffer::Gradient))?;
    /// // ... your backward pass writes `grads.buffer()` ...
    /// opt.step(&params, &grads)?;
    /// # Ok::<(), fadam_wgpu::Error>(())
    /// ```
    ///
    /// # Errors
    /// Natively [`Error::Device`] when the device cannot make it (out of
    /// memory). In a browser, where nothing may wait, such an error
    /// arrives with the report of the first step that uses the buffer.
    pub fn create_buffer(&self, arena: Arena) -> Result<ArenaBuffer, Error> {
        let label = format!("fadam {arena}");
        let guard = super::guard::Guard::push(&self.device);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&label),
            size: (self.layout.arena_len() * ELEM_BYTES).max(MIN_BUFFER_BYTES),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        guard.check()?;
        Ok(ArenaBuffer {
            buffer,
            owner: Arc::clone(&self.owner),
        })
    }

    /// A buffer for an arena holding `data` (arena layout), as
    /// [`create_buffer`](Self::create_buffer) makes it.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless `data` has
    /// [`arena_len`](crate::Layout::arena_len) elements; as
    /// [`create_buffer`](Self::create_buffer).
    pub fn create_buffer_init(&self, arena: Arena, data: &[f32]) -> Result<ArenaBuffer, Error> {
        super::host::check_len(arena, self.layout.arena_len(), data.len())?;
        let made = self.create_buffer(arena)?;
        self.queue
            .write_buffer(&made.buffer, 0, bytemuck::cast_slice(data));
        Ok(made)
    }

    /// `Err(ForeignBuffer)` unless this optimizer made `buffer`.
    pub(super) fn check_own(&self, arena: Arena, buffer: &ArenaBuffer) -> Result<(), Error> {
        if Arc::ptr_eq(&buffer.owner, &self.owner) {
            Ok(())
        } else {
            Err(Error::ForeignBuffer { buffer: arena })
        }
    }
}
