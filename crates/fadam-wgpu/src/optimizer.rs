//! The optimizer: pipelines, buffers and the step.

use std::collections::VecDeque;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use fadam_core::FAdamConfig;
use wgpu::util::DeviceExt;

use crate::tables::{
    self, CHUNK, GRID_X, PARTIAL_WORDS, Plan, SCALAR_WORDS, STATUS_WORDS, WG, group_words,
};
use crate::{Error, Layout, Role};

const COMMON: &str = include_str!("shaders/common.wgsl");
const REDUCE: &str = include_str!("shaders/reduce.wgsl");
const FOLD: &str = include_str!("shaders/fold.wgsl");
const UPDATE: &str = include_str!("shaders/update.wgsl");
/// Bytes of one window's uniform slot (a safe `min_uniform_buffer_offset_alignment`).
const UNIFORM_SLOT: u64 = 256;

/// Settings of a [`FAdamGpu`] beyond the model and its groups.
///
/// ```
/// let options = fadam_wgpu::Options::default();
/// assert_eq!(options.max_pending_steps, 64);
/// assert_eq!(options.max_binding_bytes, None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Caps the bytes bound per buffer and dispatch below the device's
    /// `max_storage_buffer_binding_size` (arenas larger than the cap are
    /// stepped in several windows). `None`: the device's limit.
    pub max_binding_bytes: Option<u64>,
    /// How many submitted steps may await their status report before
    /// [`FAdamGpu::step`] blocks for the oldest (the GPU keeps the step
    /// counter, and the host sends the constants of every step count the GPU
    /// may be at: one per unreported step).
    pub max_pending_steps: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_binding_bytes: None,
            max_pending_steps: 64,
        }
    }
}

/// Why a step was skipped on the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// A gradient holds NaN or infinity.
    NonFiniteGradient,
    /// A squared gradient overflows `f32` in the Fisher diagonal.
    FisherOverflow,
}

/// What became of one submitted step, as the GPU reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StepReport {
    /// Which call of [`FAdamGpu::step`] (0 for the first since creation).
    pub call: u64,
    /// The step counter after it (unchanged when skipped).
    pub step: u64,
    /// `Some` when nothing was written: the first offending tensor and why.
    pub skipped: Option<(usize, SkipReason)>,
}

impl StepReport {
    /// The report as a `Result`, with the error [`fadam_core`] would return.
    ///
    /// # Errors
    /// [`Error::NonFiniteGradient`] or [`Error::FisherOverflow`] when the
    /// step was skipped.
    pub fn result(&self) -> Result<(), Error> {
        match self.skipped {
            None => Ok(()),
            Some((tensor, SkipReason::NonFiniteGradient)) => {
                Err(Error::NonFiniteGradient { tensor })
            }
            Some((tensor, SkipReason::FisherOverflow)) => Err(Error::FisherOverflow { tensor }),
        }
    }
}

struct Pending {
    call: u64,
    staging: wgpu::Buffer,
    submission: wgpu::SubmissionIndex,
    done: Arc<AtomicU8>,
}

struct Pipelines {
    reduce_fused: wgpu::ComputePipeline,
    reduce_redo: wgpu::ComputePipeline,
    fold_fused: wgpu::ComputePipeline,
    fold_redo: wgpu::ComputePipeline,
    update: wgpu::ComputePipeline,
    finish: wgpu::ComputePipeline,
}

