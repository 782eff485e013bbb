//! Validation of FAdam state where it enters: burn's record loading, and a
//! checked loader that refuses a bad record instead of dropping states.

use std::collections::BTreeMap;
use std::fmt;

use burn::optim::ModuleOptimizer;
use burn::store::RecordError;
use burn::tensor::{Bytes, DType};

/// burn's optimizer records hold states of rank 0 to 8 (its loader panics
/// on any other rank).
const MAX_RANK: usize = 8;

/// The tensor leaves of an [`FAdamState`](crate::FAdamState) in a record.
pub(crate) const LEAVES: [&str; 5] = ["momentum", "fisher", "refused", "bias_1", "bias_2"];

/// What is wrong with an FAdam state read from a record (or built by hand).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// A leaf (a tensor, or the `calls` scalar) is missing.
    Missing {
        /// The leaf's name.
        leaf: &'static str,
    },
    /// A tensor leaf is not `f32` or `f64`, or its bytes do not match its
    /// shape.
    Encoding {
        /// The leaf's name.
        leaf: &'static str,
    },
    /// The momentum and the Fisher diagonal differ in shape, a count or
    /// bias term is not one element, or the rank is not one burn supports.
    Shape {
        /// The leaf's name.
        leaf: &'static str,
    },
    /// A value is NaN or infinite.
    NonFinite {
        /// The leaf's name.
        leaf: &'static str,
    },
    /// A Fisher value is negative: `√f` would be NaN.
    NegativeFisher,
    /// The refused count is not a whole number in `[0, calls]`, or a bias
    /// term `1 - β^t` is outside `[0, 1]`.
    OutOfRange {
        /// The leaf's name.
        leaf: &'static str,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { leaf } => write!(f, "FAdam state: `{leaf}` is missing"),
            Self::Encoding { leaf } => write!(f, "FAdam state: `{leaf}` is not f32 or f64 data"),
            Self::Shape { leaf } => write!(f, "FAdam state: `{leaf}` has the wrong shape"),
            Self::NonFinite { leaf } => write!(f, "FAdam state: `{leaf}` holds NaN or infinity"),
            Self::NegativeFisher => write!(f, "FAdam state: a Fisher value is negative"),
            Self::OutOfRange { leaf } => write!(f, "FAdam state: `{leaf}` is out of range"),
        }
    }
}

impl std::error::Error for StateError {}

/// Why [`load_checked`] refused a record.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// The bytes are not a burn optimizer record.
    Record(RecordError),
    /// A tensor of the record names no parameter.
    NoParamId {
        /// The tensor's name.
        tensor: String,
    },
    /// The FAdam state of a parameter is invalid.
    State {
        /// The parameter's id.
        param: u64,
        /// What is wrong.
        error: StateError,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Record(error) => write!(f, "{error}"),
            Self::NoParamId { tensor } => write!(f, "record tensor `{tensor}` names no parameter"),
            Self::State { param, error } => write!(f, "parameter {param}: {error}"),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<RecordError> for LoadError {
    fn from(error: RecordError) -> Self {
        Self::Record(error)
    }
}

impl From<burn_pack::Error> for LoadError {
    fn from(error: burn_pack::Error) -> Self {
        Self::Record(error.into())
    }
}

/// One tensor leaf as read from a record: its type, shape and raw
/// little-endian bytes.
pub(crate) struct Leaf<'a> {
    pub dtype: DType,
    pub shape: &'a [usize],
    pub bytes: &'a [u8],
}

impl Leaf<'_> {
    /// The values as `f64`, or an encoding error.
    fn values(&self, leaf: &'static str) -> Result<Vec<f64>, StateError> {
        let count: Option<usize> = self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let width = match self.dtype {
            DType::F32 => 4,
            DType::F64 => 8,
            _ => return Err(StateError::Encoding { leaf }),
        };
        if count.and_then(|n| n.checked_mul(width)) != Some(self.bytes.len()) {
            return Err(StateError::Encoding { leaf });
        }
        let decode = |b: &[u8]| match *b {
            [a, b, c, d] => f64::from(f32::from_le_bytes([a, b, c, d])),
            _ => <[u8; 8]>::try_from(b).map_or(f64::NAN, f64::from_le_bytes),
        };
        Ok(self.bytes.chunks_exact(width).map(decode).collect())
    }
}

