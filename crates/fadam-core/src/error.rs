//! The errors a step can return. Every one of them means that nothing was
//! written: parameters and state are exactly as they were.

use core::fmt;

use crate::ConfigError;

/// Which slice of a tensor had the wrong length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Buffer {
    /// The gradient.
    Gradient,
    /// The momentum state.
    Momentum,
    /// The Fisher diagonal state.
    Fisher,
}

/// Why a step was refused. Nothing was written.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A hyperparameter is invalid.
    Config {
        /// The index of the group whose config is invalid (0 for a single
        /// config).
        group: usize,
        /// What is wrong.
        error: ConfigError,
    },
    /// A slice's length differs from the parameters'.
    LengthMismatch {
        /// The index of the tensor (0 for a single tensor).
        tensor: usize,
        /// Which slice.
        buffer: Buffer,
        /// The parameters' length.
        expected: usize,
        /// The slice's length.
        found: usize,
    },
    /// The gradient (after negation for `maximize` and the L2 term) holds a
    /// NaN or an infinity.
    NonFiniteGradient {
        /// The index of the tensor.
        tensor: usize,
    },
    /// A gradient is so large that its square overflows the state type, so
    /// the Fisher diagonal cannot hold it.
    FisherOverflow {
        /// The index of the tensor.
        tensor: usize,
    },
    /// A tensor names a parameter group that does not exist.
    UnknownGroup {
        /// The index of the tensor.
        tensor: usize,
        /// The group it names.
        group: usize,
        /// How many groups there are.
        groups: usize,
    },
    /// The step counter would overflow `u64`.
    StepOverflow {
        /// The index of the tensor.
        tensor: usize,
    },
    /// A shard's step counter, or its number of elements, does not match
    /// the [`Reduction`](crate::Reduction) it is applied with.
    ShardMismatch {
        /// What was expected (a step count or an element count).
        expected: u64,
        /// What was found.
        found: u64,
    },
    /// [`Reduction::apply`](crate::Reduction::apply) was called before all
    /// partial sums were absorbed, or `partial_sums` after.
    NotReady,
}

impl Error {
    /// The same error, about tensor `tensor` of a model: for callers that
    /// step a model's tensors one [`Reduction`](crate::Reduction) at a time
    /// (whose errors name tensor 0). Errors that name no tensor are
    /// returned as they are.
    ///
    /// ```
    /// use fadam_core::Error;
    /// let e = Error::NonFiniteGradient { tensor: 0 }.with_tensor(7);
    /// assert_eq!(e, Error::NonFiniteGradient { tensor: 7 });
    /// assert_eq!(Error::NotReady.with_tensor(7), Error::NotReady);
    /// ```
    #[must_use]
    pub fn with_tensor(self, tensor: usize) -> Self {
        match self {
            Self::NonFiniteGradient { .. } => Self::NonFiniteGradient { tensor },
            Self::FisherOverflow { .. } => Self::FisherOverflow { tensor },
            Self::StepOverflow { .. } => Self::StepOverflow { tensor },
            Self::LengthMismatch {
                buffer,
                expected,
                found,
                ..
            } => Self::LengthMismatch {
                tensor,
                buffer,
                expected,
                found,
            },
            Self::UnknownGroup { group, groups, .. } => Self::UnknownGroup {
                tensor,
                group,
                groups,
            },
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Config { group, error } => write!(f, "invalid config of group {group}: {error}"),
            Self::LengthMismatch {
                tensor,
                buffer,
                expected,
                found,
            } => write!(
                f,
                "tensor {tensor}: {buffer:?} has {found} elements, the parameters have {expected}"
            ),
            Self::NonFiniteGradient { tensor } => {
                write!(
                    f,
                    "tensor {tensor}: the gradient holds NaN or infinity; step skipped"
                )
            }
            Self::FisherOverflow { tensor } => write!(
                f,
                "tensor {tensor}: a squared gradient overflows the state type; step skipped"
            ),
            Self::UnknownGroup {
                tensor,
                group,
                groups,
            } => write!(
                f,
                "tensor {tensor} names group {group}, but there are {groups} groups"
            ),
            Self::StepOverflow { tensor } => write!(f, "tensor {tensor}: step counter overflow"),
            Self::ShardMismatch { expected, found } => {
                write!(
                    f,
                    "shard does not match its reduction: expected {expected}, found {found}"
                )
            }
            Self::NotReady => write!(f, "reduction used out of order"),
        }
    }
}

impl core::error::Error for Error {}
