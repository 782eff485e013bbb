//! Per-parameter optimizer state, owned, with its shape and element order.

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

use fadam_core::Buffer;

use crate::Error;

/// The order in which a parameter's elements are laid out in its state
/// (momentum and Fisher diagonal), and handed to `fadam-core`.
///
/// It is chosen at a parameter's first step and kept from then on, so that
/// every step sees the elements in the same order (the tensor-wide sums, and
/// so the bits of the result, depend on it):
///
/// - [`RowMajor`](Self::RowMajor) if the parameter was in standard (C)
///   layout, and for every layout that is neither C nor Fortran contiguous
///   (sliced with steps, negative strides, permuted axes of 3 or more
///   dimensions): their elements are gathered in logical row-major order;
/// - [`ColumnMajor`](Self::ColumnMajor) if it was in Fortran layout (for
///   example a transposed view of a C array), not also C.
///
/// A later step whose parameter (or gradient) is contiguous in the state's
/// order is passed to `fadam-core` in place; any other layout is gathered
/// into a scratch buffer in the state's order, stepped, and scattered back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub enum StateOrder {
    /// Logical row-major ("C") order: the last index varies fastest.
    #[default]
    RowMajor,
    /// Logical column-major ("Fortran") order: the first index varies
    /// fastest.
    ColumnMajor,
}

impl StateOrder {
    /// The order a fresh state takes for a parameter of this layout (see the
    /// type's documentation).
    ///
    /// ```
    /// use fadam_ndarray::StateOrder;
    /// use ndarray::{s, Array2};
    ///
    /// let a = Array2::<f32>::zeros((3, 4));
    /// assert_eq!(StateOrder::for_layout(&a), StateOrder::RowMajor);
    /// assert_eq!(StateOrder::for_layout(&a.t()), StateOrder::ColumnMajor);
    /// assert_eq!(StateOrder::for_layout(&a.slice(s![.., ..;2])), StateOrder::RowMajor);
    /// ```
    pub fn for_layout<S, D>(array: &ndarray::ArrayBase<S, D>) -> Self
    where
        S: ndarray::Data,
        D: ndarray::Dimension,
    {
        if array.is_standard_layout() {
            Self::RowMajor
        } else if array.t().is_standard_layout() {
            Self::ColumnMajor
        } else {
            Self::RowMajor
        }
    }
}

/// The optimizer state of one parameter array: momentum `m`, Fisher diagonal
/// `f` and step counter `t`, with the shape they were made for and the
/// [`StateOrder`] of their elements.
///
/// A `ParamState` is always consistent: both vectors hold one value per
/// element of the shape, every momentum value is finite and every Fisher
/// value finite and not negative. With the `serde` feature it can be
/// serialized, and deserializing checks all of that.
///
/// It owns a [`fadam_core::State`], verified (see
/// [`State::is_verified`](fadam_core::State::is_verified)) from
/// construction on, since nothing but checked constructors and successful
/// steps ever writes it: steps skip the state check and its bytes.
///
/// ```
/// use fadam_ndarray::{ParamState, StateOrder};
///
/// let fresh = ParamState::<f32>::zeros(vec![2, 3], StateOrder::RowMajor);
/// assert_eq!((fresh.len(), fresh.step()), (6, 0));
///
/// let bad = ParamState::new(vec![2, 3], StateOrder::RowMajor, vec![0.0f32; 5], vec![0.0; 6], 0);
/// assert!(bad.is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(Deserialize),
    serde(
        try_from = "Parts<Vec<usize>, Vec<S>>",
        bound(deserialize = "S: Deserialize<'de> + fadam_core::Real")
    )
)]
pub struct ParamState<S> {
    shape: Vec<usize>,
    order: StateOrder,
    state: fadam_core::State<S>,
}

/// The fields of a [`ParamState`] as serialized: owned and unchecked
/// (`Parts<Vec<usize>, Vec<S>>`) for what deserializing checks before it
/// becomes a `ParamState`, borrowed (`Parts<&[usize], &[S]>`) to serialize
/// one.
#[cfg(feature = "serde")]
#[derive(Serialize, Deserialize)]
#[serde(rename = "ParamState")]
struct Parts<Shape, Values> {
    shape: Shape,
    order: StateOrder,
    momentum: Values,
    fisher: Values,
    step: u64,
}

