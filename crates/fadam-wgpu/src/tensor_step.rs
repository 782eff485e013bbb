//! The step of one tensor in buffers a framework made (its tensors), with
//! the step count kept on the GPU as the framework's own counters.

mod bind;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Mutex, PoisonError};

use fadam_core::FAdamConfig;

use crate::limits::{ELEM_BYTES, Options, window_len};
use crate::pipelines::{
    Buffers, GradAccess, Pipelines, bind_group_layout, per_tensor_bind_group, pipelines,
};
use crate::tables::{Plan, counter_words, group_words, tconst_words};
use crate::words::{COUNTER_WORDS, H_COUNTER_OFF, H_GROUP_OFF, H_TCONST_OFF, WORD_BYTES};
use crate::{Error, Layout};
pub use bind::TensorBuffers;

/// FAdam's step for one `f32` tensor whose parameters, gradient and state
/// live in buffers someone else made: the tensors of a framework that runs
/// on the same wgpu device (burn's wgpu backend, through `fadam-burn`).
///
/// The same passes as [`FAdamGpu`](crate::FAdamGpu) (the same shaders: the
/// same function of the inputs, bit for bit), on a one-tensor layout: 7
/// dispatches per step. The step count is not an optimizer field here but
/// the framework's state, as three one-element `f32` buffers: the refused
/// steps, `1 - β1^t` and `1 - β2^t` at the steps taken `t`. While no step
/// was refused, the step constants are the core's at `calls + 1`, computed
/// on the host in `f64`; after a refused step (the host never learns of
/// it) the GPU forms them from the bias terms in `f32`.
///
/// A refused step (a non-finite gradient, a Fisher overflow, an invalid
/// value in the parameters or the state) writes nothing but the refused
/// count, with no read-back. [`step`](Self::step) submits and returns at
/// once; work on the queue after it sees its results.
///
/// Pipelines are built once per device; the tables of each tensor length
/// are made on first use and kept.
///
/// ```no_run
/// use fadam_core::FAdamConfig;
/// use fadam_wgpu::{TensorBuffers, TensorStep};
/// use wgpu::util::DeviceExt;
///
/// let (device, queue, _info) = fadam_wgpu::request_device()?;
/// let kernels = TensorStep::new(&device, &queue)?;
/// let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
/// let make = |values: &[f32]| {
///     device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
///         label: None,
///         contents: bytemuck::cast_slice(values),
///         usage: storage,
///     })
/// };
/// let theta = make(&[1.0; 1000]);
/// let grad = make(&[0.1; 1000]);
/// let (momentum, fisher) = (make(&[0.0; 1000]), make(&[0.0; 1000]));
/// let [refused, bias_1, bias_2] = [(); 3].map(|_| make(&[0.0]));
/// let buffers = TensorBuffers {
///     theta: theta.as_entire_buffer_binding(),
///     grad: grad.as_entire_buffer_binding(),
///     momentum: momentum.as_entire_buffer_binding(),
///     fisher: fisher.as_entire_buffer_binding(),
///     refused: refused.as_entire_buffer_binding(),
///     bias_1: bias_1.as_entire_buffer_binding(),
///     bias_2: bias_2.as_entire_buffer_binding(),
/// };
/// // The first step (no call before it) of 1000 elements.
/// kernels.step(&FAdamConfig::new().with_lr(1e-3), 0, 1000, &buffers)?;
/// # Ok::<(), fadam_wgpu::Error>(())
/// ```
pub struct TensorStep {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipelines: Pipelines,
    counters: Counters,
    bind_group_layout: wgpu::BindGroupLayout,
    /// The tables and scratch of each tensor length, made on first use;
    /// held through a step (its writes and its submission).
    lengths: Mutex<HashMap<u64, LengthTables>>,
}

impl std::fmt::Debug for TensorStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorStep").finish_non_exhaustive()
    }
}

/// The `begin` and `end` pipelines of `counters.wgsl`, and their layout.
struct Counters {
    layout: wgpu::BindGroupLayout,
    begin: wgpu::ComputePipeline,
    end: wgpu::ComputePipeline,
}

/// What the passes of a tensor of one length bind besides its buffers:
/// the plan of its chunks and the optimizer buffers of the passes.
struct LengthTables {
    plan: Plan,
    buffers: Buffers,
    per_tensor_bind: wgpu::BindGroup,
}

impl TensorStep {
    /// The pipelines on `device`, whose `queue` the steps are submitted to.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the device's limits are below the
    /// shaders' needs; natively [`Error::Device`] when a pipeline cannot be
    /// made.
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Result<Self, Error> {
        // The limits the passes need (of a one-element layout).
        window_len(
            &device.limits(),
            &Options::default(),
            &Layout::packed([(1, 0)])?,
        )?;
        let guard = crate::optimizer::Guard::push(device);
        let bind_group_layout = bind_group_layout(device, GradAccess::ReadWrite);
        let pipelines = pipelines(device, &bind_group_layout, GradAccess::ReadWrite);
        let counters = bind::counters(device);
        guard.check()?;
        Ok(Self {
            device: device.clone(),
            queue: queue.clone(),
            pipelines,
            counters,
            bind_group_layout,
            lengths: Mutex::new(HashMap::new()),
        })
    }

