//! Step reports: the status words each step copies to a staging buffer,
//! read back without blocking ([`FAdamGpu::poll`]) or awaited
//! ([`FAdamGpu::wait_async`]); and the read of a whole buffer.
//!
//! A mapping's callback resolves a oneshot channel. Natively wgpu runs the
//! callbacks inside `Device::poll`, so awaiting drives the device up to the
//! submission (blocking there); in a browser the event loop runs them, and
//! awaiting yields to it.

#[cfg(target_arch = "wasm32")]
use std::future::Future;
#[cfg(target_arch = "wasm32")]
use std::pin::Pin;

use futures_channel::oneshot;

use super::FAdamGpu;
use crate::Error;
use crate::pipelines::STATUS_BYTES;
use crate::words::{
    BAD_FISHER, BAD_FISHER_STATE, BAD_MOMENTUM, BAD_NON_FINITE, BAD_PARAM, ST_LAST_SKIPPED,
    ST_SKIP_CODE, ST_SKIPS, ST_STEP, STATUS_WORDS, decode_skip,
};

/// Why a step was skipped on the GPU: the core's reasons, in the core's
/// precedence where a tensor has several (a parameter first, then the
/// momentum, the Fisher diagonal, the gradient, a Fisher overflow).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// A gradient holds NaN or infinity.
    NonFiniteGradient,
    /// A squared gradient overflows `f32` in the Fisher diagonal.
    FisherOverflow,
    /// A parameter is NaN or infinite.
    NonFiniteParam,
    /// A momentum value of the state is NaN or infinite (written into
    /// [`FAdamGpu::momentum_buffer`] from outside).
    InvalidMomentum,
    /// A Fisher value of the state is negative, NaN or infinite (written
    /// into [`FAdamGpu::fisher_buffer`] from outside).
    InvalidFisher,
}

impl SkipReason {
    /// The reason of a `BAD_*` bit.
    fn of_bit(bit: u32) -> Option<Self> {
        Some(match bit {
            BAD_NON_FINITE => Self::NonFiniteGradient,
            BAD_FISHER => Self::FisherOverflow,
            BAD_PARAM => Self::NonFiniteParam,
            BAD_MOMENTUM => Self::InvalidMomentum,
            BAD_FISHER_STATE => Self::InvalidFisher,
            _ => return None,
        })
    }

    /// The core's error for this reason, about `tensor`.
    pub fn error(self, tensor: usize) -> fadam_core::Error {
        use fadam_core::{Buffer, Error as E};
        match self {
            Self::NonFiniteGradient => E::NonFiniteGradient { tensor },
            Self::FisherOverflow => E::FisherOverflow { tensor },
            Self::NonFiniteParam => E::NonFiniteParam { tensor },
            Self::InvalidMomentum => E::InvalidState {
                tensor,
                buffer: Buffer::Momentum,
            },
            Self::InvalidFisher => E::InvalidState {
                tensor,
                buffer: Buffer::Fisher,
            },
        }
    }
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
    /// The core's error of the [`SkipReason`] ([`SkipReason::error`], in
    /// [`Error::Core`]) when the step was skipped.
    pub fn result(&self) -> Result<(), Error> {
        match self.skipped {
            None => Ok(()),
            Some((tensor, reason)) => Err(reason.error(tensor).into()),
        }
    }
}

/// Whether a staging buffer's mapping succeeded, once its callback ran.
type Mapping = oneshot::Receiver<bool>;

/// The step's validation errors, where they arrive later than the step (in
/// a browser the error scope resolves asynchronously).
#[cfg(target_arch = "wasm32")]
pub(super) type Scope = Pin<Box<dyn Future<Output = Option<wgpu::Error>>>>;
/// Natively the scope is read before [`FAdamGpu::step`] returns.
#[cfg(not(target_arch = "wasm32"))]
pub(super) type Scope = std::convert::Infallible;

/// A step whose status copy has not been read yet.
pub(super) struct Pending {
    call: u64,
    staging: wgpu::Buffer,
    submission: wgpu::SubmissionIndex,
    mapped: Mapping,
    // Always `None` natively, where `Scope` is uninhabited.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    scope: Option<Scope>,
}

