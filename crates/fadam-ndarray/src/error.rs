//! Why a step (or a state) was refused.

use core::fmt;

use fadam_core::Buffer;

/// Why a step was refused, or why a [`ParamState`](crate::ParamState) could
/// not be built. When a step returns an error, nothing was written: every
/// parameter array and the whole optimizer state are exactly as they were.
///
/// The vocabulary is `fadam-core`'s ([`fadam_core::Error`]): `tensor` is
/// the index of a parameter in the step, counting from 0 in the order the
/// parameters were given; `buffer` is a [`Buffer`]; `expected` is what the
/// parameters (or the optimizer's state) call for and `found` what was
/// given. Only what `fadam-core` cannot see is added here: array shapes and
/// the counts of arrays in a step.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// Refused by `fadam-core`: an invalid config of a group, a per-step
    /// constant out of the state type's range, a group index out of range, a
    /// NaN or infinity in a gradient or a parameter, a gradient whose square
    /// overflows the state type, a step counter overflow, or state values no
    /// step can write ([`fadam_core::Error::InvalidState`], also when a
    /// [`ParamState`](crate::ParamState) is built or deserialized, there
    /// with `tensor: 0`).
    Core(fadam_core::Error),
    /// A step was given a different number of gradients than parameters.
    GradientCount {
        /// How many parameters.
        expected: usize,
        /// How many gradients.
        found: usize,
    },
    /// A step was given a different number of group indices than parameters.
    GroupCount {
        /// How many parameters.
        expected: usize,
        /// How many group indices.
        found: usize,
    },
    /// An array's shape differs from its parameter's: the shape form of
    /// [`fadam_core::Error::LengthMismatch`].
    ShapeMismatch {
        /// The parameter index.
        tensor: usize,
        /// Which array.
        buffer: Buffer,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The array's shape.
        found: Vec<usize>,
    },
    /// The step has a different number of parameters than the optimizer
    /// holds state for: the parameter set changed since the first step (or
    /// since the state was loaded). Call [`FAdam::reset`](crate::FAdam::reset)
    /// to start afresh on purpose.
    ParamCount {
        /// How many parameters the state covers.
        expected: usize,
        /// How many parameters the step has.
        found: usize,
    },
    /// A parameter's shape differs from the shape its state was made for.
    ParamShape {
        /// The parameter index.
        tensor: usize,
        /// The shape of the state.
        expected: Vec<usize>,
        /// The parameter's shape.
        found: Vec<usize>,
    },
    /// A [`ParamState`](crate::ParamState) whose momentum or Fisher length is
    /// not the number of elements of its shape (the first such buffer, the
    /// momentum before the Fisher diagonal).
    StateLength {
        /// Which state vector.
        buffer: Buffer,
        /// The number of elements of the shape (`None` if it overflows
        /// `usize`).
        expected: Option<usize>,
        /// The vector's length.
        found: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Core(error) => write!(f, "{error}"),
            Self::GradientCount { expected, found } => {
                write!(f, "{expected} parameters but {found} gradients")
            }
            Self::GroupCount { expected, found } => {
                write!(f, "{expected} parameters but {found} group indices")
            }
            Self::ShapeMismatch {
                tensor,
                buffer,
                expected,
                found,
            } => write!(
                f,
                "tensor {tensor}: {buffer:?} has shape {found:?}, the parameters have {expected:?}"
            ),
            Self::ParamCount { expected, found } => write!(
                f,
                "the optimizer holds state for {expected} parameters, the step has {found}"
            ),
            Self::ParamShape {
                tensor,
                expected,
                found,
            } => write!(
                f,
                "tensor {tensor} has shape {found:?}, its state was made for {expected:?}"
            ),
            Self::StateLength {
                buffer,
                expected,
                found,
            } => match expected {
                Some(n) => write!(f, "state for {n} elements has {found} {buffer:?} values"),
                None => write!(f, "state shape has more elements than usize can count"),
            },
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Core(error) => Some(error),
            _ => None,
        }
    }
}

impl From<fadam_core::Error> for Error {
    fn from(error: fadam_core::Error) -> Self {
        Self::Core(error)
    }
}
