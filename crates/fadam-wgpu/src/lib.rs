//! The [FAdam](https://arxiv.org/abs/2405.12807) optimizer step as WGSL
//! compute shaders through [`wgpu`]: the same function as
//! [`fadam_core::step_model`], for a whole model on the GPU.
//!
//! - **In place, on your device.** [`FAdamGpu::step`] steps the parameter
//!   buffer you train with, using the gradient buffer you computed, with no
//!   host round trip and without blocking. The optimizer makes both
//!   ([`FAdamGpu::create_buffer`], an [`ArenaBuffer`] your passes bind):
//!   wgpu cannot tell which device a buffer belongs to, so a step accepts
//!   only buffers its optimizer made ([`Error::ForeignBuffer`] otherwise). [`FAdamGpu::step_slices_async`]
//!   (blocking natively: `step_slices`) is the convenience for host slices.
//! - **A framework's tensors, too.** [`TensorStep`] runs the same passes
//!   on one tensor whose parameters, gradient and state are buffers a
//!   framework made on the same device (burn's wgpu backend, through
//!   `fadam-burn`), with the step count kept in the framework's state: 7
//!   dispatches per tensor, in place.
//! - **Whole models in a fixed number of dispatches.** The tensors of a
//!   model lie in one arena per role (parameters, gradients, momentum,
//!   Fisher diagonal) as a [`Layout`] says; a step is `3·w + 3` dispatches
//!   (`w` = 1 unless the arena exceeds the device's storage binding size,
//!   then it is stepped in `w` windows), whatever the number of tensors.
//!   Each tensor has its own RMS values and the [`FAdamConfig`] of its
//!   group.
//! - **All of the core's switches**: [`EpsilonRule`], [`MomentumMode`],
//!   [`DecayMode`], clipping on and off, `maximize`.
//! - **All or nothing.** A refused step ([`Error`]) submits nothing. A
//!   non-finite gradient or parameter anywhere, or a state value no step
//!   can have written (a NaN or infinite momentum, a negative or
//!   non-finite Fisher value), makes the GPU skip the whole step, in every
//!   mode, as the core refuses it: the parameters, the state and the step
//!   counter stay as they were, and the [`StepReport`] says why
//!   ([`SkipReason`]; [`FAdamGpu::poll`] never blocks).
//! - **Finite inputs give finite outputs**: every sum of squares is kept
//!   as `s·2^k` (`nrm2`-style scaling), so it cannot overflow `f32`; tiny
//!   and all-zero gradients fall back as the core does.
//! - **Deterministic**: no float atomics, fixed reduction trees and fold
//!   orders; the same inputs give the same bits on every run on a device.
//!
//! # Passes
//!
//! Tensors are cut into chunks of at most 4096 elements that never straddle
//! a tensor. Pass 1 (one workgroup per chunk) sums `g²`, and `(g/d)²`,
//! `(θ/d)²` with the epsilon the rule gives unless `RMS(g)` is small, in one
//! read. Pass 2 (one workgroup per tensor) folds a tensor's partial sums in
//! chunk order, computes `RMS(g)`, the epsilon and the clip factors. Where
//! the epsilon guess was wrong (tiny gradients, rare), pass 1 and 2 run
//! again for those tensors only (the other workgroups return at once). Then
//! the update pass. The step's constants that depend on the step counter
//! (`b2`, Adam's bias correction) are the core's
//! [`StepScalars`](fadam_core::StepScalars), computed on the host in `f64`; the
//! counter itself lives on the GPU, so the host sends the constants for
//! every count the GPU may be at until its reports arrive.
//!
//! Reductions use workgroup memory only, not subgroup operations: subgroup
//! sizes differ between devices and drivers, and a fixed tree gives the
//! same bits wherever the shader compiles the same way.
//!
//! A step moves 44 bytes per parameter in every mode: pass 1 reads `g`,
//! `θ`, `m`, `f` (the state and the parameters are checked in every mode);
//! the update reads `θ`, `g`, `m`, `f` and writes `θ`, `m`, `f`.
//!
//! # Example
//!
//! ```no_run
//! use fadam_core::FAdamConfig;
//! use fadam_wgpu::{FAdamGpu, Layout};
//!
//! let (device, queue, info) = fadam_wgpu::request_device()?;
//! println!("stepping on {}", info.name);
//! let layout = Layout::packed([(1000, 0), (10, 1)])?;
//! let groups = [FAdamConfig::new(), FAdamConfig::new().with_weight_decay(0.0)];
//! let mut opt = FAdamGpu::new(&device, &queue, layout, &groups)?;
//! let mut params = vec![1.0f32; 1010];
//! let grads = vec![0.1f32; 1010];
//! opt.step_slices(&mut params, &grads)?;
//! assert!(params[0] < 1.0);
//! # Ok::<(), fadam_wgpu::Error>(())
//! ```
//!
//! # In a browser
//!
//! On `wasm32-unknown-unknown` the crate uses wgpu's WebGPU backend. Nothing
//! may block there: use the async forms ([`request_device_async`],
//! [`FAdamGpu::step_slices_async`], [`FAdamGpu::read_state_async`],
//! [`FAdamGpu::write_state_async`], [`FAdamGpu::wait_async`],
//! [`FAdamGpu::step_async`]); the blocking ones exist natively only, where
//! they call the async forms. [`FAdamGpu::step`] and [`FAdamGpu::poll`]
//! never block; in a browser a full queue of pending steps makes `step`
//! refuse with [`Error::WouldBlock`].
//!
//! # Limits
//!
//! `f32` parameters and state. At most 2^29 tensors of at most 2^32 − 1
//! elements; the state arenas must fit the device's `max_buffer_size`
//! (else [`Error::TooLarge`]). The step counter is 32-bit on the GPU:
//! it reaches `u32::MAX`, and the step after that is refused
//! ([`Error::TooLarge`]). Parameters and gradients must be separate
//! [`ArenaBuffer`]s of the optimizer. Every size and count computed from
//! a [`Layout`] or [`Options`] is checked: too large gives
//! [`Error::TooLarge`], never an overflow.