/// Maps `staging` for reading once its copy is done; the channel says when
/// and whether it succeeded.
fn map_read(staging: &wgpu::Buffer) -> Mapping {
    let (done, mapped) = oneshot::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        // The receiver is gone only when the optimizer was dropped.
        let _ = done.send(r.is_ok());
    });
    mapped
}

/// Whether the mapping succeeded, without waiting: `None` while pending.
fn try_mapped(mapped: &mut Mapping) -> Option<bool> {
    match mapped.try_recv() {
        Ok(state) => state,
        // The callback was dropped unrun: the mapping cannot succeed.
        Err(oneshot::Canceled) => Some(false),
    }
}

/// Waits until the mapping's callback ran and says whether it succeeded.
async fn await_mapped(
    device: &wgpu::Device,
    mapped: &mut Mapping,
    submission: &wgpu::SubmissionIndex,
) -> Result<bool, Error> {
    loop {
        if let Some(ok) = try_mapped(mapped) {
            return Ok(ok);
        }
        if cfg!(target_arch = "wasm32") {
            // The browser runs the callback from its event loop.
            return Ok(mapped.await.unwrap_or(false));
        }
        wait_for(device, submission)?;
    }
}

/// Natively, blocks until `submission` is done and runs the callbacks; in a
/// browser it returns at once (the browser polls the device).
fn wait_for(device: &wgpu::Device, submission: &wgpu::SubmissionIndex) -> Result<(), Error> {
    device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(submission.clone()),
            timeout: None,
        })
        .map(|_| ())
        .map_err(device_error)
}

fn device_error(e: impl ToString) -> Error {
    Error::Device(e.to_string())
}