/// The FAdam step of a whole model on the GPU.
///
/// Owns the optimizer state (momentum and Fisher arenas with the model's
/// [`Layout`], the step counter) on the user's device; steps the user's
/// parameter buffer in place with the user's gradient buffer. Every step is
/// a fixed number of dispatches whatever the number of tensors: per window
/// of the arena (one unless the arena exceeds the device's binding size)
/// a reduction pass, a second reduction pass that returns at once except
/// for tensors whose epsilon guess was wrong, and the update; plus two
/// per-tensor folds and a one-invocation finish.
///
/// ```no_run
/// use fadam_core::FAdamConfig;
/// use fadam_wgpu::{FAdamGpu, Layout};
///
/// let (device, queue, _info) = fadam_wgpu::request_device()?;
/// // Weight [256, 128] with weight decay, bias [128] without.
/// let layout = Layout::packed([(256 * 128, 0), (128, 1)]);
/// let groups = [FAdamConfig::new(), FAdamConfig::new().with_weight_decay(0.0)];
/// let mut opt = FAdamGpu::new(&device, &queue, layout, &groups)?;
///
/// // With host slices (uploads, steps, downloads; blocks):
/// let mut params = vec![0.5f32; 256 * 128 + 128];
/// let grads = vec![0.01f32; params.len()];
/// opt.step_slices(&mut params, &grads)?;
///
/// // With buffers already on the GPU (in place, does not block):
/// # let (params_buf, grads_buf): (wgpu::Buffer, wgpu::Buffer) = todo!();
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
    written_groups: Vec<FAdamConfig>,
    plan: Plan,
    pipelines: Pipelines,
    bgl: wgpu::BindGroupLayout,
    meta: wgpu::Buffer,
    work: wgpu::Buffer,
    status: wgpu::Buffer,
    uniforms: wgpu::Buffer,
    momentum: wgpu::Buffer,
    fisher: wgpu::Buffer,
    fold_bind: wgpu::BindGroup,
    window_binds: Option<(wgpu::Buffer, wgpu::Buffer, Vec<wgpu::BindGroup>)>,
    host_buffers: Option<(wgpu::Buffer, wgpu::Buffer)>,
    staging_pool: Vec<wgpu::Buffer>,
    pending: VecDeque<Pending>,
    reports: VecDeque<StepReport>,
    calls: u64,
    confirmed_step: u64,
    confirmed_skips: u64,
    max_pending: usize,
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

fn check_groups(groups: &[FAdamConfig]) -> Result<(), Error> {
    if groups.is_empty() {
        return Err(Error::NoGroups);
    }
    for (group, c) in groups.iter().enumerate() {
        c.validate()
            .map_err(|error| Error::Config { group, error })?;
    }
    Ok(())
}

fn need_limit(what: &'static str, needed: u64, limit: u64) -> Result<(), Error> {
    if limit < needed {
        Err(Error::Unsupported {
            what,
            needed,
            limit,
        })
    } else {
        Ok(())
    }
}

fn fit(what: &'static str, needed: u64, limit: u64) -> Result<(), Error> {
    if needed > limit {
        Err(Error::TooLarge {
            what,
            needed,
            limit,
        })
    } else {
        Ok(())
    }
}

/// The 2-D grid for `n` workgroups.
fn grid(n: u32) -> (u32, u32) {
    (n.min(GRID_X), n.div_ceil(GRID_X))
}

