//! The errors of a sharded step. Every one is returned on every rank, the
//! same value on each, and means that nothing was written on any rank.

use core::fmt;

/// Which argument of [`ShardedFAdam::step`](crate::ShardedFAdam::step).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// The parameters.
    Params,
    /// The gradients.
    Grads,
}

/// What was wrong with one rank's arguments to a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputError {
    /// The number of tensors differs from the layout's.
    TensorCount {
        /// Which argument.
        operand: Operand,
        /// The layout's tensor count.
        expected: usize,
        /// The argument's.
        found: usize,
    },
    /// A tensor's length differs from the layout's.
    Length {
        /// Which argument.
        operand: Operand,
        /// The tensor.
        tensor: usize,
        /// The layout's length.
        expected: usize,
        /// The argument's.
        found: usize,
    },
}

/// The words of an optional [`InputError`], for the agreement collective.
pub(crate) const INPUT_WORDS: usize = 5;

impl InputError {
    pub(crate) fn encode(error: Option<Self>) -> [u64; INPUT_WORDS] {
        let op = |o: Operand| o as u64;
        match error {
            None => [0; INPUT_WORDS],
            Some(Self::TensorCount {
                operand,
                expected,
                found,
            }) => [1, op(operand), 0, expected as u64, found as u64],
            Some(Self::Length {
                operand,
                tensor,
                expected,
                found,
            }) => [2, op(operand), tensor as u64, expected as u64, found as u64],
        }
    }

    pub(crate) fn decode(w: &[u64]) -> Option<Self> {
        let operand = if w[1] == Operand::Params as u64 {
            Operand::Params
        } else {
            Operand::Grads
        };
        let (tensor, expected, found) = (w[2] as usize, w[3] as usize, w[4] as usize);
        match w[0] {
            0 => None,
            1 => Some(Self::TensorCount {
                operand,
                expected,
                found,
            }),
            _ => Some(Self::Length {
                operand,
                tensor,
                expected,
                found,
            }),
        }
    }
}

/// How the ranks' layouts differ (compared with rank 0's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayoutMismatch {
    /// The parameter type (`f32`, `f64`) differs.
    ElementType,
    /// The number of tensors differs.
    TensorCount {
        /// Rank 0's.
        expected: usize,
        /// This rank's.
        found: usize,
    },
    /// The number of parameter groups differs.
    GroupCount {
        /// Rank 0's.
        expected: usize,
        /// This rank's.
        found: usize,
    },
    /// A tensor's length differs.
    TensorLen {
        /// The tensor.
        tensor: usize,
        /// Rank 0's.
        expected: usize,
        /// This rank's.
        found: usize,
    },
    /// A tensor's group differs.
    TensorGroup {
        /// The tensor.
        tensor: usize,
        /// Rank 0's.
        expected: usize,
        /// This rank's.
        found: usize,
    },
    /// The round size of
    /// [`ShardedFAdam::with_round_elements`](crate::ShardedFAdam::with_round_elements)
    /// differs.
    RoundElements {
        /// Rank 0's.
        expected: usize,
        /// This rank's.
        found: usize,
    },
    /// Some group's hyperparameters differ.
    Configs,
}

/// Why a checkpoint was not loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckpointError {
    /// Not a checkpoint of this crate, or truncated.
    Format,
    /// Written by another version of the format.
    Version {
        /// The version found.
        found: u64,
    },
    /// Saved with another parameter type.
    ElementType,
    /// Saved on another number of ranks (use
    /// [`load_resharded`](crate::ShardedFAdam::load_resharded)).
    RankCount {
        /// Ranks when saved.
        saved: usize,
        /// Ranks now.
        now: usize,
    },
    /// This rank was given another rank's checkpoint.
    Rank {
        /// The rank that saved it.
        saved: usize,
    },
    /// Saved for other tensors.
    Layout,
    /// The ranks' checkpoints are from different steps.
    Steps,
    /// The checkpoints given to
    /// [`load_resharded`](crate::ShardedFAdam::load_resharded) are not
    /// exactly one per rank of one saving run.
    Set,
}

/// The words of an optional [`CheckpointError`].
pub(crate) const CHECKPOINT_WORDS: usize = 3;

