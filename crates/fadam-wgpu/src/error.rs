//! The errors a step can return. Every one of them means that nothing was
//! written: parameters and state are exactly as they were.
//!
//! What the core already names (an invalid config, an unknown group, a
//! skipped step) is the core's [`fadam_core::Error`], wrapped in
//! [`Error::Core`]; the other variants are the GPU's own: buffers, device
//! limits and the device itself.

use core::fmt;

use fadam_core::Buffer;

/// Which arena (a buffer, or a host slice in arena layout) an error is
/// about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arena {
    /// The parameters.
    Params,
    /// The gradients or a state arena, as the core names them.
    Other(Buffer),
}

impl fmt::Display for Arena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Params => write!(f, "Params"),
            Self::Other(buffer) => write!(f, "{buffer:?}"),
        }
    }
}

/// Why a step (or setting up the optimizer) was refused. Nothing was written.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// An error the core defines, as the core returns it:
    /// [`Config`](fadam_core::Error::Config) (a group's hyperparameters are
    /// invalid), [`UnknownGroup`](fadam_core::Error::UnknownGroup) (a tensor
    /// names a group that does not exist), and the skipped steps
    /// [`NonFiniteGradient`](fadam_core::Error::NonFiniteGradient) and
    /// [`FisherOverflow`](fadam_core::Error::FisherOverflow) (tensor indices
    /// are the [`Layout`](crate::Layout)'s).
    Core(fadam_core::Error),
    /// No parameter group was given.
    NoGroups,
    /// Two tensors of a layout overlap in the arena.
    Overlap {
        /// The index of one tensor (the smaller).
        tensor: usize,
        /// The index of the other.
        other: usize,
    },
    /// A host slice's length differs from the arena's.
    LengthMismatch {
        /// Which slice.
        buffer: Arena,
        /// The arena's length in elements.
        expected: u64,
        /// The slice's length.
        found: u64,
    },
    /// A buffer passed to a step was made by another optimizer
    /// ([`FAdamGpu::create_buffer`](crate::FAdamGpu::create_buffer) of
    /// another instance, perhaps on another device): only the optimizer's
    /// own buffers are known to live on its device.
    ForeignBuffer {
        /// Which buffer.
        buffer: Arena,
    },
    /// The parameters and the gradients are the same buffer.
    SameBuffer,
    /// A binding given to a [`TensorStep`](crate::TensorStep) cannot be
    /// bound as the step needs it.
    Binding {
        /// Which binding
        /// ([`TensorBuffers`](crate::TensorBuffers)' field name).
        binding: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Something exceeds what this device (or the shaders' 32-bit indices
    /// and step counter) can hold.
    TooLarge {
        /// What.
        what: &'static str,
        /// How much is needed.
        needed: u64,
        /// The limit.
        limit: u64,
    },
    /// The device's limits are below what the shaders need.
    Unsupported {
        /// Which limit.
        what: &'static str,
        /// What the shaders need.
        needed: u64,
        /// What the device offers.
        limit: u64,
    },
    /// In a browser, where nothing may block:
    /// [`Options::max_pending_steps`](crate::Options::max_pending_steps)
    /// steps await their reports, so [`FAdamGpu::step`](crate::FAdamGpu::step)
    /// submitted nothing. Await
    /// [`wait_async`](crate::FAdamGpu::wait_async), or step with
    /// [`step_async`](crate::FAdamGpu::step_async). Never returned natively
    /// (the step waits there).
    WouldBlock {
        /// The steps awaiting their reports.
        pending: usize,
    },
    /// No adapter was found
    /// ([`request_device_async`](crate::request_device_async)).
    NoAdapter(String),
    /// The device could not be created, or reported an error.
    Device(String),
}

impl From<fadam_core::Error> for Error {
    fn from(e: fadam_core::Error) -> Self {
        Self::Core(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Core(e) => e.fmt(f),
            Self::NoGroups => write!(f, "no parameter group given"),
            Self::Overlap { tensor, other } => {
                write!(f, "tensors {tensor} and {other} overlap in the arena")
            }
            Self::LengthMismatch {
                buffer,
                expected,
                found,
            } => write!(f, "{buffer} has {found} elements, the arena has {expected}"),
            Self::ForeignBuffer { buffer } => write!(
                f,
                "{buffer} buffer was made by another optimizer (perhaps on another device)"
            ),
            Self::SameBuffer => write!(f, "parameters and gradients are the same buffer"),
            Self::Binding { binding, problem } => write!(f, "binding `{binding}`: {problem}"),
            Self::TooLarge {
                what,
                needed,
                limit,
            } => write!(f, "{what}: {needed} exceeds the limit {limit}"),
            Self::Unsupported {
                what,
                needed,
                limit,
            } => write!(
                f,
                "device limit {what} is {limit}, the shaders need {needed}"
            ),
            Self::WouldBlock { pending } => write!(
                f,
                "{pending} steps await their reports: wait for them before stepping again"
            ),
            Self::NoAdapter(e) => write!(f, "no GPU adapter: {e}"),
            Self::Device(e) => write!(f, "device error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Core(e) => Some(e),
            _ => None,
        }
    }
}