mod error;
mod layout;
mod limits;
mod optimizer;
mod pipelines;
mod tables;
mod tensor_step;
mod words;

pub use error::{Arena, Error};
pub use fadam_core::{
    Buffer, ConfigError, DecayMode, EpsilonRule, FAdamConfig, MomentumMode, State,
};
pub use layout::{Layout, TensorSpec};
pub use limits::Options;
pub use optimizer::{ArenaBuffer, FAdamGpu, SkipReason, StepReport};
pub use tensor_step::{TensorBuffers, TensorStep};
pub use wgpu;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// A device and queue on the first adapter wgpu finds (high-performance
/// preference), with the adapter's own limits (so that large arenas bind
/// whole where the hardware allows) and timestamp queries where available.
/// The blocking form of [`request_device_async`] (not on `wasm32`).
///
/// # Errors
/// As [`request_device_async`].
#[cfg(not(target_arch = "wasm32"))]
pub fn request_device() -> Result<(wgpu::Device, wgpu::Queue, wgpu::AdapterInfo), Error> {
    pollster::block_on(request_device_async())
}

/// A device and queue on the first adapter wgpu finds (high-performance
/// preference), with the adapter's own limits (so that large arenas bind
/// whole where the hardware allows) and timestamp queries where available.
/// Natively a Vulkan, Metal or DX12 adapter; on `wasm32` the browser's
/// WebGPU adapter.
///
/// ```no_run
/// # async fn run() -> Result<(), fadam_wgpu::Error> {
/// let (device, queue, info) = fadam_wgpu::request_device_async().await?;
/// println!("stepping on {}", info.name);
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::NoAdapter`] when there is none (in a browser without WebGPU),
/// [`Error::Device`] when the device cannot be created.
pub async fn request_device_async() -> Result<(wgpu::Device, wgpu::Queue, wgpu::AdapterInfo), Error>
{
    let instance = wgpu::Instance::default();
    let adapter = instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::NoAdapter(e.to_string()))?;
    let features = adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("fadam"),
            required_features: features,
            required_limits: adapter.limits(),
            ..Default::default()
        })
        .await
        .map_err(|e| Error::Device(e.to_string()))?;
    Ok((device, queue, adapter.get_info()))
}
