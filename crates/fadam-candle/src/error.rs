//! The typed error of this crate, and how it travels inside candle's.

use std::fmt;

use candle_core::{DType, Shape};
use fadam_core::ConfigError;

/// Why a step, a constructor or a state load was refused. Nothing was
/// written: every var and all optimizer state are as they were.
///
/// [`Optimizer::step`](candle_nn::Optimizer::step) must return a
/// [`candle_core::Error`]; it carries this error boxed inside (as
/// [`candle_core::Error::WrappedContext`]), and [`FAdamError::find`] gets it
/// back out. [`FAdam::try_step`](crate::FAdam::try_step) returns it
/// directly.
///
/// ```
/// use fadam_candle::FAdamError;
/// let typed = FAdamError::MissingState { name: "w".into() };
/// let candle: candle_core::Error = typed.into();
/// assert!(candle.to_string().starts_with("the state has no entry w"));
/// assert!(matches!(
///     FAdamError::find(&candle),
///     Some(FAdamError::MissingState { name }) if name == "w"
/// ));
/// assert!(matches!(FAdamError::from(candle), FAdamError::MissingState { .. }));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum FAdamError {
    /// A hyperparameter of a parameter group is invalid.
    Config {
        /// The index of the group.
        group: usize,
        /// What is wrong.
        error: ConfigError,
    },
    /// `fadam_core` refused the step because of this var: a NaN or an
    /// infinity in its gradient ([`fadam_core::Error::NonFiniteGradient`]),
    /// a gradient whose square overflows the Fisher diagonal, or a step
    /// counter at its end.
    Refused {
        /// The var's name.
        var: String,
        /// What `fadam_core` found (its tensor index is the var's position).
        error: fadam_core::Error,
    },
    /// A gradient's shape differs from its var's.
    GradientShape {
        /// The var's name.
        var: String,
        /// The var's shape.
        expected: Shape,
        /// The gradient's shape.
        found: Shape,
    },
    /// A gradient's dtype differs from its var's.
    GradientDType {
        /// The var's name.
        var: String,
        /// The var's dtype.
        expected: DType,
        /// The gradient's dtype.
        found: DType,
    },
    /// A gradient lives on another device than its var.
    GradientDevice {
        /// The var's name.
        var: String,
    },
    /// A float var of a dtype FAdam does not step (only `f16`, `bf16`,
    /// `f32` and `f64` are stepped; other float formats are storage only).
    UnsupportedDType {
        /// The var's name.
        var: String,
        /// Its dtype.
        dtype: DType,
    },
    /// A var names a parameter group that does not exist.
    UnknownGroup {
        /// The var's name.
        var: String,
        /// The group it names.
        group: usize,
        /// How many groups there are.
        groups: usize,
    },
    /// Two vars have the same name (their states could not be told apart
    /// in a checkpoint), or the same var is given twice (it would be stepped
    /// twice).
    DuplicateName {
        /// The name (of the second occurrence).
        name: String,
    },
    /// Loaded state lacks an entry the optimizer needs.
    MissingState {
        /// The entry's name in the safetensors file.
        name: String,
    },
    /// Loaded state has an entry no var of the optimizer owns.
    UnexpectedState {
        /// The entry's name in the safetensors file.
        name: String,
    },
    /// A loaded state entry has the wrong shape.
    StateShape {
        /// The entry's name.
        name: String,
        /// The shape the optimizer needs.
        expected: Shape,
        /// The shape in the file.
        found: Shape,
    },
    /// A loaded state entry has the wrong dtype.
    StateDType {
        /// The entry's name.
        name: String,
        /// The dtype the optimizer needs.
        expected: DType,
        /// The dtype in the file.
        found: DType,
    },
    /// An error of candle itself (a device error, a failed read or write).
    Candle(candle_core::Error),
}

impl fmt::Display for FAdamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config { group, error } => write!(f, "invalid config of group {group}: {error}"),
            Self::Refused { var, error } => write!(f, "var {var}: {error}"),
            Self::GradientShape {
                var,
                expected,
                found,
            } => write!(
                f,
                "var {var}: gradient of shape {found:?}, expected {expected:?}"
            ),
            Self::GradientDType {
                var,
                expected,
                found,
            } => write!(
                f,
                "var {var}: gradient of dtype {found:?}, expected {expected:?}"
            ),
            Self::GradientDevice { var } => {
                write!(f, "var {var}: the gradient is on another device")
            }
            Self::UnsupportedDType { var, dtype } => {
                write!(f, "var {var}: FAdam does not step {dtype:?} parameters")
            }
            Self::UnknownGroup { var, group, groups } => write!(
                f,
                "var {var} names group {group}, but there are {groups} groups"
            ),
            Self::DuplicateName { name } => write!(f, "var {name} is given twice"),
            Self::MissingState { name } => write!(f, "the state has no entry {name}"),
            Self::UnexpectedState { name } => {
                write!(f, "the state entry {name} belongs to no var")
            }
            Self::StateShape {
                name,
                expected,
                found,
            } => write!(
                f,
                "state entry {name} has shape {found:?}, expected {expected:?}"
            ),
            Self::StateDType {
                name,
                expected,
                found,
            } => write!(
                f,
                "state entry {name} has dtype {found:?}, expected {expected:?}"
            ),
            Self::Candle(error) => write!(f, "candle: {error}"),
        }
    }
}

impl std::error::Error for FAdamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Candle(error) => Some(error),
            _ => None,
        }
    }
}

/// The context string of a wrapped [`FAdamError`].
const CONTEXT: &str = "fadam-candle";

/// An [`FAdamError`] inside candle's error, whose `Debug` (what candle
/// prints for a wrapped error) is the readable message.
struct Carried(FAdamError);

impl fmt::Debug for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Carried {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl From<candle_core::Error> for FAdamError {
    /// Unwraps an [`FAdamError`] that travelled inside candle's error, else
    /// keeps candle's error as [`FAdamError::Candle`].
    fn from(error: candle_core::Error) -> Self {
        match error {
            candle_core::Error::WrappedContext { wrapped, context } if context == CONTEXT => {
                match wrapped.downcast::<Carried>() {
                    Ok(carried) => carried.0,
                    Err(wrapped) => {
                        Self::Candle(candle_core::Error::WrappedContext { wrapped, context })
                    }
                }
            }
            candle_core::Error::WithBacktrace { inner, .. } => Self::from(*inner),
            other => Self::Candle(other),
        }
    }
}

impl From<FAdamError> for candle_core::Error {
    /// Boxes the typed error (a candle error stays itself).
    fn from(error: FAdamError) -> Self {
        match error {
            FAdamError::Candle(error) => error,
            typed => Self::WrappedContext {
                wrapped: Box::new(Carried(typed)),
                context: CONTEXT.into(),
            },
        }
    }
}

impl FAdamError {
    /// The [`FAdamError`] inside a candle error returned by
    /// [`Optimizer::step`](candle_nn::Optimizer::step) and the other
    /// trait methods, looking through candle's backtrace and context
    /// layers; `None` for an error of candle itself.
    pub fn find(error: &candle_core::Error) -> Option<&Self> {
        match error {
            candle_core::Error::WrappedContext { wrapped, context } if context == CONTEXT => {
                wrapped.downcast_ref::<Carried>().map(|c| &c.0)
            }
            candle_core::Error::WithBacktrace { inner, .. }
            | candle_core::Error::Context { inner, .. }
            | candle_core::Error::WithPath { inner, .. } => Self::find(inner),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = FAdamError> = std::result::Result<T, E>;
