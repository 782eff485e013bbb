//! The sum kernels: `Σg²`, `Σn²` and `Σw²` of a block in lanes and tiles,
//! and the slow, exact scans behind a sum that overflowed.

use num_traits::Float;

use super::prefetch::prefetch;
use super::{Elementwise, Pow, Power};
use crate::partial_sums::flag;
use crate::state::{valid_fisher, valid_momentum};
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

/// One tile of the inputs of a sums pass: `g, f, θ, m`.
type Inputs<'a, P> = (
    &'a [P],
    &'a [<P as Param>::State],
    &'a [P],
    &'a [<P as Param>::State],
);

/// Calls `tile` on each tile of `TILE` elements of the inputs, in order,
/// then on the shorter last one; prefetching `g, θ` ahead, and `f` if
/// `READ_F`, `m` if `READ_M` (the streams the tile reads).
#[inline(always)]
fn tiles<'a, P: Param, const READ_F: bool, const READ_M: bool>(
    (g, f, t, m): Inputs<'a, P>,
    mut tile: impl FnMut(Inputs<'a, P>),
) {
    let (gc, fc, tc, mc) = (
        g.chunks_exact(TILE),
        f.chunks_exact(TILE),
        t.chunks_exact(TILE),
        m.chunks_exact(TILE),
    );
    let rest = (
        gc.remainder(),
        fc.remainder(),
        tc.remainder(),
        mc.remainder(),
    );
    for (((g, f), t), m) in gc.zip(fc).zip(tc).zip(mc) {
        prefetch(g);
        prefetch(t);
        if READ_F {
            prefetch(f);
        }
        if READ_M {
            prefetch(m);
        }
        tile((g, f, t, m));
    }
    if !rest.0.is_empty() {
        tile(rest);
    }
}

/// The check folded into the sums pass: `bad(θ, m, f)` is `±0` for a
/// finite `θ`, a finite `m` and a finite `f ≥ 0`, and NaN, infinite or
/// positive otherwise (`|f| - f > 0` for `f < 0`, `∞ - ∞` for `f = ∞`,
/// `x·0 = NaN` for a non-finite `x`). A sum of such terms is zero exactly
/// when every element is valid, so one add per element checks the state.
#[inline(always)]
fn bad<S: Real>(t: S, m: S, f: S) -> S {
    let zero = S::narrow(0.0);
    (f.abs() - f) + t * zero + m * zero
}

/// The folded check of the parameter alone (the state is verified):
/// `±0` for a finite `θ`, NaN otherwise.
#[inline(always)]
fn bad_param<S: Real>(t: S) -> S {
    t * S::narrow(0.0)
}

/// The folded check: of `θ, m, f` if `STATE`, else of `θ` alone.
#[inline(always)]
fn check<S: Real, const STATE: bool>(t: S, m: S, f: S) -> S {
    if STATE { bad(t, m, f) } else { bad_param(t) }
}

/// Whether the folded check's sum says every element was valid.
pub(crate) fn all_valid(bad_sum: f64) -> bool {
    bad_sum == 0.0
}

