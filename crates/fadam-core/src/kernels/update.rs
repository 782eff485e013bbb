//! The update kernels: one pass that reads `θ, g, m, f` and writes `θ, m, f`.

use super::constants::{clamp, sat};
use super::{Clip, Pow, Power, Update};
use crate::Param;

/// The update pass: reads `θ, g, m, f`, writes `θ, m, f`.
///
/// Every operation that can overflow is saturated ([`sat`]); the others
/// cannot: `g` and `f` are finite (checked by the sums pass), `d ≥ e` is at
/// least the smallest normal number and `clip / d` at most its inverse.
#[inline(always)]
pub(crate) fn update<P: Param, Q: Pow<P::State>, const NATURAL_M: bool, const NATURAL_W: bool>(
    theta: &mut [P],
    grads: &[P],
    momentum: &mut [P::State],
    fisher: &mut [P::State],
    k: &Update<P::State>,
    q: Q,
) {
    let element = |t: &mut P, g: P, m: &mut P::State, f: &mut P::State| {
        let th = t.to_state();
        let g = k.ew.grad(g.to_state(), th);
        let fi = k.ew.fisher(*f, g);
        let d = sat(q.pow(fi) + k.ew.eps);
        let input = if NATURAL_M {
            sat(g * (k.clip_n / d))
        } else {
            g
        };
        let mi = k.lerp.apply(*m, input);
        let dir = if NATURAL_M { mi } else { sat(mi / d) };
        let dir = if NATURAL_W {
            sat(dir + sat(k.natural_decay * sat(th * (k.clip_w / d))))
        } else {
            dir
        };
        *t = P::from_state(clamp(sat(th * k.keep) - sat(k.lr * dir), P::MAX));
        *m = mi;
        *f = fi;
    };
    let elements = theta
        .iter_mut()
        .zip(grads)
        .zip(momentum.iter_mut())
        .zip(fisher.iter_mut());
    for (((t, &g), m), f) in elements {
        element(t, g, m, f);
    }
}

/// The update pass for a tensor whose clip factor is out of the state
/// type's range: scalar, scaled arithmetic for the clipped quotients.
#[allow(clippy::too_many_arguments)]
pub(crate) fn update_careful<P: Param>(
    theta: &mut [P],
    grads: &[P],
    momentum: &mut [P::State],
    fisher: &mut [P::State],
    k: &Update<P::State>,
    power: Power,
    natural_m: Option<Clip>,
    natural_w: Option<Clip>,
) {
    for (((t, &g), m), f) in theta.iter_mut().zip(grads).zip(momentum).zip(fisher) {
        let th = t.to_state();
        let g = k.ew.grad(g.to_state(), th);
        let fi = k.ew.fisher(*f, g);
        let d = sat(power.apply(fi) + k.ew.eps);
        let input = natural_m.map_or(g, |c| sat(c.quotient(g, d)));
        let mi = k.lerp.apply(*m, input);
        let mut dir = if natural_m.is_some() { mi } else { sat(mi / d) };
        if let Some(c) = natural_w {
            dir = sat(dir + sat(k.natural_decay * sat(c.quotient(th, d))));
        }
        *t = P::from_state(clamp(sat(th * k.keep) - sat(k.lr * dir), P::MAX));
        *m = mi;
        *f = fi;
    }
}