impl FAdamGpu {
    /// A staging buffer for one step's status words (recycled).
    pub(super) fn status_staging(&mut self) -> wgpu::Buffer {
        self.staging_pool.pop().unwrap_or_else(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("fadam status readback"),
                size: STATUS_BYTES,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })
    }

    /// Awaits the report of call `call`, whose status words `submission`
    /// copies to `staging`; `scope` holds its validation errors where they
    /// arrive later.
    pub(super) fn track(
        &mut self,
        call: u64,
        staging: wgpu::Buffer,
        submission: wgpu::SubmissionIndex,
        scope: Option<Scope>,
    ) {
        let mapped = map_read(&staging);
        self.pending.push_back(Pending {
            call,
            staging,
            submission,
            mapped,
            scope,
        });
    }

    /// Reads the front report if it has landed, without waiting.
    fn take_front(&mut self) -> Result<bool, Error> {
        let Some(front) = self.pending.front_mut() else {
            return Ok(false);
        };
        #[cfg(target_arch = "wasm32")]
        if let Some(scope) = &mut front.scope {
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            match scope.as_mut().poll(&mut cx) {
                std::task::Poll::Pending => return Ok(false),
                std::task::Poll::Ready(error) => {
                    front.scope = None;
                    if let Some(e) = error {
                        self.pending.pop_front();
                        return Err(device_error(e));
                    }
                }
            }
        }
        match try_mapped(&mut front.mapped) {
            None => Ok(false),
            Some(ok) => self.finish_front(ok).map(|()| true),
        }
    }

    /// Waits for the oldest pending report.
    pub(super) async fn wait_front(&mut self) -> Result<(), Error> {
        let Some(front) = self.pending.front_mut() else {
            return Ok(());
        };
        #[cfg(target_arch = "wasm32")]
        if let Some(scope) = front.scope.take() {
            if let Some(e) = scope.await {
                self.pending.pop_front();
                return Err(device_error(e));
            }
        }
        let ok = await_mapped(&self.device, &mut front.mapped, &front.submission).await?;
        self.finish_front(ok)
    }

    /// Pops the front report, whose mapping has finished (`ok` when it
    /// succeeded), and decodes its status words.
    fn finish_front(&mut self, ok: bool) -> Result<(), Error> {
        let front = self.pending.pop_front().expect("a pending step");
        if !ok {
            return Err(Error::Device("status readback failed".into()));
        }
        let words: [u32; STATUS_WORDS] = {
            let view = front.staging.get_mapped_range(..).map_err(device_error)?;
            bytemuck::pod_read_unaligned(&view[..STATUS_BYTES as usize])
        };
        front.staging.unmap();
        self.staging_pool.push(front.staging);
        // The GPU's counters are 32-bit; the host's run on from them.
        let step = self.confirmed_step
            + u64::from(words[ST_STEP].wrapping_sub(self.confirmed_step as u32));
        let skips = self.confirmed_skips
            + u64::from(words[ST_SKIPS].wrapping_sub(self.confirmed_skips as u32));
        self.confirmed_step = step;
        self.confirmed_skips = skips;
        let skipped = if words[ST_LAST_SKIPPED] != 0 {
            let (tensor, bit) = decode_skip(words[ST_SKIP_CODE]);
            let reason =
                SkipReason::of_bit(bit).ok_or_else(|| Error::Device("unknown skip code".into()))?;
            Some((tensor, reason))
        } else {
            None
        };
        self.reports.push_back(StepReport {
            call: front.call,
            step,
            skipped,
        });
        Ok(())
    }

    /// Takes every report that has landed. Never blocks.
    pub(super) fn collect_landed(&mut self) -> Result<(), Error> {
        self.device
            .poll(wgpu::PollType::Poll)
            .map_err(device_error)?;
        while self.take_front()? {}
        Ok(())
    }

    /// Waits for every pending report.
    pub(super) async fn collect_all(&mut self) -> Result<(), Error> {
        while !self.pending.is_empty() {
            self.wait_front().await?;
        }
        Ok(())
    }

    /// The reports of the steps that have finished on the GPU since the
    /// last call, in order. Never blocks (natively and in a browser).
    ///
    /// # Errors
    /// [`Error::Device`] if polling the device or a readback fails, or (in
    /// a browser, where a step's validation errors arrive later) a step
    /// was invalid.
    pub fn poll(&mut self) -> Result<Vec<StepReport>, Error> {
        self.collect_landed()?;
        Ok(self.reports.drain(..).collect())
    }

    /// Waits for every submitted step and returns the reports not yet
    /// returned, in order. The blocking form of
    /// [`wait_async`](Self::wait_async) (not on `wasm32`).
    ///
    /// # Errors
    /// As [`wait_async`](Self::wait_async).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait(&mut self) -> Result<Vec<StepReport>, Error> {
        pollster::block_on(self.wait_async())
    }

    /// Waits for every submitted step and returns the reports not yet
    /// returned, in order. In a browser this yields to the event loop;
    /// natively it blocks in `wgpu::Device::poll`.
    ///
    /// ```no_run
    /// # async fn run(opt: &mut fadam_wgpu::FAdamGpu) -> Result<(), fadam_wgpu::Error> {
    /// for report in opt.wait_async().await? {
    ///     report.result()?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`poll`](Self::poll).
    pub async fn wait_async(&mut self) -> Result<Vec<StepReport>, Error> {
        self.collect_all().await?;
        Ok(self.reports.drain(..).collect())
    }

    /// The report of call `call`, once collected.
    pub(super) fn report_of(&self, call: u64) -> Result<StepReport, Error> {
        self.reports
            .iter()
            .rev()
            .find(|r| r.call == call)
            .copied()
            .ok_or_else(|| Error::Device("missing step report".into()))
    }

    /// The first `bytes` of `buffer`.
    pub(super) async fn read_buffer(
        &self,
        buffer: &wgpu::Buffer,
        bytes: u64,
    ) -> Result<Vec<u8>, Error> {
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let guard = super::guard::Guard::push(&self.device);
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
        if let Some(e) = guard.pop().await {
            return Err(device_error(e));
        }
        let mut mapped = map_read(&staging);
        if !await_mapped(&self.device, &mut mapped, &index).await? {
            return Err(Error::Device("readback failed".into()));
        }
        let out = staging.get_mapped_range(..).map_err(device_error)?.to_vec();
        staging.unmap();
        Ok(out)
    }
}
