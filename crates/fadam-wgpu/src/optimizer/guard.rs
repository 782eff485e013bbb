//! Device errors caught where they happen: wgpu reports a validation or
//! out-of-memory error to the innermost error scope, and without one to
//! its uncaptured-error handler, which natively panics by default.

use std::future::Future;

use crate::Error;

/// Validation and out-of-memory error scopes around some device work.
pub(crate) struct Guard {
    validation: wgpu::ErrorScopeGuard,
    oom: wgpu::ErrorScopeGuard,
}

impl Guard {
    /// Opens the scopes on `device`.
    pub(crate) fn push(device: &wgpu::Device) -> Self {
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        Self { validation, oom }
    }

    /// Closes the scopes at once; the future gives the first error they
    /// caught (natively it is ready at once; in a browser it resolves
    /// later).
    pub(crate) fn pop(self) -> impl Future<Output = Option<wgpu::Error>> + 'static {
        let validation = self.validation.pop();
        let oom = self.oom.pop();
        async move {
            match validation.await {
                Some(e) => Some(e),
                None => oom.await,
            }
        }
    }

    /// Closes the scopes: natively `Err(Device)` with the first error
    /// caught; in a browser, where nothing may wait, always `Ok` (an
    /// invalid object then fails the step that uses it, which reports it).
    pub(crate) fn check(self) -> Result<(), Error> {
        let done = self.pop();
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(e) = pollster::block_on(done) {
            return Err(Error::Device(e.to_string()));
        }
        #[cfg(target_arch = "wasm32")]
        drop(done);
        Ok(())
    }
}