#[cfg(feature = "serde")]
impl<S: Serialize> Serialize for ParamState<S> {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        Parts {
            shape: self.shape.as_slice(),
            order: self.order,
            momentum: self.momentum(),
            fisher: self.fisher(),
            step: self.step(),
        }
        .serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<S: fadam_core::Real> TryFrom<Parts<Vec<usize>, Vec<S>>> for ParamState<S> {
    type Error = Error;

    fn try_from(raw: Parts<Vec<usize>, Vec<S>>) -> Result<Self, Error> {
        Self::new(raw.shape, raw.order, raw.momentum, raw.fisher, raw.step)
    }
}

fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

impl<S: fadam_core::Real> ParamState<S> {
    /// A state from its parts, checked for consistency and for values no
    /// step can write.
    ///
    /// # Errors
    /// [`Error::StateLength`] if `momentum` or `fisher` does not hold one
    /// value per element of `shape`; [`Error::Core`] with
    /// [`fadam_core::Error::InvalidState`] (`tensor: 0`) for a NaN or
    /// infinite momentum, or a Fisher value that is negative, NaN or
    /// infinite.
    ///
    /// ```
    /// use fadam_ndarray::{Error, ParamState, StateOrder};
    /// use fadam_core::{Buffer, Error as CoreError};
    ///
    /// let negative = ParamState::new(vec![2], StateOrder::RowMajor, vec![0.0f32; 2], vec![0.0, -1.0], 3);
    /// assert_eq!(
    ///     negative.unwrap_err(),
    ///     Error::Core(CoreError::InvalidState { tensor: 0, buffer: Buffer::Fisher })
    /// );
    /// ```
    pub fn new(
        shape: Vec<usize>,
        order: StateOrder,
        momentum: Vec<S>,
        fisher: Vec<S>,
        step: u64,
    ) -> Result<Self, Error> {
        let expected = element_count(&shape);
        for (buffer, found) in [
            (Buffer::Momentum, momentum.len()),
            (Buffer::Fisher, fisher.len()),
        ] {
            if expected != Some(found) {
                return Err(Error::StateLength {
                    buffer,
                    expected,
                    found,
                });
            }
        }
        let state = fadam_core::State::from_parts(momentum, fisher, step)?;
        Ok(Self {
            shape,
            order,
            state,
        })
    }
}

impl<S> ParamState<S> {
    /// The parameter's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The order of the elements in [`momentum`](Self::momentum) and
    /// [`fisher`](Self::fisher).
    pub fn order(&self) -> StateOrder {
        self.order
    }

    /// Momentum `m`, one value per element, in [`order`](Self::order).
    pub fn momentum(&self) -> &[S] {
        self.state.momentum()
    }

    /// Fisher diagonal `f`, one value per element, in
    /// [`order`](Self::order).
    pub fn fisher(&self) -> &[S] {
        self.state.fisher()
    }

    /// Steps taken so far.
    pub fn step(&self) -> u64 {
        self.state.step()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.state.len()
    }

    /// Whether the parameter has no elements.
    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }

    /// Splits into `(shape, order, momentum, fisher, step)`.
    pub fn into_parts(self) -> (Vec<usize>, StateOrder, Vec<S>, Vec<S>, u64) {
        let (momentum, fisher, step) = self.state.into_parts();
        (self.shape, self.order, momentum, fisher, step)
    }

    /// Borrows as `fadam-core`'s [`StateMut`](fadam_core::StateMut),
    /// verified (a `ParamState` is valid by construction).
    pub(crate) fn as_core(&mut self) -> fadam_core::StateMut<'_, S> {
        self.state.as_mut()
    }

    /// Whether steps skip the state check (always, for a `ParamState`).
    #[cfg(test)]
    pub(crate) fn is_verified(&self) -> bool {
        self.state.is_verified()
    }
}

impl<S: Copy + Default> ParamState<S> {
    /// Fresh state (zeros, step 0) for a parameter of `shape`.
    ///
    /// # Panics
    /// If the number of elements of `shape` overflows `usize` (no array can
    /// have that shape).
    pub fn zeros(shape: Vec<usize>, order: StateOrder) -> Self {
        let n = element_count(&shape).expect("shape has more elements than usize can count");
        Self {
            shape,
            order,
            state: fadam_core::State::new(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way to make a `ParamState` gives a verified one, and steps
    /// (refused or not) keep it so: its steps never pay the state check.
    #[test]
    fn param_states_are_verified() {
        let mut fresh = ParamState::<f32>::zeros(vec![3], StateOrder::RowMajor);
        let loaded = ParamState::new(
            vec![2],
            StateOrder::RowMajor,
            vec![0.5f64, -1.0],
            vec![0.0, 2.0],
            4,
        )
        .unwrap();
        assert!(fresh.is_verified() && loaded.is_verified());
        let config = fadam_core::FAdamConfig::new();
        let mut params = [1.0f32, 2.0, 3.0];
        fadam_core::step(&config, &mut params, &[0.1, 0.2, 0.3], fresh.as_core()).unwrap();
        let refused =
            fadam_core::step(&config, &mut params, &[f32::NAN, 0.2, 0.3], fresh.as_core());
        assert!(refused.is_err());
        assert!(fresh.is_verified());
        assert_eq!(fresh.step(), 1);
    }
}
