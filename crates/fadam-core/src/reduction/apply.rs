//! The last call of the protocol: the update of one shard (or a whole
//! tensor) and its state, with the step constants the sums fixed.

use super::Reduction;
use crate::kernels::{self, Lerp, Update, versioned, with_power};
use crate::{Buffer, Error, MomentumMode, Param, Real, StateMut};

impl<P: Param> Reduction<P> {
    /// Updates one shard (or the whole tensor) and its state, and sets the
    /// state's step counter to [`step`](Self::step). A state borrowed from
    /// a [`State`](crate::State) is no longer verified afterwards (nothing
    /// ties these inputs to the ones the partial sums checked), so its next
    /// step checks it.
    ///
    /// # Errors
    /// Nothing is written on error: [`Error::NotReady`] before all sums
    /// are absorbed, [`Error::LengthMismatch`], or [`Error::ShardMismatch`]
    /// when the state's step counter is not `step() - 1`.
    pub fn apply(
        &self,
        params: &mut [P],
        grads: &[P],
        state: StateMut<'_, P::State>,
    ) -> Result<(), Error> {
        if !self.is_ready() {
            return Err(Error::NotReady);
        }
        let len = params.len();
        self.check_len(Buffer::Gradient, len, grads.len())?;
        self.check_len(Buffer::Momentum, len, state.len())?;
        self.check_len(Buffer::Fisher, len, state.fisher().len())?;
        if state.step() != self.t - 1 {
            return Err(Error::ShardMismatch {
                expected: self.t - 1,
                found: state.step(),
            });
        }
        // The sharded protocol cannot tell whether these inputs are the
        // ones its partial sums checked: the next step checks the state.
        let mut state = state;
        state.set_verified(false);
        let (m, f, step) = state.parts();
        let c = &self.config;
        let s = |x: f64| P::State::narrow(x);
        let natural_m = c.momentum == MomentumMode::Natural;
        let natural_w = c.natural_decay();
        // Adam momentum: θ -= η/(1 - β1^t) · (m/d + (1 - β1^t)·λ·w), so that
        // the bias correction scales m alone, as torch orders it.
        let scalars = &self.scalars;
        let mut k = Update {
            ew: self.ew,
            lerp: Lerp::new(1.0 - c.beta1),
            keep: s(scalars.decoupled_keep),
            lr: s(scalars.lr),
            natural_decay: s(scalars.natural_decay),
            clip_n: s(1.0),
            clip_w: s(1.0),
        };
        match (self.clip_n.fast_factor(), self.clip_w.fast_factor()) {
            (Some(n), Some(w)) => {
                (k.clip_n, k.clip_w) = (s(n), s(w));
                with_power!(self.power, P::State, |q| {
                    kernels::for_each_block(params, grads, m, f, |t, g, m, f| {
                        match (natural_m, natural_w) {
                            (true, true) => {
                                versioned!(update::<P, _, true, true>(t, g, m, f, &k, q))
                            }
                            (true, false) => {
                                versioned!(update::<P, _, true, false>(t, g, m, f, &k, q))
                            }
                            (false, true) => {
                                versioned!(update::<P, _, false, true>(t, g, m, f, &k, q))
                            }
                            (false, false) => {
                                versioned!(update::<P, _, false, false>(t, g, m, f, &k, q))
                            }
                        }
                    });
                });
            }
            _ => kernels::update_careful(
                params,
                grads,
                m,
                f,
                &k,
                self.power,
                natural_m.then_some(self.clip_n),
                natural_w.then_some(self.clip_w),
            ),
        }
        *step = self.t;
        Ok(())
    }

    /// [`apply`](Self::apply) after [`reduce_whole`](Self::reduce_whole),
    /// which checked the state: the state it writes is valid.
    pub(crate) fn apply_whole(
        &self,
        params: &mut [P],
        grads: &[P],
        mut state: StateMut<'_, P::State>,
    ) -> Result<(), Error> {
        self.apply(params, grads, state.reborrow())?;
        state.set_verified(true);
        Ok(())
    }
}