/// `[Σg², Σn², Σw², Σbad]` of one block, with `n = g / d`, `w = θ / d` and
/// `bad` the check above (of the state too if `STATE`); `Σw²` only if `W`.
#[inline(always)]
pub(crate) fn natural_sums<P: Param, Q: Pow<P::State>, const W: bool, const STATE: bool>(
    grads: &[P],
    fisher: &[P::State],
    theta: &[P],
    momentum: &[P::State],
    k: &Elementwise<P::State>,
    q: Q,
) -> [f64; 4] {
    let mut acc = [[0.0f64; LANES]; 4];
    // Elementwise into a tile of squares (a loop the compiler vectorizes),
    // then into the lane accumulators. A short last tile is zero-padded.
    #[inline(always)]
    fn tile<P: Param, Q: Pow<P::State>, const W: bool, const STATE: bool>(
        (g, f, t, m): Inputs<'_, P>,
        k: &Elementwise<P::State>,
        q: Q,
        acc: &mut [[f64; LANES]; 4],
    ) {
        let zero = <P::State as Real>::narrow(0.0);
        let mut sq = [[zero; TILE]; 4];
        let [sg, sn, sw, sb] = &mut sq;
        let terms = sg
            .iter_mut()
            .zip(sn.iter_mut())
            .zip(sw.iter_mut())
            .zip(sb.iter_mut());
        let inputs = g.iter().zip(f).zip(t).zip(m);
        for ((((sg, sn), sw), sb), (((&g, &f), &t), &m)) in terms.zip(inputs) {
            let t = t.to_state();
            *sb = check::<_, STATE>(t, m, f);
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
    tiles::<P, true, STATE>((grads, fisher, theta, momentum), |x| {
        tile::<P, Q, W, STATE>(x, k, q, &mut acc);
    });
    acc.map(hsum)
}

/// `[Σg², Σbad]` of one block: the effective gradient's sum and the check
/// of [`natural_sums`] (of the state too if `STATE`).
#[inline(always)]
pub(crate) fn grad_sum<P: Param, const STATE: bool>(
    grads: &[P],
    fisher: &[P::State],
    theta: &[P],
    momentum: &[P::State],
    k: &Elementwise<P::State>,
) -> [f64; 2] {
    #[inline(always)]
    fn tile<P: Param, const STATE: bool>(
        (g, f, t, m): Inputs<'_, P>,
        k: &Elementwise<P::State>,
        acc: &mut [[f64; LANES]; 2],
    ) {
        let mut sq = [[<P::State as Real>::narrow(0.0); TILE]; 2];
        let [sg, sb] = &mut sq;
        let inputs = g.iter().zip(f).zip(t).zip(m);
        for ((sg, sb), (((&g, &f), &t), &m)) in sg.iter_mut().zip(sb.iter_mut()).zip(inputs) {
            let t = t.to_state();
            *sb = check::<_, STATE>(t, m, f);
            let g = k.grad(g.to_state(), t);
            *sg = g * g;
        }
        for (a, s) in acc.iter_mut().zip(&sq) {
            accumulate(a, s);
        }
    }
    let mut acc = [[0.0f64; LANES]; 2];
    tiles::<P, STATE, STATE>((grads, fisher, theta, momentum), |x| {
        tile::<P, STATE>(x, k, &mut acc)
    });
    acc.map(hsum)
}

/// Which check of the folded state check failed, as [`flag`] bits: the
/// slow scan behind a non-zero `Σbad`.
pub(crate) fn scan_state<P: Param>(theta: &[P], momentum: &[P::State], fisher: &[P::State]) -> u64 {
    let mut flags = 0;
    for ((&t, &m), &f) in theta.iter().zip(momentum).zip(fisher) {
        if !t.to_state().is_finite() {
            flags |= flag::NONFINITE_PARAM;
        }
        if !valid_momentum(m) {
            flags |= flag::BAD_MOMENTUM;
        }
        if !valid_fisher(f) {
            flags |= flag::BAD_FISHER;
        }
    }
    flags
}

/// What a careful scan of the gradient found.
pub(crate) struct GradScan {
    pub(crate) sum: ScaledSum,
    /// [`flag::NONFINITE_GRAD`] and [`flag::FISHER_OVERFLOW`].
    pub(crate) flags: u64,
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
        flags: 0,
    };
    for ((&g, &f), &t) in grads.iter().zip(fisher).zip(theta) {
        let g = k.grad(g.to_state(), t.to_state());
        if g == P::State::narrow(0.0) {
            // Frozen or unused parameters: f only decays, nothing to add.
            continue;
        }
        if !g.is_finite() {
            scan.flags |= flag::NONFINITE_GRAD;
            continue;
        }
        if !k.fisher(f, g).is_finite() {
            scan.flags |= flag::FISHER_OVERFLOW;
        }
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
