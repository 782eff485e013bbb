//! Per-tensor optimizer state.

use crate::{Buffer, Error, Real};

/// Whether a momentum value is one a step can write: finite.
#[inline]
pub(crate) fn valid_momentum<S: Real>(m: S) -> bool {
    m.is_finite()
}

/// Whether a Fisher value is one a step can write: finite and not negative
/// (`-0.0` included).
#[inline]
pub(crate) fn valid_fisher<S: Real>(f: S) -> bool {
    f.is_finite() && f >= S::zero()
}

/// Checks state values where they enter from the outside (a checkpoint, a
/// record, a hand-built state): every momentum value finite, every Fisher
/// value finite and not negative. Steps check the same (and refuse the
/// step), so calling this is only needed to refuse a bad state early.
///
/// # Errors
/// [`Error::InvalidState`] with `tensor: 0` and the first bad buffer, the
/// momentum before the Fisher diagonal ([`Error::with_tensor`] sets the
/// index).
///
/// ```
/// use fadam_core::{validate_state, Buffer, Error};
/// assert_eq!(validate_state(&[0.5f32, -1.0], &[0.0, 2.0]), Ok(()));
/// assert_eq!(
///     validate_state(&[0.5f32, -1.0], &[0.0, -2.0]),
///     Err(Error::InvalidState { tensor: 0, buffer: Buffer::Fisher })
/// );
/// ```
pub fn validate_state<S: Real>(momentum: &[S], fisher: &[S]) -> Result<(), Error> {
    let invalid = |buffer| Err(Error::InvalidState { tensor: 0, buffer });
    if !momentum.iter().all(|&m| valid_momentum(m)) {
        return invalid(Buffer::Momentum);
    }
    if !fisher.iter().all(|&f| valid_fisher(f)) {
        return invalid(Buffer::Fisher);
    }
    Ok(())
}

/// The state of one tensor, borrowed: the caller owns the memory (a static
/// buffer on a microcontroller, a slice of an arena, a [`State`]).
///
/// ```
/// use fadam_core::StateMut;
/// let (mut m, mut f, mut t) = ([0.0f32; 4], [0.0f32; 4], 0u64);
/// let state = StateMut::new(&mut m, &mut f, &mut t);
/// assert_eq!(state.len(), 4);
/// ```
#[derive(Debug)]
pub struct StateMut<'a, S> {
    /// Momentum `m`, one per parameter, starting at 0.
    pub momentum: &'a mut [S],
    /// Fisher diagonal `f`, one per parameter, starting at 0.
    pub fisher: &'a mut [S],
    /// Steps taken so far, starting at 0.
    pub step: &'a mut u64,
}

impl<'a, S> StateMut<'a, S> {
    /// Bundles the three parts.
    pub fn new(momentum: &'a mut [S], fisher: &'a mut [S], step: &'a mut u64) -> Self {
        Self {
            momentum,
            fisher,
            step,
        }
    }

    /// The number of parameters the momentum covers.
    pub fn len(&self) -> usize {
        self.momentum.len()
    }

    /// Whether the state covers no parameters.
    pub fn is_empty(&self) -> bool {
        self.momentum.is_empty()
    }

    /// Reborrows for a shorter lifetime.
    pub fn reborrow(&mut self) -> StateMut<'_, S> {
        StateMut {
            momentum: self.momentum,
            fisher: self.fisher,
            step: self.step,
        }
    }
}

/// The state of one tensor, owned.
///
/// ```
/// use fadam_core::{step, FAdamConfig, State};
/// let mut params = vec![1.0f32, -2.0, 3.0];
/// let mut state = State::<f32>::new(params.len());
/// step(&FAdamConfig::new(), &mut params, &[0.1, 0.2, -0.3], state.as_mut()).unwrap();
/// assert_eq!(state.step, 1);
/// ```
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State<S> {
    /// Momentum `m`.
    pub momentum: alloc::vec::Vec<S>,
    /// Fisher diagonal `f`.
    pub fisher: alloc::vec::Vec<S>,
    /// Steps taken so far.
    pub step: u64,
}

#[cfg(feature = "alloc")]
impl<S: Copy + Default> State<S> {
    /// Fresh state (zeros, step 0) for `len` parameters.
    pub fn new(len: usize) -> Self {
        Self {
            momentum: alloc::vec![S::default(); len],
            fisher: alloc::vec![S::default(); len],
            step: 0,
        }
    }

    /// Borrows as a [`StateMut`].
    pub fn as_mut(&mut self) -> StateMut<'_, S> {
        StateMut {
            momentum: &mut self.momentum,
            fisher: &mut self.fisher,
            step: &mut self.step,
        }
    }
}
