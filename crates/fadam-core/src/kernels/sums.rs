//! The sum kernels: `Σg²`, `Σn²` and `Σw²` of a block in lanes and tiles,
//! and the slow, exact scans behind a sum that overflowed.

use num_traits::Float;

use super::prefetch::prefetch;
use super::{Elementwise, Pow, Power};
use crate::sums::ScaledSum;
use crate::{Param, Real};

/// Independent `f64` accumulators per sum.
const LANES: usize = 8;

/// Sums `LANES` accumulators in a fixed tree order.
#[inline(always)]
fn hsum(acc: [f64; LANES]) -> f64 {
    let h: [f64; 4] = core::array::from_fn(|i| acc[i] + acc[i + 4]);
    (h[0] + h[2]) + (h[1] + h[3])
}

/// Elements per tile: a tile's sums are formed in the state type over
/// `TILE / LANES` terms per lane, then added to `f64` lane accumulators.
const TILE: usize = 64;

/// Adds a tile of squares to `f64` lane accumulators, in a fixed order.
#[inline(always)]
fn accumulate<S: Real>(acc: &mut [f64; LANES], sq: &[S; TILE]) {
    let mut lane = [S::zero(); LANES];
    for j in 0..TILE / LANES {
        for l in 0..LANES {
            lane[l] = lane[l] + sq[j * LANES + l];
        }
    }
    for l in 0..LANES {
        acc[l] += lane[l].wide();
    }
}

/// `[Σg², Σn², Σw²]` of one block, with `n = g / d` and `w = θ / d`; `Σw²`
/// only if `W`. `theta` must have the block's length; when neither `W` nor
/// the L2 term needs it, pass `grads` again (it is multiplied by zero).
#[inline(always)]
pub(crate) fn natural_sums<P: Param, Q: Pow<P::State>, const W: bool>(
    grads: &[P],
    fisher: &[P::State],
    theta: &[P],
    k: &Elementwise<P::State>,
    q: Q,
) -> [f64; 3] {
    let mut acc = [[0.0f64; LANES]; 3];
    // Elementwise into a tile of squares (a loop the compiler vectorizes),
    // then into the lane accumulators. A short last tile is zero-padded.
    #[inline(always)]
    fn tile<P: Param, Q: Pow<P::State>, const W: bool>(
        (g, f, t): (&[P], &[P::State], &[P]),
        k: &Elementwise<P::State>,
        q: Q,
        acc: &mut [[f64; LANES]; 3],
    ) {
        let zero = <P::State as Real>::narrow(0.0);
        let mut sq = [[zero; TILE]; 3];
        let [sg, sn, sw] = &mut sq;
        let terms = sg.iter_mut().zip(sn.iter_mut()).zip(sw.iter_mut());
        for (((sg, sn), sw), ((&g, &f), &t)) in terms.zip(g.iter().zip(f).zip(t)) {
            let t = t.to_state();
            let g = k.grad(g.to_state(), t);
            let inv = (q.pow(k.fisher(f, g)) + k.eps).recip();
            let n = g * inv;
            *sg = g * g;
            *sn = n * n;
            if W {
                let w = t * inv;
                *sw = w * w;
            }
        }
        for (a, s) in acc.iter_mut().zip(&sq) {
            accumulate(a, s);
        }
    }
    let (gc, fc, tc) = (
        grads.chunks_exact(TILE),
        fisher.chunks_exact(TILE),
        theta.chunks_exact(TILE),
    );
    let (gr, fr, tr) = (gc.remainder(), fc.remainder(), tc.remainder());
    for ((g, f), t) in gc.zip(fc).zip(tc) {
        prefetch(g);
        prefetch(f);
        prefetch(t);
        tile::<P, Q, W>((g, f, t), k, q, &mut acc);
    }
    if !gr.is_empty() {
        tile::<P, Q, W>((gr, fr, tr), k, q, &mut acc);
    }
    acc.map(hsum)
}

/// `Σg²` of one block (the effective gradient; see [`natural_sums`] for
/// `theta`).
#[inline(always)]
pub(crate) fn grad_sum<P: Param>(grads: &[P], theta: &[P], k: &Elementwise<P::State>) -> f64 {
    #[inline(always)]
    fn tile<P: Param>(g: &[P], t: &[P], k: &Elementwise<P::State>, acc: &mut [f64; LANES]) {
        let mut sq = [<P::State as Real>::narrow(0.0); TILE];
        for (s, (&g, &t)) in sq.iter_mut().zip(g.iter().zip(t)) {
            let g = k.grad(g.to_state(), t.to_state());
            *s = g * g;
        }
        accumulate(acc, &sq);
    }
    let mut acc = [0.0f64; LANES];
    let (gc, tc) = (grads.chunks_exact(TILE), theta.chunks_exact(TILE));
    let (gr, tr) = (gc.remainder(), tc.remainder());
    for (g, t) in gc.zip(tc) {
        tile::<P>(g, t, k, &mut acc);
    }
    if !gr.is_empty() {
        tile::<P>(gr, tr, k, &mut acc);
    }
    hsum(acc)
}

/// What a careful scan of the gradient found.
pub(crate) struct GradScan {
    pub(crate) sum: ScaledSum,
    pub(crate) nonfinite: bool,
    pub(crate) overflow: bool,
}

/// The slow, exact check behind a `Σg²` that overflowed or came close:
/// finds non-finite gradients and Fisher values that would overflow, and
/// sums `g²` with scaling.
pub(crate) fn scan_grad<P: Param>(
    grads: &[P],
    fisher: &[P::State],
    theta: &[P],
    k: &Elementwise<P::State>,
) -> GradScan {
    let mut scan = GradScan {
        sum: ScaledSum::ZERO,
        nonfinite: false,
        overflow: false,
    };
    for ((&g, &f), &t) in grads.iter().zip(fisher).zip(theta) {
        let g = k.grad(g.to_state(), t.to_state());
        if g == P::State::narrow(0.0) {
            // Frozen or unused parameters: f only decays, nothing to add.
            continue;
        }
        if !g.is_finite() {
            scan.nonfinite = true;
            continue;
        }
        scan.overflow |= !k.fisher(f, g).is_finite();
        scan.sum = scan.sum.add(ScaledSum::quotient_squared(g.wide(), 1.0));
    }
    scan
}

/// `Σ(a / d)²` with scaling, `a` being the gradient (`decay = false`) or the
/// parameters (`decay = true`); for sums whose fast form overflowed.
pub(crate) fn careful_quotient_sum<P: Param>(
    grads: &[P],
    fisher: &[P::State],
    theta: &[P],
    k: &Elementwise<P::State>,
    power: Power,
    decay: bool,
) -> ScaledSum {
    let mut sum = ScaledSum::ZERO;
    for ((&g, &f), &t) in grads.iter().zip(fisher).zip(theta) {
        let t = t.to_state();
        let g = k.grad(g.to_state(), t);
        let a = if decay { t } else { g };
        if a == P::State::narrow(0.0) {
            continue;
        }
        let d = power.apply(k.fisher(f, g)) + k.eps;
        sum = sum.add(ScaledSum::quotient_squared(a.wide(), d.wide()));
    }
    sum
}