    /// One step of a tensor of `len` elements whose buffers are `buffers`,
    /// with hyperparameters `config` (its `lr` included), at call number
    /// `calls + 1` (`calls`: the steps this tensor was given before, taken
    /// and refused). Submits and returns at once.
    ///
    /// # Errors
    /// Nothing is submitted, and nothing changes, on: the core's errors of
    /// an invalid `config` or of a step constant out of `f32` range (in
    /// [`Error::Core`]); [`Error::Binding`] for a binding too small, out of
    /// its buffer, misaligned for the device, or of a buffer without
    /// `STORAGE` usage; [`Error::TooLarge`] when `len` is 0 or exceeds one
    /// binding of the device; natively [`Error::Device`] when the device
    /// reports an error (a buffer of another device).
    pub fn step(
        &self,
        config: &FAdamConfig,
        calls: u64,
        len: u64,
        buffers: &TensorBuffers<'_>,
    ) -> Result<(), Error> {
        config
            .validate()
            .map_err(|error| fadam_core::Error::Config { group: 0, error })?;
        let t = calls.checked_add(1).ok_or(Error::TooLarge {
            what: "steps",
            needed: u64::MAX,
            limit: u64::MAX - 1,
        })?;
        let tconst = tconst_words(std::slice::from_ref(config), t, 1)?;
        buffers.check(&self.device.limits(), len)?;
        let mut lengths = self.lengths.lock().unwrap_or_else(PoisonError::into_inner);
        let tables = match lengths.entry(len) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(self.make_tables(len)?),
        };
        let guard = crate::optimizer::Guard::push(&self.device);
        let words = &tables.plan.words;
        let write = |slot: usize, data: &[u32]| {
            let at = u64::from(words[slot]) * WORD_BYTES;
            self.queue
                .write_buffer(&tables.buffers.tab, at, bytemuck::cast_slice(data));
        };
        write(H_GROUP_OFF, &group_words(config));
        write(H_TCONST_OFF, &tconst);
        write(H_COUNTER_OFF, &counter_words(config));
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("fadam tensor step"),
            });
        self.encode(&mut encoder, tables, buffers);
        self.queue.submit([encoder.finish()]);
        guard.check()
    }

    /// The tables of tensors of `len` elements.
    fn make_tables(&self, len: u64) -> Result<LengthTables, Error> {
        if len == 0 {
            return Err(Error::TooLarge {
                what: "tensor elements (0 is not a tensor to step)",
                needed: 0,
                limit: 0,
            });
        }
        let layout = Layout::packed([(len, 0)])?;
        let limits = self.device.limits();
        let window = window_len(&limits, &Options::default(), &layout)?;
        crate::limits::fit("tensor elements of one binding", len, window)?;
        let mut plan = Plan::new(&layout, 1, window, 1, &limits)?;
        // The counter constants after the tables.
        let counter_at = plan.words.len();
        plan.words[H_COUNTER_OFF] = counter_at as u32;
        plan.words.resize(counter_at + COUNTER_WORDS, 0);
        let guard = crate::optimizer::Guard::push(&self.device);
        let device = &self.device;
        let buffers = Buffers::new(device, &plan, 1);
        debug_assert_eq!(plan.windows.len(), 1);
        let per_tensor_bind = per_tensor_bind_group(device, &self.bind_group_layout, &buffers, 1);
        guard.check()?;
        Ok(LengthTables {
            plan,
            buffers,
            per_tensor_bind,
        })
    }

    /// The dispatches: `begin`, the passes of [`FAdamGpu`](crate::FAdamGpu)
    /// on the one window, `end`.
    fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        tables: &LengthTables,
        buffers: &TensorBuffers<'_>,
    ) {
        let main = buffers.main_bind_group(&self.device, &self.bind_group_layout, &tables.buffers);
        let counters =
            buffers.counters_bind_group(&self.device, &self.counters.layout, &tables.buffers);
        let p = &self.pipelines;
        let (x, y) = crate::limits::grid(tables.plan.windows[0].num_chunks);
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("fadam tensor step"),
            timestamp_writes: None,
        });
        pass.set_bind_group(0, &counters, &[]);
        pass.set_pipeline(&self.counters.begin);
        pass.dispatch_workgroups(1, 1, 1);
        for (pipeline, per_chunk) in [
            (&p.reduce_fused, true),
            (&p.fold_fused, false),
            (&p.reduce_redo, true),
            (&p.fold_redo, false),
            (&p.update, true),
        ] {
            pass.set_pipeline(pipeline);
            if per_chunk {
                pass.set_bind_group(0, &main, &[]);
                pass.dispatch_workgroups(x, y, 1);
            } else {
                pass.set_bind_group(0, &tables.per_tensor_bind, &[]);
                pass.dispatch_workgroups(1, 1, 1);
            }
        }
        pass.set_bind_group(0, &counters, &[]);
        pass.set_pipeline(&self.counters.end);
        pass.dispatch_workgroups(1, 1, 1);
    }
}

/// Bytes of `len` `f32` elements.
pub(crate) fn elem_bytes(len: u64) -> u64 {
    len.saturating_mul(ELEM_BYTES)
}
