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
/// A step checks the state it is given (finite momentum, finite Fisher
/// values `≥ 0`) in the pass that first reads it, unless the state is
/// *verified*: borrowed from a [`State`] that nothing but successful steps
/// and checked constructors has written since (see
/// [`State::is_verified`]). A state built with [`StateMut::new`] is never
/// verified, so it is checked at every step; a verified state skips the
/// check and its bytes (`docs/reliability.md` gives the cost).
///
/// ```
/// use fadam_core::StateMut;
/// let (mut m, mut f, mut t) = ([0.0f32; 4], [0.0f32; 4], 0u64);
/// let state = StateMut::new(&mut m, &mut f, &mut t);
/// assert_eq!(state.len(), 4);
/// assert!(!state.is_verified());
/// ```
#[derive(Debug)]
pub struct StateMut<'a, S> {
    momentum: &'a mut [S],
    fisher: &'a mut [S],
    step: &'a mut u64,
    /// The owner's mark, if the state is borrowed from a [`State`]: `true`
    /// while its values are known to be valid.
    verified: Option<&'a mut bool>,
}

impl<'a, S> StateMut<'a, S> {
    /// Bundles the three parts: momentum `m` and Fisher diagonal `f` (one
    /// value per parameter, starting at 0) and the steps taken so far
    /// (starting at 0). Not verified: each step checks the values.
    pub fn new(momentum: &'a mut [S], fisher: &'a mut [S], step: &'a mut u64) -> Self {
        Self {
            momentum,
            fisher,
            step,
            verified: None,
        }
    }

    /// Momentum `m`, one per parameter.
    pub fn momentum(&self) -> &[S] {
        self.momentum
    }

    /// Fisher diagonal `f`, one per parameter.
    pub fn fisher(&self) -> &[S] {
        self.fisher
    }

    /// Steps taken so far.
    pub fn step(&self) -> u64 {
        *self.step
    }

    /// Whether the state is known to be valid, so that a step need not
    /// check it.
    pub fn is_verified(&self) -> bool {
        self.verified.as_deref() == Some(&true)
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
            verified: self.verified.as_deref_mut(),
        }
    }

    /// The parts, for the update pass.
    pub(crate) fn parts(&mut self) -> (&mut [S], &mut [S], &mut u64) {
        (self.momentum, self.fisher, self.step)
    }

    /// Records whether the values are known to be valid (a step checked
    /// them, or wrote them from checked inputs); kept by the owning
    /// [`State`].
    pub(crate) fn set_verified(&mut self, valid: bool) {
        if let Some(v) = self.verified.as_deref_mut() {
            *v = valid;
        }
    }
}

/// The state of one tensor, owned.
///
/// It knows whether its values are valid: a fresh state, one built by
/// [`from_parts`](Self::from_parts) and one that steps have written since
/// are *verified*, and its steps skip the state check. Writing through
/// [`parts_mut`](Self::parts_mut) clears the mark, and the next step checks
/// the values again (and refuses an invalid state with nothing written).
///
/// ```
/// use fadam_core::{step, Buffer, Error, FAdamConfig, State};
/// let mut params = vec![1.0f32, -2.0, 3.0];
/// let mut state = State::<f32>::new(params.len());
/// step(&FAdamConfig::new(), &mut params, &[0.1, 0.2, -0.3], state.as_mut()).unwrap();
/// assert_eq!(state.step(), 1);
/// assert!(state.is_verified());
///
/// // Written from the outside: checked by the next step.
/// state.parts_mut().1[2] = -1.0;
/// assert!(!state.is_verified());
/// let err = step(&FAdamConfig::new(), &mut params, &[0.1, 0.2, -0.3], state.as_mut());
/// assert_eq!(err, Err(Error::InvalidState { tensor: 0, buffer: Buffer::Fisher }));
/// ```
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, Default)]
pub struct State<S> {
    momentum: alloc::vec::Vec<S>,
    fisher: alloc::vec::Vec<S>,
    step: u64,
    /// Whether the values are known to be valid (see the type's docs).
    verified: bool,
}

/// Equal values and step counts (whether either is verified is not
/// compared).
#[cfg(feature = "alloc")]
impl<S: PartialEq> PartialEq for State<S> {
    fn eq(&self, other: &Self) -> bool {
        (&self.momentum, &self.fisher, self.step) == (&other.momentum, &other.fisher, other.step)
    }
}

