//! The optimizer: its state and buffers, and the step.

mod arena;
mod encode;
mod guard;
mod host;
mod readback;

use std::collections::VecDeque;
use std::sync::Arc;

use fadam_core::{Buffer, FAdamConfig};

use crate::limits::{ELEM_BYTES, MAX_STEP, MIN_BUFFER_BYTES, Options, fit, window_len};
use crate::pipelines::{
    Buffers, GradAccess, Pipelines, STATUS_BYTES, bind_group_layout, empty_buffer,
    per_tensor_bind_group, pipelines,
};
use crate::tables::{Plan, group_words, tconst_words};
use crate::words::{GW, H_GROUP_OFF, H_TCONST_OFF, ST_SKIP_CODE, WORD_BYTES};
use crate::{Arena, Error, Layout};
pub use arena::ArenaBuffer;
use encode::WindowBinds;
pub(crate) use guard::Guard;
pub use readback::{SkipReason, StepReport};

/// The FAdam step of a whole model on the GPU.
///
/// Owns the optimizer state (momentum and Fisher arenas with the model's
/// [`Layout`], the step counter) on the user's device; steps a parameter
/// buffer in place with a gradient buffer, both [`ArenaBuffer`]s it made
/// ([`create_buffer`](Self::create_buffer)) for the user to bind in their
/// own passes. Every step is
/// a fixed number of dispatches whatever the number of tensors: per window
/// of the arena (one unless the arena exceeds the device's binding size)
/// a reduction pass, a second reduction pass that returns at once except
/// for tensors whose epsilon guess was wrong, and the update; plus two
/// per-tensor folds and a one-invocation finish.
///
/// ```no_run
/// use fadam_core::FAdamConfig;
/// use fadam_wgpu::{Arena, Buffer, FAdamGpu, Layout};
///
/// let (device, queue, _info) = fadam_wgpu::request_device()?;
/// // Weight [256, 128] with weight decay, bias [128] without.
/// let layout = Layout::packed([(256 * 128, 0), (128, 1)])?;
/// let groups = [FAdamConfig::new(), FAdamConfig::new().with_weight_decay(0.0)];
/// let mut opt = FAdamGpu::new(&device, &queue, layout, &groups)?;
///
/// // With host slices (uploads, steps, downloads; blocks):
/// let mut params = vec![0.5f32; 256 * 128 + 128];
/// let grads = vec![0.01f32; params.len()];
/// opt.step_slices(&mut params, &grads)?;
///
/// // With buffers on the GPU, made by the optimizer (in place, does not
/// // block); your passes bind `params_buf.buffer()` and `grads_buf.buffer()`:
/// let params_buf = opt.create_buffer_init(Arena::Params, &params)?;
/// let grads_buf = opt.create_buffer(Arena::Other(Buffer::Gradient))?;
/// opt.step(&params_buf, &grads_buf)?;
/// for report in opt.poll()? {
///     report.result()?; // a skipped step (NaN gradient) shows here
/// }
/// # Ok::<(), fadam_wgpu::Error>(())
/// ```
pub struct FAdamGpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    layout: Layout,
    groups: Vec<FAdamConfig>,
    /// The groups as last written to the tables.
    written_groups: Vec<FAdamConfig>,
    plan: Plan,
    pipelines: Pipelines,
    bind_group_layout: wgpu::BindGroupLayout,
    buffers: Buffers,
    momentum: wgpu::Buffer,
    fisher: wgpu::Buffer,
    per_tensor_bind: wgpu::BindGroup,
    window_binds: Option<WindowBinds>,
    host_arenas: Option<host::HostArenas>,
    staging_pool: Vec<wgpu::Buffer>,
    pending: VecDeque<readback::Pending>,
    reports: VecDeque<StepReport>,
    calls: u64,
    confirmed_step: u64,
    confirmed_skips: u64,
    max_pending: usize,
    /// Marks the [`ArenaBuffer`]s this optimizer made.
    owner: Arc<arena::Owner>,
    /// In a browser, the creation's error scope: `new` cannot wait for it,
    /// so the first step reports its error (a shader the browser rejects)
    /// rather than only the invalid pipeline it leaves.
    #[cfg(target_arch = "wasm32")]
    creation: Option<readback::Scope>,
}

impl std::fmt::Debug for FAdamGpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FAdamGpu")
            .field("tensors", &self.layout.tensors().len())
            .field("arena_len", &self.layout.arena_len())
            .field("windows", &self.plan.windows.len())
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