impl FAdamGpu {
    /// An optimizer for the model `layout` whose tensors use the configs
    /// `groups` (by [`TensorSpec::group`](crate::TensorSpec::group)), with
    /// fresh state (zeros, step 0) on `device`.
    ///
    /// # Errors
    /// [`Error::Config`], [`Error::NoGroups`], [`Error::UnknownGroup`];
    /// [`Error::Unsupported`] when the device's limits are below the
    /// shaders' needs; [`Error::TooLarge`] when the state does not fit the
    /// device's `max_buffer_size`.
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
                return Err(Error::UnknownGroup {
                    tensor,
                    group: t.group,
                    groups: groups.len(),
                });
            }
        }
        let limits = device.limits();
        need_limit(
            "max_storage_buffers_per_shader_stage",
            7,
            limits.max_storage_buffers_per_shader_stage.into(),
        )?;
        need_limit(
            "max_compute_invocations_per_workgroup",
            WG.into(),
            limits.max_compute_invocations_per_workgroup.into(),
        )?;
        need_limit(
            "max_compute_workgroup_size_x",
            WG.into(),
            limits.max_compute_workgroup_size_x.into(),
        )?;
        need_limit(
            "max_compute_workgroups_per_dimension",
            GRID_X.into(),
            limits.max_compute_workgroups_per_dimension.into(),
        )?;
        need_limit(
            "max_compute_workgroup_storage_size",
            8192,
            limits.max_compute_workgroup_storage_size.into(),
        )?;
        let max_bind = options
            .max_binding_bytes
            .map_or(limits.max_storage_buffer_binding_size, |b| {
                b.min(limits.max_storage_buffer_binding_size)
            });
        // Elements per window: whole chunks (so offsets meet any storage
        // offset alignment, at most 256 bytes), indices in u32.
        let window = (max_bind / 4 / CHUNK * CHUNK).min(1 << 30);
        need_limit("max_storage_buffer_binding_size", CHUNK * 4, window * 4)?;
        let arena_bytes = layout.arena_len() * 4;
        fit("state arena bytes", arena_bytes, limits.max_buffer_size)?;
        fit("tensors", layout.tensors().len() as u64, 1 << 30)?;
        for t in layout.tensors() {
            fit("tensor elements", t.len, u64::from(u32::MAX))?;
        }
        let max_cand = options.max_pending_steps.max(1);
        let plan = Plan::new(&layout, groups.len(), window, max_cand + 1);
        let max_groups = u64::from(limits.max_compute_workgroups_per_dimension) * u64::from(GRID_X);
        fit("chunks", plan.num_chunks as u64, max_groups)?;
        let meta_bytes = plan.words.len() as u64 * 4;
        let work_bytes =
            ((plan.num_chunks * PARTIAL_WORDS + layout.tensors().len() * SCALAR_WORDS) as u64 * 4)
                .max(16);
        fit(
            "optimizer tables bytes",
            meta_bytes.max(work_bytes),
            limits.max_storage_buffer_binding_size,
        )?;

        let bgl = bind_group_layout(device);
        let pipelines = make_pipelines(device, &bgl);
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let state = |label| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: arena_bytes.max(16),
                usage: storage,
                mapped_at_creation: false,
            })
        };
        let momentum = state("fadam momentum");
        let fisher = state("fadam fisher");
        let meta = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("fadam meta"),
            contents: bytemuck::cast_slice(&plan.words),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        });
        let work = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("fadam work"),
            size: work_bytes,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let status = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("fadam status"),
            size: (STATUS_WORDS * 4) as u64,
            usage: storage,
            mapped_at_creation: false,
        });
        let nwin = plan.windows.len();
        let mut uniform_words = vec![0u32; (nwin + 1) * UNIFORM_SLOT as usize / 4];
        for (i, w) in plan.windows.iter().enumerate() {
            let at = i * UNIFORM_SLOT as usize / 4;
            uniform_words[at..at + 3].copy_from_slice(&[
                w.first_chunk,
                w.num_chunks,
                layout.tensors().len() as u32,
            ]);
        }
        let at = nwin * UNIFORM_SLOT as usize / 4;
        uniform_words[at + 2] = layout.tensors().len() as u32;
        let uniforms = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("fadam windows"),
            contents: bytemuck::cast_slice(&uniform_words),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        // The folds and the finish bind small stand-ins for the arenas.
        let dummy = |label| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: 256,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            })
        };
        let dummies = [
            dummy("fadam d0"),
            dummy("fadam d1"),
            dummy("fadam d2"),
            dummy("fadam d3"),
        ];
        let fold_bind = make_bind_group(
            device,
            &bgl,
            [
                dummies[0].as_entire_binding(),
                dummies[1].as_entire_binding(),
                dummies[2].as_entire_binding(),
                dummies[3].as_entire_binding(),
            ],
            &meta,
            &work,
            &status,
            &uniforms,
            nwin as u64 * UNIFORM_SLOT,
        );
        let mut this = Self {
            device: device.clone(),
            queue: queue.clone(),
            layout,
            groups: groups.to_vec(),
            written_groups: Vec::new(),
            plan,
            pipelines,
            bgl,
            meta,
            work,
            status,
            uniforms,
            momentum,
            fisher,
            fold_bind,
            window_binds: None,
            host_buffers: None,
            staging_pool: Vec::new(),
            pending: VecDeque::new(),
            reports: VecDeque::new(),
            calls: 0,
            confirmed_step: 0,
            confirmed_skips: 0,
            max_pending: max_cand,
        };
        this.write_groups();
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

    /// The momentum arena (same layout as the parameters).
    pub fn momentum_buffer(&self) -> &wgpu::Buffer {
        &self.momentum
    }

    /// The Fisher-diagonal arena.
    pub fn fisher_buffer(&self) -> &wgpu::Buffer {
        &self.fisher
    }

    /// The status buffer, 8 `u32`: steps applied, steps skipped, whether
    /// the last step was skipped (1) or applied (0), the last step's skip
    /// code (0 when applied; else `((0x3fffffff - tensor) << 2) | kind`,
    /// kind 1 a non-finite gradient, 2 a Fisher overflow), steps processed,
    /// and three zeros. Copy it where you like after a step; [`poll`](Self::poll)
    /// reads it for you without blocking.
    pub fn status_buffer(&self) -> &wgpu::Buffer {
        &self.status
    }

    /// The step counter as last reported by the GPU (see [`poll`](Self::poll)).
    pub fn reported_step(&self) -> u64 {
        self.confirmed_step
    }

    /// Steps submitted whose reports have not arrived yet.
    pub fn pending_steps(&self) -> usize {
        self.pending.len()
    }

    fn write_groups(&mut self) {
        if self.written_groups == self.groups {
            return;
        }
        let words: Vec<u32> = self.groups.iter().flat_map(group_words).collect();
        self.queue
            .write_buffer(&self.meta, 8 * 4, bytemuck::cast_slice(&words));
        self.written_groups = self.groups.clone();
    }

    fn check_buffer(&self, role: Role, buffer: &wgpu::Buffer) -> Result<(), Error> {
        let missing = wgpu::BufferUsages::STORAGE - buffer.usage();
        if !missing.is_empty() {
            return Err(Error::BufferUsage {
                buffer: role,
                missing,
            });
        }
        let needed = self.layout.arena_len() * 4;
        if buffer.size() < needed {
            return Err(Error::BufferTooSmall {
                buffer: role,
                needed,
                size: buffer.size(),
            });
        }
        Ok(())
    }

    fn window_bind_groups(&mut self, params: &wgpu::Buffer, grads: &wgpu::Buffer) {
        if let Some((p, g, _)) = &self.window_binds {
            if p == params && g == grads {
                return;
            }
        }
        let binds = self
            .plan
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let size = NonZeroU64::new(w.len * 4);
                let bind = |b| {
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: b,
                        offset: w.base * 4,
                        size,
                    })
                };
                make_bind_group(
                    &self.device,
                    &self.bgl,
                    [
                        bind(params),
                        bind(grads),
                        bind(&self.momentum),
                        bind(&self.fisher),
                    ],
                    &self.meta,
                    &self.work,
                    &self.status,
                    &self.uniforms,
                    i as u64 * UNIFORM_SLOT,
                )
            })
            .collect();
        self.window_binds = Some((params.clone(), grads.clone(), binds));
    }

    /// One step of every tensor: `params` (the parameter arena, stepped in
    /// place) with `grads` (the gradient arena), both laid out as the
    /// [`Layout`] says and with [`STORAGE`](wgpu::BufferUsages::STORAGE)
    /// usage, on this optimizer's device. Submits and returns at once.
    ///
    /// A non-finite gradient anywhere (or a Fisher overflow) makes the GPU
    /// skip the whole step: nothing is written to the parameters or the
    /// state, and the step counter stays. The [`StepReport`] of the call
    /// says so; it arrives through [`poll`](Self::poll) (never blocks) or
    /// [`wait`](Self::wait), and the [`status_buffer`](Self::status_buffer)
    /// holds it on the GPU.
    ///
    /// Blocks only when [`Options::max_pending_steps`] steps await their
    /// reports.
    ///
    /// Returns the call's index, as in [`StepReport::call`].
    ///
    /// # Errors
    /// Refused before anything is submitted: [`Error::Config`] (the groups
    /// may have been changed through [`groups_mut`](Self::groups_mut)),
    /// [`Error::BufferUsage`], [`Error::BufferTooSmall`],
    /// [`Error::SameBuffer`], [`Error::StepOverflow`]; [`Error::Device`] if
    /// the device reports an error anyway (the step is then not executed).
    pub fn step(&mut self, params: &wgpu::Buffer, grads: &wgpu::Buffer) -> Result<u64, Error> {
        check_groups(&self.groups)?;
        self.check_buffer(Role::Params, params)?;
        self.check_buffer(Role::Grads, grads)?;
        if params == grads {
            return Err(Error::SameBuffer);
        }
        self.collect(false)?;
        while self.pending.len() >= self.max_pending {
            self.wait_front()?;
        }
        let base = self.confirmed_step + 1;
        let count = self.pending.len() + 1;
        if base + count as u64 > u64::from(u32::MAX) {
            return Err(Error::StepOverflow);
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        self.write_groups();
        let tconst = tables::tconst_words(&self.groups, base, count);
        self.queue.write_buffer(
            &self.meta,
            self.plan.tconst_off as u64 * 4,
            bytemuck::cast_slice(&tconst),
        );
        self.window_bind_groups(params, grads);
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("fadam step"),
            });
        encoder.clear_buffer(&self.status, 12, Some(4));
        self.encode_passes(&mut encoder);
        let staging = self.staging_pool.pop().unwrap_or_else(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("fadam status readback"),
                size: (STATUS_WORDS * 4) as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        encoder.copy_buffer_to_buffer(&self.status, 0, &staging, 0, (STATUS_WORDS * 4) as u64);
        let submission = self.queue.submit([encoder.finish()]);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Device(e.to_string()));
        }
        let done = Arc::new(AtomicU8::new(0));
        let flag = done.clone();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            flag.store(if r.is_ok() { 1 } else { 2 }, Ordering::Release);
        });
        let call = self.calls;
        self.calls += 1;
        self.pending.push_back(Pending {
            call,
            staging,
            submission,
            done,
        });
        Ok(call)
    }

    fn encode_passes(&self, encoder: &mut wgpu::CommandEncoder) {
        let binds = &self.window_binds.as_ref().expect("bound before encoding").2;
        let p = &self.pipelines;
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("fadam step"),
            timestamp_writes: None,
        });
        let windows = |pass: &mut wgpu::ComputePass<'_>, pipeline: &wgpu::ComputePipeline| {
            pass.set_pipeline(pipeline);
            for (w, bind) in self.plan.windows.iter().zip(binds) {
                pass.set_bind_group(0, bind, &[]);
                let (x, y) = grid(w.num_chunks);
                pass.dispatch_workgroups(x, y, 1);
            }
        };
        let tensors = self.layout.tensors().len() as u32;
        let fold = |pass: &mut wgpu::ComputePass<'_>, pipeline: &wgpu::ComputePipeline| {
            if tensors > 0 {
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &self.fold_bind, &[]);
                let (x, y) = grid(tensors);
                pass.dispatch_workgroups(x, y, 1);
            }
        };
        windows(&mut pass, &p.reduce_fused);
        fold(&mut pass, &p.fold_fused);
        windows(&mut pass, &p.reduce_redo);
        fold(&mut pass, &p.fold_redo);
        windows(&mut pass, &p.update);
        pass.set_pipeline(&p.finish);
        pass.set_bind_group(0, &self.fold_bind, &[]);
        pass.dispatch_workgroups(1, 1, 1);
    }

    /// Reads the finished front report, if its readback has landed.
    fn take_front(&mut self) -> Result<bool, Error> {
        let Some(front) = self.pending.front() else {
            return Ok(false);
        };
        match front.done.load(Ordering::Acquire) {
            0 => return Ok(false),
            1 => {}
            _ => {
                self.pending.pop_front();
                return Err(Error::Device("status readback failed".into()));
            }
        }
        let front = self.pending.pop_front().expect("checked");
        let words: [u32; STATUS_WORDS] = {
            let view = front
                .staging
                .get_mapped_range(..)
                .map_err(|e| Error::Device(e.to_string()))?;
            bytemuck::pod_read_unaligned(&view[..STATUS_WORDS * 4])
        };
        front.staging.unmap();
        self.staging_pool.push(front.staging);
        // The GPU's counters are 32-bit; the host's run on from them.
        let step =
            self.confirmed_step + u64::from(words[0].wrapping_sub(self.confirmed_step as u32));
        let skips =
            self.confirmed_skips + u64::from(words[1].wrapping_sub(self.confirmed_skips as u32));
        self.confirmed_step = step;
        self.confirmed_skips = skips;
        let skipped = (words[2] != 0).then(|| {
            let code = words[3];
            let tensor = (0x3fff_ffff - (code >> 2)) as usize;
            let reason = if code & 3 == 1 {
                SkipReason::NonFiniteGradient
            } else {
                SkipReason::FisherOverflow
            };
            (tensor, reason)
        });
        self.reports.push_back(StepReport {
            call: front.call,
            step,
            skipped,
        });
        Ok(true)
    }

    fn collect(&mut self, block: bool) -> Result<(), Error> {
        if block {
            while !self.pending.is_empty() {
                self.wait_front()?;
            }
        } else {
            self.device
                .poll(wgpu::PollType::Poll)
                .map_err(|e| Error::Device(e.to_string()))?;
            while self.take_front()? {}
        }
        Ok(())
    }

    fn wait_front(&mut self) -> Result<(), Error> {
        let Some(front) = self.pending.front() else {
            return Ok(());
        };
        let index = front.submission.clone();
        while !self.take_front()? {
            self.device
                .poll(wgpu::PollType::Wait {
                    submission_index: Some(index.clone()),
                    timeout: None,
                })
                .map_err(|e| Error::Device(e.to_string()))?;
        }
        Ok(())
    }

    /// The reports of the steps that have finished on the GPU since the
    /// last call, in order. Never blocks.
    ///
    /// # Errors
    /// [`Error::Device`] if polling the device or a readback fails.
    pub fn poll(&mut self) -> Result<Vec<StepReport>, Error> {
        self.collect(false)?;
        Ok(self.reports.drain(..).collect())
    }

    /// Waits for every submitted step and returns the reports not yet
    /// returned, in order.
    ///
    /// # Errors
    /// [`Error::Device`] if polling the device or a readback fails.
    pub fn wait(&mut self) -> Result<Vec<StepReport>, Error> {
        self.collect(true)?;
        Ok(self.reports.drain(..).collect())
    }

    fn read_buffer(&self, buffer: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, Error> {
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("fadam readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, bytes);
        let index = self.queue.submit([encoder.finish()]);
        let done = Arc::new(AtomicU8::new(0));
        let flag = done.clone();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            flag.store(if r.is_ok() { 1 } else { 2 }, Ordering::Release);
        });
        while done.load(Ordering::Acquire) == 0 {
            self.device
                .poll(wgpu::PollType::Wait {
                    submission_index: Some(index.clone()),
                    timeout: None,
                })
                .map_err(|e| Error::Device(e.to_string()))?;
        }
        if done.load(Ordering::Acquire) != 1 {
            return Err(Error::Device("readback failed".into()));
        }
        let out = staging
            .get_mapped_range(..)
            .map_err(|e| Error::Device(e.to_string()))?
            .to_vec();
        staging.unmap();
        Ok(out)
    }

    /// Downloads the state: momentum, Fisher diagonal (arena layout) and the
    /// step counter. Blocks until every submitted step is done.
    ///
    /// # Errors
    /// [`Error::Device`] if a readback fails.
    pub fn read_state(&mut self) -> Result<(Vec<f32>, Vec<f32>, u64), Error> {
        self.collect(true)?;
        let bytes = self.layout.arena_len() * 4;
        let m = bytemuck::pod_collect_to_vec(&self.read_buffer(&self.momentum, bytes)?);
        let f = bytemuck::pod_collect_to_vec(&self.read_buffer(&self.fisher, bytes)?);
        Ok((m, f, self.confirmed_step))
    }

    /// Replaces the state (for example from a checkpoint): momentum and
    /// Fisher diagonal in arena layout, and the steps taken. Waits for
    /// every submitted step first.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`], [`Error::StepOverflow`] (the GPU counts
    /// steps in 32 bits), [`Error::Device`].
    pub fn write_state(
        &mut self,
        momentum: &[f32],
        fisher: &[f32],
        step: u64,
    ) -> Result<(), Error> {
        let expected = self.layout.arena_len();
        for (buffer, s) in [(Role::Momentum, momentum), (Role::Fisher, fisher)] {
            if s.len() as u64 != expected {
                return Err(Error::LengthMismatch {
                    buffer,
                    expected,
                    found: s.len() as u64,
                });
            }
        }
        let step32 = u32::try_from(step).map_err(|_| Error::StepOverflow)?;
        self.collect(true)?;
        self.queue
            .write_buffer(&self.momentum, 0, bytemuck::cast_slice(momentum));
        self.queue
            .write_buffer(&self.fisher, 0, bytemuck::cast_slice(fisher));
        let skips = self.confirmed_skips as u32;
        let calls = self.calls as u32;
        self.queue.write_buffer(
            &self.status,
            0,
            bytemuck::cast_slice(&[step32, skips, 0, 0, calls, 0, 0, 0]),
        );
        self.queue.submit([]);
        self.confirmed_step = step;
        Ok(())
    }

    /// The convenience path for parameters and gradients on the host:
    /// uploads both (arena layout), steps, downloads the parameters into
    /// `params`. Blocks.
    ///
    /// # Errors
    /// As [`step`](Self::step), plus [`Error::LengthMismatch`]; and
    /// [`Error::NonFiniteGradient`] or [`Error::FisherOverflow`] when the
    /// GPU skipped the step (then `params` and the state are unchanged).
    pub fn step_slices(&mut self, params: &mut [f32], grads: &[f32]) -> Result<(), Error> {
        let expected = self.layout.arena_len();
        for (buffer, n) in [(Role::Params, params.len()), (Role::Grads, grads.len())] {
            if n as u64 != expected {
                return Err(Error::LengthMismatch {
                    buffer,
                    expected,
                    found: n as u64,
                });
            }
        }
        check_groups(&self.groups)?;
        let (p, g) = self
            .host_buffers
            .get_or_insert_with(|| {
                let make = |label| {
                    self.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some(label),
                        size: (expected * 4).max(16),
                        usage: wgpu::BufferUsages::STORAGE
                            | wgpu::BufferUsages::COPY_DST
                            | wgpu::BufferUsages::COPY_SRC,
                        mapped_at_creation: false,
                    })
                };
                (make("fadam host params"), make("fadam host grads"))
            })
            .clone();
        self.collect(true)?;
        self.queue.write_buffer(&p, 0, bytemuck::cast_slice(params));
        self.queue.write_buffer(&g, 0, bytemuck::cast_slice(grads));
        let call = self.step(&p, &g)?;
        self.collect(true)?;
        let report = self
            .reports
            .iter()
            .rev()
            .find(|r| r.call == call)
            .copied()
            .ok_or_else(|| Error::Device("missing step report".into()))?;
        report.result()?;
        let bytes = self.read_buffer(&p, expected * 4)?;
        params.copy_from_slice(&bytemuck::pod_collect_to_vec::<u8, f32>(&bytes));
        Ok(())
    }
}