impl CheckpointError {
    pub(crate) fn encode(error: Option<Self>) -> [u64; CHECKPOINT_WORDS] {
        match error {
            None => [0, 0, 0],
            Some(Self::Format) => [1, 0, 0],
            Some(Self::Version { found }) => [2, found, 0],
            Some(Self::ElementType) => [3, 0, 0],
            Some(Self::RankCount { saved, now }) => [4, saved as u64, now as u64],
            Some(Self::Rank { saved }) => [5, saved as u64, 0],
            Some(Self::Layout) => [6, 0, 0],
            Some(Self::Steps) => [7, 0, 0],
            Some(Self::Set) => [8, 0, 0],
        }
    }

    pub(crate) fn decode(w: &[u64]) -> Option<Self> {
        Some(match w[0] {
            0 => return None,
            1 => Self::Format,
            2 => Self::Version { found: w[1] },
            3 => Self::ElementType,
            4 => Self::RankCount {
                saved: w[1] as usize,
                now: w[2] as usize,
            },
            5 => Self::Rank {
                saved: w[1] as usize,
            },
            6 => Self::Layout,
            7 => Self::Steps,
            _ => Self::Set,
        })
    }
}

/// Why a sharded step, construction or checkpoint load was refused: the
/// same value on every rank, and nothing was written on any rank.
///
/// ```
/// use fadam_core::FAdamConfig;
/// use fadam_mpi::{Error, InputError, Operand, ShardedFAdam, SingleProcess, TensorSpec};
///
/// let mut opt =
///     ShardedFAdam::<f32, _>::new(SingleProcess, &[FAdamConfig::new()], &[TensorSpec::new(2)])
///         .unwrap();
/// let mut p = vec![1.0f32, 2.0];
/// let err = opt.step(&mut [&mut p], &[&[0.5]]).unwrap_err();
/// let problem = InputError::Length { operand: Operand::Grads, tensor: 0, expected: 2, found: 1 };
/// assert_eq!(err, Error::Input { rank: 0, problem });
/// assert_eq!(p, [1.0, 2.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The core refused the step (a non-finite averaged gradient, a Fisher
    /// overflow, a step counter overflow), or a config or group index is
    /// invalid at construction. Tensor and group indices are the model's.
    Step(fadam_core::Error),
    /// A rank passed arguments that do not match the layout.
    Input {
        /// The lowest such rank.
        rank: usize,
        /// What was wrong.
        problem: InputError,
    },
    /// The ranks were constructed with different layouts.
    Layout {
        /// The lowest rank that differs from rank 0.
        rank: usize,
        /// How.
        mismatch: LayoutMismatch,
    },
    /// A shard or message is larger than the communicator can carry in one
    /// operation.
    TooLarge {
        /// Elements in the largest operation.
        count: usize,
        /// The communicator's limit.
        max: usize,
    },
    /// A rank's checkpoint could not be loaded.
    Checkpoint {
        /// The lowest such rank.
        rank: usize,
        /// Why.
        problem: CheckpointError,
    },
}

impl From<fadam_core::Error> for Error {
    fn from(e: fadam_core::Error) -> Self {
        Self::Step(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Step(e) => write!(f, "{e}"),
            Self::Input { rank, problem } => {
                write!(f, "rank {rank}: bad step arguments: {problem:?}")
            }
            Self::Layout { rank, mismatch } => {
                write!(
                    f,
                    "rank {rank}'s layout differs from rank 0's: {mismatch:?}"
                )
            }
            Self::TooLarge { count, max } => write!(
                f,
                "an operation of {count} elements exceeds the communicator's limit of {max}"
            ),
            Self::Checkpoint { rank, problem } => {
                write!(f, "rank {rank}: checkpoint not loaded: {problem:?}")
            }
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip() {
        let inputs = [
            None,
            Some(InputError::TensorCount {
                operand: Operand::Grads,
                expected: 3,
                found: 2,
            }),
            Some(InputError::Length {
                operand: Operand::Params,
                tensor: 7,
                expected: 10,
                found: 11,
            }),
        ];
        for e in inputs {
            assert_eq!(InputError::decode(&InputError::encode(e)), e);
        }
        let checkpoints = [
            None,
            Some(CheckpointError::Format),
            Some(CheckpointError::Version { found: 9 }),
            Some(CheckpointError::ElementType),
            Some(CheckpointError::RankCount { saved: 2, now: 3 }),
            Some(CheckpointError::Rank { saved: 1 }),
            Some(CheckpointError::Layout),
            Some(CheckpointError::Steps),
            Some(CheckpointError::Set),
        ];
        for e in checkpoints {
            assert_eq!(CheckpointError::decode(&CheckpointError::encode(e)), e);
        }
    }
}
