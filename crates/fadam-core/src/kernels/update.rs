//! The update kernels: one pass that reads `θ, g, m, f` and writes `θ, m, f`.

use num_traits::Float;

use super::constants::{clamp, fast_quotient, sat};
use super::prefetch::prefetch_update;
use super::{Clip, Pow, Power, Update};
use crate::Param;

/// One element of [`update`] (a function, not a closure, so that it is
/// compiled inside each kernel copy with the copy's features).
#[inline(always)]
fn element<P: Param, Q: Pow<P::State>, const NATURAL_M: bool, const NATURAL_W: bool>(
    t: &mut P,
    g: P,
    m: &mut P::State,
    f: &mut P::State,
    k: &Update<P::State>,
    q: Q,
) {
    let th = t.to_state();
    let g = k.ew.grad(g.to_state(), th);
    let fi = k.ew.fisher(*f, g);
    let d = sat(q.pow(fi) + k.ew.eps);
    let r = d.recip();
    let input = if NATURAL_M {
        sat(fast_quotient(g, k.clip_n, r))
    } else {
        g
    };
    let mi = k.lerp.apply(*m, input);
    let dir = if NATURAL_M { mi } else { sat(mi / d) };
    let dir = if NATURAL_W {
        sat(dir + sat(k.natural_decay * sat(fast_quotient(th, k.clip_w, r))))
    } else {
        dir
    };
    *t = P::from_state(clamp(sat(th * k.keep) - sat(k.lr * dir), P::MAX));
    *m = mi;
    *f = fi;
}

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
    let (tc, tr) = super::as_arrays_mut::<_, TILE>(theta);
    let (gc, gr) = super::as_arrays::<_, TILE>(grads);
    let (mc, mr) = super::as_arrays_mut::<_, TILE>(momentum);
    let (fc, fr) = super::as_arrays_mut::<_, TILE>(fisher);
    for (((t, g), m), f) in tc.iter_mut().zip(gc).zip(mc.iter_mut()).zip(fc.iter_mut()) {
        prefetch_update(t);
        prefetch_update(g);
        prefetch_update(m);
        prefetch_update(f);
        for i in 0..TILE {
            element::<P, Q, NATURAL_M, NATURAL_W>(&mut t[i], g[i], &mut m[i], &mut f[i], k, q);
        }
    }
    for (((t, &g), m), f) in tr.iter_mut().zip(gr).zip(mr.iter_mut()).zip(fr.iter_mut()) {
        element::<P, Q, NATURAL_M, NATURAL_W>(t, g, m, f, k, q);
    }
}

/// Elements per tile of the update pass (prefetched together).
const TILE: usize = 64;

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
