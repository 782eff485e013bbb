//! Why a step (or a state) was refused.

use core::fmt;

/// Why a step was refused, or why a [`ParamState`](crate::ParamState) could
/// not be built. When a step returns an error, nothing was written: every
/// parameter array and the whole optimizer state are exactly as they were.
///
/// Parameter indices (`param`) count the parameters of the step in the order
/// they were given, from 0.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// Refused by `fadam-core`: an invalid config of a group, a group index
    /// out of range, a NaN or infinity in a gradient, a gradient whose square
    /// overflows the state type, a step counter overflow. Its `tensor` index
    /// is the parameter index.
    Core(fadam_core::Error),
    /// A step was given a different number of gradients than parameters.
    GradientCount {
        /// How many parameters.
        params: usize,
        /// How many gradients.
        grads: usize,
    },
    /// A step was given a different number of group indices than parameters.
    GroupCount {
        /// How many parameters.
        params: usize,
        /// How many group indices.
        groups: usize,
    },
    /// A gradient's shape differs from its parameter's.
    GradientShape {
        /// The parameter index.
        param: usize,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The gradient's shape.
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
        param: usize,
        /// The shape of the state.
        expected: Vec<usize>,
        /// The parameter's shape.
        found: Vec<usize>,
    },
    /// A [`ParamState`](crate::ParamState) whose momentum or Fisher length is
    /// not the number of elements of its shape.
    StateLength {
        /// The number of elements of the shape (`None` if it overflows
        /// `usize`).
        expected: Option<usize>,
        /// The momentum's length.
        momentum: usize,
        /// The Fisher diagonal's length.
        fisher: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Core(error) => write!(f, "{error}"),
            Self::GradientCount { params, grads } => {
                write!(f, "{params} parameters but {grads} gradients")
            }
            Self::GroupCount { params, groups } => {
                write!(f, "{params} parameters but {groups} group indices")
            }
            Self::GradientShape {
                param,
                expected,
                found,
            } => write!(
                f,
                "parameter {param}: gradient has shape {found:?}, the parameter {expected:?}"
            ),
            Self::ParamCount { expected, found } => write!(
                f,
                "the optimizer holds state for {expected} parameters, the step has {found}"
            ),
            Self::ParamShape {
                param,
                expected,
                found,
            } => write!(
                f,
                "parameter {param} has shape {found:?}, its state was made for {expected:?}"
            ),
            Self::StateLength {
                expected,
                momentum,
                fisher,
            } => match expected {
                Some(n) => write!(
                    f,
                    "state for {n} elements has {momentum} momentum and {fisher} Fisher values"
                ),
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