/// Checks the leaves of one parameter's FAdam state, in the order of
/// [`LEAVES`], and its `calls` count: the momentum and the Fisher diagonal
/// finite, the Fisher diagonal non-negative, the same shape of a rank burn
/// supports, the same precision; the counts and bias terms one element in
/// range.
pub(crate) fn check_state(leaves: [Leaf<'_>; 5], calls: u64) -> Result<(), StateError> {
    let [momentum, fisher, ..] = &leaves;
    if momentum.shape != fisher.shape || momentum.shape.len() > MAX_RANK {
        return Err(StateError::Shape { leaf: "fisher" });
    }
    let mut dtype = None;
    for (leaf, name) in leaves.iter().zip(LEAVES) {
        let values = leaf.values(name)?;
        if *dtype.get_or_insert(leaf.dtype) != leaf.dtype {
            return Err(StateError::Encoding { leaf: name });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(StateError::NonFinite { leaf: name });
        }
        let scalar = || match values[..] {
            [v] => Ok(v),
            _ => Err(StateError::Shape { leaf: name }),
        };
        match name {
            "fisher" if values.iter().any(|&v| v < 0.0) => return Err(StateError::NegativeFisher),
            "refused" => {
                let v = scalar()?;
                if v < 0.0 || v.fract() != 0.0 || v > calls as f64 {
                    return Err(StateError::OutOfRange { leaf: name });
                }
            }
            "bias_1" | "bias_2" if !(0.0..=1.0).contains(&scalar()?) => {
                return Err(StateError::OutOfRange { leaf: name });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Loads `bytes` (from [`ModuleOptimizer::into_bytes`] or a saved file) into
/// `optim` after checking every FAdam state in it; on any error `optim` is
/// left as it was.
///
/// burn's own [`ModuleOptimizer::from_bytes`] skips a state it cannot
/// rebuild (the parameter then starts afresh: the saved state is lost
/// without a word), and this crate's states refuse to rebuild when invalid
/// (a negative or non-finite Fisher value, a non-finite momentum, counts
/// out of range). This loader reports those instead. States of other
/// optimizers in the record are passed through unchecked.
///
/// # Errors
/// [`LoadError`]: the record cannot be read, a tensor names no parameter
/// (burn's loader would panic), or an FAdam state is invalid.
///
/// ```
/// use fadam_burn::{FAdamConfig, load_checked};
///
/// let mut optim = FAdamConfig::new().init();
/// let bytes = optim.into_bytes().unwrap();
/// load_checked(&mut optim, bytes).unwrap();
/// let mut optim2 = FAdamConfig::new().init();
/// assert!(load_checked(&mut optim2, burn::tensor::Bytes::from_bytes_vec(vec![1, 2, 3])).is_err());
/// ```
pub fn load_checked(optim: &mut ModuleOptimizer, bytes: Bytes) -> Result<(), LoadError> {
    check_record(bytes.clone())?;
    *optim = optim.clone().from_bytes(bytes)?;
    Ok(())
}

/// A tensor leaf of a record as read: its type, shape and bytes.
type OwnedLeaf = (DType, Vec<usize>, Bytes);

/// Checks every FAdam state of a record (see [`load_checked`]).
fn check_record(bytes: Bytes) -> Result<(), LoadError> {
    let reader = burn_pack::Reader::from_bytes(bytes)?;
    let scalars = reader.scalars().clone();
    // Per parameter: its FAdam leaves.
    let mut states: BTreeMap<u64, BTreeMap<&'static str, OwnedLeaf>> = BTreeMap::new();
    for tensor in reader.into_tensors()? {
        let name = tensor.name.clone();
        let (_, dtype, shape, id, data) = tensor.into_parts()?;
        let Some(id) = id else {
            return Err(LoadError::NoParamId { tensor: name });
        };
        let leaf = name
            .strip_prefix(&format!("{id}."))
            .and_then(|leaf| LEAVES.into_iter().find(|&l| l == leaf));
        if let Some(leaf) = leaf {
            let shape = shape.iter().copied().collect();
            states
                .entry(id)
                .or_default()
                .insert(leaf, (dtype, shape, data));
        }
    }
    for (param, leaves) in states {
        let state_error = |error| LoadError::State { param, error };
        let leaf = |name: &'static str| {
            leaves
                .get(name)
                .map(|(dtype, shape, bytes)| Leaf {
                    dtype: *dtype,
                    shape,
                    bytes,
                })
                .ok_or(StateError::Missing { leaf: name })
        };
        let calls = scalars
            .get(&format!("{param}.calls"))
            .and_then(|&s| u64::try_from(s).ok())
            .ok_or(StateError::Missing { leaf: "calls" })
            .map_err(state_error)?;
        let momentum = leaf("momentum").map_err(state_error)?;
        let rank = scalars
            .get(&format!("{param}.__rank"))
            .map(|&s| usize::try_from(s).ok());
        if rank.is_some_and(|rank| rank != Some(momentum.shape.len())) {
            return Err(state_error(StateError::Shape { leaf: "momentum" }));
        }
        let leaves = [
            momentum,
            leaf("fisher").map_err(state_error)?,
            leaf("refused").map_err(state_error)?,
            leaf("bias_1").map_err(state_error)?,
            leaf("bias_2").map_err(state_error)?,
        ];
        check_state(leaves, calls).map_err(state_error)?;
    }
    Ok(())
}