/// `Err` unless there is a group and every group is valid.
fn check_groups(groups: &[FAdamConfig]) -> Result<(), Error> {
    if groups.is_empty() {
        return Err(Error::NoGroups);
    }
    for (group, c) in groups.iter().enumerate() {
        c.validate()
            .map_err(|error| fadam_core::Error::Config { group, error })?;
    }
    Ok(())
}

impl FAdamGpu {
    /// An optimizer for the model `layout` whose tensors use the configs
    /// `groups` (by [`TensorSpec::group`](crate::TensorSpec::group)), with
    /// fresh state (zeros, step 0) on `device`.
    ///
    /// # Errors
    /// The core's [`Config`](fadam_core::Error::Config) and
    /// [`UnknownGroup`](fadam_core::Error::UnknownGroup) in [`Error::Core`],
    /// [`Error::NoGroups`];
    /// [`Error::Unsupported`] when the device's limits are below the
    /// shaders' needs; [`Error::TooLarge`] when the state does not fit the
    /// device's `max_buffer_size`, or a size or count computed from the
    /// layout and the [`Options`] exceeds what the shaders or a binding
    /// hold; natively [`Error::Device`] when the device cannot make the
    /// buffers (out of memory).
    pub fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        layout: Layout,
        groups: &[FAdamConfig],
    ) -> Result<Self, Error> {
        Self::with_options(device, queue, layout, groups, Options::default())
    }

    /// As [`new`](Self::new), with [`Options`].
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_options(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        layout: Layout,
        groups: &[FAdamConfig],
        options: Options,
    ) -> Result<Self, Error> {
        check_groups(groups)?;
        for (tensor, t) in layout.tensors().iter().enumerate() {
            if t.group >= groups.len() {
                return Err(fadam_core::Error::UnknownGroup {
                    tensor,
                    group: t.group,
                    groups: groups.len(),
                }
                .into());
            }
        }
        let limits = device.limits();
        let window = window_len(&limits, &options, &layout)?;
        let max_pending = options.max_pending_steps.max(1);
        // One step-constant candidate per step count the GPU may be at (a
        // count too large for the tables is refused there).
        let candidates = max_pending.saturating_add(1);
        let plan = Plan::new(&layout, groups.len(), window, candidates, &limits)?;

        // Natively a device error (out of memory) would panic in wgpu's
        // default handler without a scope.
        let guard = guard::Guard::push(device);
        let bgl = bind_group_layout(device, GradAccess::ReadOnly);
        let pipelines = pipelines(device, &bgl, GradAccess::ReadOnly);
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let arena_bytes = (layout.arena_len() * ELEM_BYTES).max(MIN_BUFFER_BYTES);
        let momentum = empty_buffer(device, "fadam momentum", arena_bytes, storage);
        let fisher = empty_buffer(device, "fadam fisher", arena_bytes, storage);
        let num_tensors = layout.tensors().len() as u32;
        let buffers = Buffers::new(device, &plan, num_tensors);
        let per_tensor_bind = per_tensor_bind_group(device, &bgl, &buffers, plan.windows.len());
        let mut this = Self {
            device: device.clone(),
            queue: queue.clone(),
            layout,
            groups: groups.to_vec(),
            written_groups: Vec::new(),
            plan,
            pipelines,
            bind_group_layout: bgl,
            buffers,
            momentum,
            fisher,
            per_tensor_bind,
            window_binds: None,
            host_arenas: None,
            staging_pool: Vec::new(),
            pending: VecDeque::new(),
            reports: VecDeque::new(),
            calls: 0,
            confirmed_step: 0,
            confirmed_skips: 0,
            max_pending,
            owner: Arc::new(arena::Owner),
            #[cfg(target_arch = "wasm32")]
            creation: None,
        };
        this.write_groups();
        #[cfg(not(target_arch = "wasm32"))]
        guard.check()?;
        #[cfg(target_arch = "wasm32")]
        {
            this.creation = Some(Box::pin(guard.pop()));
        }
        Ok(this)
    }

    /// The model's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The configs of the parameter groups.
    pub fn groups(&self) -> &[FAdamConfig] {
        &self.groups
    }

    /// The configs, to change between steps (a learning-rate schedule);
    /// every step validates them and refuses an invalid one.
    pub fn groups_mut(&mut self) -> &mut [FAdamConfig] {
        &mut self.groups
    }

    /// How many windows (split bindings) the arena is stepped in: 1 unless
    /// it exceeds the device's (or [`Options`]') binding size.
    pub fn windows(&self) -> usize {
        self.plan.windows.len()
    }

    /// Compute dispatches per step: 3 per window plus 3.
    pub fn dispatches_per_step(&self) -> usize {
        3 * self.plan.windows.len() + 3
    }

    /// The momentum arena (same layout as the parameters). What is written
    /// into it from outside is not checked as
    /// [`write_state`](Self::write_state) checks it, but a step refuses a
    /// NaN or infinite value ([`SkipReason::InvalidMomentum`]).
    pub fn momentum_buffer(&self) -> &wgpu::Buffer {
        &self.momentum
    }

    /// The Fisher-diagonal arena. A step refuses a negative, NaN or
    /// infinite value written into it from outside
    /// ([`SkipReason::InvalidFisher`]).
    pub fn fisher_buffer(&self) -> &wgpu::Buffer {
        &self.fisher
    }

    /// The status buffer, 8 `u32`: steps applied, steps skipped, whether
    /// the last step was skipped (1) or applied (0), the last step's skip
    /// code (0 when applied; else `((0x1fffffff - tensor) << 3) | kind`,
    /// kind 1 a Fisher overflow, 2 a non-finite gradient, 3 an invalid
    /// Fisher value, 4 an invalid momentum, 5 a non-finite parameter: see
    /// [`SkipReason`]), steps processed,
    /// and three zeros. Copy it where you like after a step; [`poll`](Self::poll)
    /// reads it for you without blocking.
    pub fn status_buffer(&self) -> &wgpu::Buffer {
        &self.buffers.status
    }

    /// The step counter as last reported by the GPU (see [`poll`](Self::poll)).
    pub fn reported_step(&self) -> u64 {
        self.confirmed_step
    }

    /// Steps submitted whose reports have not arrived yet.
    pub fn pending_steps(&self) -> usize {
        self.pending.len()
    }

    /// Writes the groups' constants to the tables if they changed.
    fn write_groups(&mut self) {
        if self.written_groups == self.groups {
            return;
        }
        let words: Vec<u32> = self.groups.iter().flat_map(group_words).collect();
        debug_assert_eq!(words.len(), self.groups.len() * GW);
        let at = u64::from(self.plan.words[H_GROUP_OFF]) * WORD_BYTES;
        self.queue
            .write_buffer(&self.buffers.tab, at, bytemuck::cast_slice(&words));
        self.written_groups = self.groups.clone();
    }

    /// One step of every tensor: `params` (the parameter arena, stepped in
    /// place) with `grads` (the gradient arena), both laid out as the
    /// [`Layout`] says, in buffers this optimizer made
    /// ([`create_buffer`](Self::create_buffer)). Submits and returns at once.
    ///
    /// A non-finite gradient anywhere (or a Fisher overflow) makes the GPU
    /// skip the whole step: nothing is written to the parameters or the
    /// state, and the step counter stays. The [`StepReport`] of the call
    /// says so; it arrives through [`poll`](Self::poll) (never blocks) or
    /// [`wait_async`](Self::wait_async), and the
    /// [`status_buffer`](Self::status_buffer) holds it on the GPU.
    ///
    /// When [`Options::max_pending_steps`] steps await their reports (or
    /// the step counter could pass `u32::MAX` unless some of them were
    /// skipped), it blocks natively for the oldest; in a browser (where
    /// nothing may block) it refuses with [`Error::WouldBlock`]
    /// ([`step_async`](Self::step_async) waits instead).
    ///
    /// Returns the call's index, as in [`StepReport::call`].
    ///
    /// # Errors
    /// Refused before anything is submitted: the core's
    /// [`Config`](fadam_core::Error::Config) in [`Error::Core`] (the groups
    /// may have been changed through [`groups_mut`](Self::groups_mut)),
    /// and [`OutOfRange`](fadam_core::Error::OutOfRange) (a step constant
    /// beyond `f32`, as the core's `f32` step refuses it),
    /// [`Error::ForeignBuffer`] (a buffer another optimizer made),
    /// [`Error::SameBuffer`], [`Error::TooLarge`] (the step counter is at
    /// `u32::MAX`), [`Error::WouldBlock`] (in a browser); natively
    /// [`Error::Device`] if the device reports an error anyway (the step
    /// is then not executed; in a browser the error comes with the step's
    /// report, from [`poll`](Self::poll) or [`wait_async`](Self::wait_async)).
    pub fn step(&mut self, params: &ArenaBuffer, grads: &ArenaBuffer) -> Result<u64, Error> {
        self.check_step(params, grads)?;
        #[cfg(not(target_arch = "wasm32"))]
        while self.must_wait() {
            pollster::block_on(self.wait_front())?;
        }
        #[cfg(target_arch = "wasm32")]
        if self.must_wait() {
            return Err(Error::WouldBlock {
                pending: self.pending.len(),
            });
        }
        self.submit(&params.buffer, &grads.buffer)
    }

    /// As [`step`](Self::step), but when [`Options::max_pending_steps`]
    /// steps await their reports it waits for the oldest (in a browser,
    /// yielding to the event loop) instead of blocking or refusing.
    ///
    /// # Errors
    /// As [`step`](Self::step), never [`Error::WouldBlock`].
    pub async fn step_async(
        &mut self,
        params: &ArenaBuffer,
        grads: &ArenaBuffer,
    ) -> Result<u64, Error> {
        self.check_step(params, grads)?;
        while self.must_wait() {
            self.wait_front().await?;
        }
        self.submit(&params.buffer, &grads.buffer)
    }

    /// The checks of a step that need no waiting, then the reports that
    /// have landed.
    fn check_step(&mut self, params: &ArenaBuffer, grads: &ArenaBuffer) -> Result<(), Error> {
        check_groups(&self.groups)?;
        self.check_own(Arena::Params, params)?;
        self.check_own(Arena::Other(Buffer::Gradient), grads)?;
        if params.buffer == grads.buffer {
            return Err(Error::SameBuffer);
        }
        self.collect_landed()
    }

    /// Whether a step must wait for the oldest pending report: the queue
    /// is full, or the step counter could pass `u32::MAX` (the reports say
    /// whether it does).
    fn must_wait(&self) -> bool {
        let pending = self.pending.len() as u64;
        pending >= self.max_pending as u64
            || (pending > 0 && self.confirmed_step + pending + 1 > MAX_STEP)
    }

    /// Submits a step; fewer than `max_pending` steps are pending.
    fn submit(&mut self, params: &wgpu::Buffer, grads: &wgpu::Buffer) -> Result<u64, Error> {
        // The GPU is at one of the counts base - 1 .. base + count - 2, and
        // this step takes it to at most base + count - 1.
        let base = self.confirmed_step + 1;
        let count = self.pending.len() + 1;
        fit("step counter", base + count as u64 - 1, MAX_STEP)?;
        let tconst = tconst_words(&self.groups, base, count)?;
        let scope = guard::Guard::push(&self.device);
        self.write_groups();
        let at = u64::from(self.plan.words[H_TCONST_OFF]) * WORD_BYTES;
        self.queue
            .write_buffer(&self.buffers.tab, at, bytemuck::cast_slice(&tconst));
        self.bind_windows(params, grads);
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("fadam step"),
            });
        encoder.clear_buffer(
            &self.buffers.status,
            ST_SKIP_CODE as u64 * WORD_BYTES,
            Some(WORD_BYTES),
        );
        self.encode_passes(&mut encoder);
        let staging = self.status_staging();
        encoder.copy_buffer_to_buffer(&self.buffers.status, 0, &staging, 0, STATUS_BYTES);
        let submission = self.queue.submit([encoder.finish()]);
        #[cfg(not(target_arch = "wasm32"))]
        let scope = {
            scope.check()?;
            None
        };
        #[cfg(target_arch = "wasm32")]
        let scope = {
            let creation = self.creation.take();
            let step = scope.pop();
            Some(Box::pin(async move {
                if let Some(creation) = creation
                    && let Some(e) = creation.await
                {
                    return Some(e);
                }
                step.await
            }) as readback::Scope)
        };
        let call = self.calls;
        self.calls += 1;
        self.track(call, staging, submission, scope);
        Ok(call)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    /// Natively the optimizer moves between threads as before the async
    /// forms (a compile-time check).
    #[test]
    fn optimizer_is_send_and_sync_natively() {
        fn check<T: Send + Sync>() {}
        check::<super::FAdamGpu>();
        check::<super::StepReport>();
    }
}
