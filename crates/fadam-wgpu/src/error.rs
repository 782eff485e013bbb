//! The errors a step can return. Every one of them means that nothing was
//! written: parameters and state are exactly as they were.

use core::fmt;

use fadam_core::ConfigError;

/// Which buffer (or host slice) an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The parameters.
    Params,
    /// The gradients.
    Grads,
    /// The momentum state.
    Momentum,
    /// The Fisher diagonal state.
    Fisher,
}

/// Why a step (or setting up the optimizer) was refused. Nothing was written.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A group's hyperparameters are invalid ([`FAdamConfig::validate`](fadam_core::FAdamConfig::validate)).
    Config {
        /// The index of the group.
        group: usize,
        /// What is wrong.
        error: ConfigError,
    },
    /// No parameter group was given.
    NoGroups,
    /// A tensor names a group that does not exist.
    UnknownGroup {
        /// The index of the tensor.
        tensor: usize,
        /// The group it names.
        group: usize,
        /// How many groups there are.
        groups: usize,
    },
    /// Two tensors of a layout overlap in the arena.
    Overlap {
        /// The index of one tensor.
        first: usize,
        /// The index of the other.
        second: usize,
    },
    /// A host slice's length differs from the arena's.
    LengthMismatch {
        /// Which slice.
        buffer: Role,
        /// The arena's length in elements.
        expected: u64,
        /// The slice's length.
        found: u64,
    },
    /// A buffer is smaller than the arena.
    BufferTooSmall {
        /// Which buffer.
        buffer: Role,
        /// Bytes needed.
        needed: u64,
        /// The buffer's size in bytes.
        size: u64,
    },
    /// A buffer lacks a usage the step needs.
    BufferUsage {
        /// Which buffer.
        buffer: Role,
        /// The usages it lacks.
        missing: wgpu::BufferUsages,
    },
    /// The parameters and the gradients are the same buffer.
    SameBuffer,
    /// Something exceeds what this device can hold (see the message).
    TooLarge {
        /// What.
        what: &'static str,
        /// How much is needed.
        needed: u64,
        /// The device's limit.
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
    /// A gradient (after negation for `maximize` and the L2 term) holds a NaN
    /// or an infinity: the step was skipped.
    NonFiniteGradient {
        /// The index of the first such tensor in the layout.
        tensor: usize,
    },
    /// A squared gradient overflows `f32` in the Fisher diagonal: the step
    /// was skipped.
    FisherOverflow {
        /// The index of the first such tensor in the layout.
        tensor: usize,
    },
    /// The step counter would exceed `u32::MAX` (the GPU keeps it in 32 bits).
    StepOverflow,
    /// No adapter was found ([`request_device`](crate::request_device)).
    NoAdapter(String),
    /// The device could not be created, or reported an error.
    Device(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config { group, error } => write!(f, "invalid config of group {group}: {error}"),
            Self::NoGroups => write!(f, "no parameter group given"),
            Self::UnknownGroup {
                tensor,
                group,
                groups,
            } => write!(
                f,
                "tensor {tensor} names group {group}, but there are {groups} groups"
            ),
            Self::Overlap { first, second } => {
                write!(f, "tensors {first} and {second} overlap in the arena")
            }
            Self::LengthMismatch {
                buffer,
                expected,
                found,
            } => write!(
                f,
                "{buffer:?} has {found} elements, the arena has {expected}"
            ),
            Self::BufferTooSmall {
                buffer,
                needed,
                size,
            } => write!(
                f,
                "{buffer:?} buffer has {size} bytes, the arena needs {needed}"
            ),
            Self::BufferUsage { buffer, missing } => {
                write!(f, "{buffer:?} buffer lacks usage {missing:?}")
            }
            Self::SameBuffer => write!(f, "parameters and gradients are the same buffer"),
            Self::TooLarge {
                what,
                needed,
                limit,
            } => write!(f, "{what}: {needed} exceeds the device's limit {limit}"),
            Self::Unsupported {
                what,
                needed,
                limit,
            } => write!(
                f,
                "device limit {what} is {limit}, the shaders need {needed}"
            ),
            Self::NonFiniteGradient { tensor } => write!(
                f,
                "tensor {tensor}: the gradient holds NaN or infinity; step skipped"
            ),
            Self::FisherOverflow { tensor } => write!(
                f,
                "tensor {tensor}: a squared gradient overflows f32; step skipped"
            ),
            Self::StepOverflow => write!(f, "step counter overflow"),
            Self::NoAdapter(e) => write!(f, "no GPU adapter: {e}"),
            Self::Device(e) => write!(f, "device error: {e}"),
        }
    }
}

impl std::error::Error for Error {}