#[cfg(feature = "alloc")]
impl<S: Copy + Default> State<S> {
    /// Fresh state (zeros, step 0) for `len` parameters; verified.
    pub fn new(len: usize) -> Self {
        Self {
            momentum: alloc::vec![S::default(); len],
            fisher: alloc::vec![S::default(); len],
            step: 0,
            verified: true,
        }
    }
}

#[cfg(feature = "alloc")]
impl<S: Real> State<S> {
    /// A state from its parts (a checkpoint), checked as [`validate_state`]
    /// checks it; verified.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] (`tensor: 0`, the momentum's length
    /// expected) if the Fisher diagonal's length differs;
    /// [`Error::InvalidState`] as [`validate_state`].
    ///
    /// ```
    /// use fadam_core::{Buffer, Error, State};
    /// let state = State::from_parts(vec![0.5f32, -1.0], vec![0.0, 2.0], 7).unwrap();
    /// assert_eq!((state.step(), state.is_verified()), (7, true));
    /// assert_eq!(
    ///     State::from_parts(vec![f32::NAN], vec![0.0], 7),
    ///     Err(Error::InvalidState { tensor: 0, buffer: Buffer::Momentum })
    /// );
    /// ```
    pub fn from_parts(
        momentum: alloc::vec::Vec<S>,
        fisher: alloc::vec::Vec<S>,
        step: u64,
    ) -> Result<Self, Error> {
        if momentum.len() != fisher.len() {
            return Err(Error::LengthMismatch {
                tensor: 0,
                buffer: Buffer::Fisher,
                expected: momentum.len(),
                found: fisher.len(),
            });
        }
        validate_state(&momentum, &fisher)?;
        Ok(Self {
            momentum,
            fisher,
            step,
            verified: true,
        })
    }
}

#[cfg(feature = "alloc")]
impl<S> State<S> {
    /// A state from its parts, not checked and not verified: the next step
    /// checks it (and refuses invalid values, or lengths that differ from
    /// the parameters', with nothing written).
    ///
    /// ```
    /// use fadam_core::{step, Buffer, Error, FAdamConfig, State};
    /// let mut state = State::from_parts_unchecked(vec![0.0f32], vec![-1.0], 0);
    /// assert!(!state.is_verified());
    /// let err = step(&FAdamConfig::new(), &mut [1.0f32], &[0.5], state.as_mut());
    /// assert_eq!(err, Err(Error::InvalidState { tensor: 0, buffer: Buffer::Fisher }));
    /// ```
    pub fn from_parts_unchecked(
        momentum: alloc::vec::Vec<S>,
        fisher: alloc::vec::Vec<S>,
        step: u64,
    ) -> Self {
        Self {
            momentum,
            fisher,
            step,
            verified: false,
        }
    }

    /// Momentum `m`.
    pub fn momentum(&self) -> &[S] {
        &self.momentum
    }

    /// Fisher diagonal `f`.
    pub fn fisher(&self) -> &[S] {
        &self.fisher
    }

    /// Steps taken so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.momentum.len()
    }

    /// Whether the state covers no parameters.
    pub fn is_empty(&self) -> bool {
        self.momentum.is_empty()
    }

    /// Whether the values are known to be valid, so that steps skip the
    /// state check: true from [`new`](Self::new) and
    /// [`from_parts`](Self::from_parts) and after a successful step
    /// (which writes only valid values), false after
    /// [`parts_mut`](Self::parts_mut) until a step has checked them.
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// `(momentum, fisher, step)`, to write; the state is no longer
    /// verified, and the next step checks it.
    pub fn parts_mut(&mut self) -> (&mut [S], &mut [S], &mut u64) {
        self.verified = false;
        (&mut self.momentum, &mut self.fisher, &mut self.step)
    }

    /// Splits into `(momentum, fisher, step)`.
    pub fn into_parts(self) -> (alloc::vec::Vec<S>, alloc::vec::Vec<S>, u64) {
        (self.momentum, self.fisher, self.step)
    }

    /// Borrows as a [`StateMut`] that carries the mark: a verified state is
    /// not checked again, and a step that checks it marks it verified.
    pub fn as_mut(&mut self) -> StateMut<'_, S> {
        StateMut {
            momentum: &mut self.momentum,
            fisher: &mut self.fisher,
            step: &mut self.step,
            verified: Some(&mut self.verified),
        }
    }
}
