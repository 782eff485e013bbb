//! Step reports: the status words each step copies to a staging buffer,
//! read back without blocking ([`FAdamGpu::poll`]) or waited for
//! ([`FAdamGpu::wait`]); and the blocking read of a whole buffer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use super::FAdamGpu;
use crate::Error;
use crate::pipelines::STATUS_BYTES;
use crate::words::{
    BAD_NON_FINITE, ST_LAST_SKIPPED, ST_SKIP_CODE, ST_SKIPS, ST_STEP, STATUS_WORDS, decode_skip,
};

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
    /// [`fadam_core::Error::NonFiniteGradient`] or
    /// [`fadam_core::Error::FisherOverflow`] (in [`Error::Core`]) when the
    /// step was skipped.
    pub fn result(&self) -> Result<(), Error> {
        match self.skipped {
            None => Ok(()),
            Some((tensor, SkipReason::NonFiniteGradient)) => {
                Err(fadam_core::Error::NonFiniteGradient { tensor }.into())
            }
            Some((tensor, SkipReason::FisherOverflow)) => {
                Err(fadam_core::Error::FisherOverflow { tensor }.into())
            }
        }
    }
}

/// State of a staging buffer's mapping, set by its callback.
const MAP_PENDING: u8 = 0;
const MAP_DONE: u8 = 1;
const MAP_FAILED: u8 = 2;

/// A step whose status copy has not been read yet.
pub(super) struct Pending {
    call: u64,
    staging: wgpu::Buffer,
    submission: wgpu::SubmissionIndex,
    mapped: Arc<AtomicU8>,
}

/// Maps `staging` for reading once its copy is done; the flag says when.
fn map_read(staging: &wgpu::Buffer) -> Arc<AtomicU8> {
    let mapped = Arc::new(AtomicU8::new(MAP_PENDING));
    let flag = mapped.clone();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let state = if r.is_ok() { MAP_DONE } else { MAP_FAILED };
        flag.store(state, Ordering::Release);
    });
    mapped
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
    /// copies to `staging`.
    pub(super) fn track(
        &mut self,
        call: u64,
        staging: wgpu::Buffer,
        submission: wgpu::SubmissionIndex,
    ) {
        let mapped = map_read(&staging);
        self.pending.push_back(Pending {
            call,
            staging,
            submission,
            mapped,
        });
    }

    /// Reads the finished front report, if its readback has landed.
    fn take_front(&mut self) -> Result<bool, Error> {
        let Some(front) = self.pending.front() else {
            return Ok(false);
        };
        match front.mapped.load(Ordering::Acquire) {
            MAP_PENDING => return Ok(false),
            MAP_DONE => {}
            _ => {
                self.pending.pop_front();
                return Err(Error::Device("status readback failed".into()));
            }
        }
        let front = self.pending.pop_front().expect("checked");
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
        let skipped = (words[ST_LAST_SKIPPED] != 0).then(|| {
            let (tensor, kind) = decode_skip(words[ST_SKIP_CODE]);
            let reason = if kind == BAD_NON_FINITE {
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

    /// Takes every report that has landed; with `block`, waits for all.
    pub(super) fn collect(&mut self, block: bool) -> Result<(), Error> {
        if block {
            while !self.pending.is_empty() {
                self.wait_front()?;
            }
        } else {
            self.device
                .poll(wgpu::PollType::Poll)
                .map_err(device_error)?;
            while self.take_front()? {}
        }
        Ok(())
    }

    /// Waits for the oldest pending report.
    pub(super) fn wait_front(&mut self) -> Result<(), Error> {
        let Some(front) = self.pending.front() else {
            return Ok(());
        };
        let index = front.submission.clone();
        while !self.take_front()? {
            self.wait_for(&index)?;
        }
        Ok(())
    }

    fn wait_for(&self, index: &wgpu::SubmissionIndex) -> Result<(), Error> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index.clone()),
                timeout: None,
            })
            .map(|_| ())
            .map_err(device_error)
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

    /// The report of call `call`, once collected.
    pub(super) fn report_of(&self, call: u64) -> Result<StepReport, Error> {
        self.reports
            .iter()
            .rev()
            .find(|r| r.call == call)
            .copied()
            .ok_or_else(|| Error::Device("missing step report".into()))
    }

    /// The first `bytes` of `buffer`. Blocks.
    pub(super) fn read_buffer(&self, buffer: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, Error> {
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
        let mapped = map_read(&staging);
        while mapped.load(Ordering::Acquire) == MAP_PENDING {
            self.wait_for(&index)?;
        }
        if mapped.load(Ordering::Acquire) != MAP_DONE {
            return Err(Error::Device("readback failed".into()));
        }
        let out = staging.get_mapped_range(..).map_err(device_error)?.to_vec();
        staging.unmap();
        Ok(out)
    }
}