fn bind_group_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("fadam"),
        entries: &[
            storage(0, false),
            storage(1, true),
            storage(2, false),
            storage(3, false),
            storage(4, true),
            storage(5, false),
            storage(6, false),
            wgpu::BindGroupLayoutEntry {
                binding: 7,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: NonZeroU64::new(16),
                },
                count: None,
            },
        ],
    })
}

#[allow(clippy::too_many_arguments)]
fn make_bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    arenas: [wgpu::BindingResource<'_>; 4],
    meta: &wgpu::Buffer,
    work: &wgpu::Buffer,
    status: &wgpu::Buffer,
    uniforms: &wgpu::Buffer,
    uniform_offset: u64,
) -> wgpu::BindGroup {
    let [a0, a1, a2, a3] = arenas;
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("fadam"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: a0,
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: a1,
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: a2,
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: a3,
            },
            wgpu::BindGroupEntry {
                binding: 4,
                resource: meta.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 5,
                resource: work.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 6,
                resource: status.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 7,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: uniforms,
                    offset: uniform_offset,
                    size: NonZeroU64::new(16),
                }),
            },
        ],
    })
}

fn make_pipelines(device: &wgpu::Device, bgl: &wgpu::BindGroupLayout) -> Pipelines {
    let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("fadam"),
        bind_group_layouts: &[Some(bgl)],
        immediate_size: 0,
    });
    let module = |label, body: &str| {
        device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(format!("{COMMON}\n{body}").into()),
        })
    };
    let reduce = module("fadam reduce", REDUCE);
    let fold = module("fadam fold", FOLD);
    let update = module("fadam update", UPDATE);
    let pipeline = |module: &wgpu::ShaderModule, entry: &str| {
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&layout),
            module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            cache: None,
        })
    };
    Pipelines {
        reduce_fused: pipeline(&reduce, "reduce_fused"),
        reduce_redo: pipeline(&reduce, "reduce_redo"),
        fold_fused: pipeline(&fold, "fold_fused"),
        fold_redo: pipeline(&fold, "fold_redo"),
        update: pipeline(&update, "update"),
        finish: pipeline(&update, "finish"),
    }
}
