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

/// The inputs of a sums pass over a block: `g, f, θ, m`.
pub(crate) type Inputs<'a, P> = (
    &'a [P],
    &'a [<P as Param>::State],
    &'a [P],
    &'a [<P as Param>::State],
);

/// Adds the terms of one full tile to `acc` (see [`sum_terms`]).
#[inline(always)]
fn tile<P: Param, const N: usize>(
    acc: &mut [[f64; LANES]; N],
    g: &[P; TILE],
    f: &[P::State; TILE],
    t: &[P; TILE],
    m: &[P::State; TILE],
    terms: &impl Fn(P, P::State, P, P::State) -> [P::State; N],
) {
    // Elementwise into tiles of terms (a loop the compiler vectorizes),
    // then row by row into the lanes. The tiles go through memory: kept
    // in registers, they are shuffled lane by lane into the rows.
    let mut sq = [[<P::State as Real>::narrow(0.0); TILE]; N];
    for i in 0..TILE {
        let x = terms(g[i], f[i], t[i], m[i]);
        for (sq, x) in sq.iter_mut().zip(x) {
            sq[i] = x;
        }
    }
    let sq = core::hint::black_box(&sq);
    for (a, sq) in acc.iter_mut().zip(sq) {
        let mut lane = [<P::State as Real>::narrow(0.0); LANES];
        for row in super::as_arrays::<_, LANES>(sq).0 {
            lane = core::array::from_fn(|l| lane[l] + row[l]);
        }
        for l in 0..LANES {
            a[l] += lane[l].wide();
        }
    }
}

/// The full tiles of one block's inputs and its zero-padded short tile.
struct Tiles<'a, P: Param> {
    g: &'a [[P; TILE]],
    f: &'a [[P::State; TILE]],
    t: &'a [[P; TILE]],
    m: &'a [[P::State; TILE]],
    rest: Inputs<'a, P>,
}

impl<'a, P: Param> Tiles<'a, P> {
    fn new((g, f, t, m): Inputs<'a, P>) -> Self {
        let (g, gr) = super::as_arrays::<_, TILE>(g);
        let (f, fr) = super::as_arrays::<_, TILE>(f);
        let (t, tr) = super::as_arrays::<_, TILE>(t);
        let (m, mr) = super::as_arrays::<_, TILE>(m);
        Self {
            g,
            f,
            t,
            m,
            rest: (gr, fr, tr, mr),
        }
    }

    /// Prefetches ahead of tile `i` and adds its terms.
    #[inline(always)]
    fn add<const N: usize, const READ_F: bool, const READ_M: bool>(
        &self,
        i: usize,
        acc: &mut [[f64; LANES]; N],
        terms: &impl Fn(P, P::State, P, P::State) -> [P::State; N],
    ) {
        prefetch(&self.g[i]);
        prefetch(&self.t[i]);
        if READ_F {
            prefetch(&self.f[i]);
        }
        if READ_M {
            prefetch(&self.m[i]);
        }
        tile(acc, &self.g[i], &self.f[i], &self.t[i], &self.m[i], terms);
    }

    /// Adds the terms of the short last tile, zero-padded (its zero
    /// elements add `+0`).
    #[inline(always)]
    fn add_rest<const N: usize>(
        &self,
        acc: &mut [[f64; LANES]; N],
        terms: &impl Fn(P, P::State, P, P::State) -> [P::State; N],
    ) {
        let (g, f, t, m) = self.rest;
        if g.is_empty() {
            return;
        }
        let pad = |x: &[P]| core::array::from_fn(|i| x.get(i).copied().unwrap_or_default());
        let pad_s =
            |x: &[P::State]| core::array::from_fn(|i| x.get(i).copied().unwrap_or_default());
        tile(acc, &pad(g), &pad_s(f), &pad(t), &pad_s(m), terms);
    }
}

/// Sums `N` terms of each element (`terms(g, f, θ, m)`) of two blocks at
/// once (the second may be empty): each block tile by tile, each tile row
/// by row into `LANES` lanes in the state type (element `j·LANES + l` into
/// lane `l`, rows in order), then into `f64` lane accumulators. The two
/// blocks' tiles alternate, which doubles the streams in flight; each
/// block's sums are formed in the same order as alone. Prefetches `g, θ`
/// ahead, and `f` if `READ_F`, `m` if `READ_M` (the streams `terms` reads).
#[inline(always)]
fn sum_terms<P: Param, const N: usize, const READ_F: bool, const READ_M: bool>(
    blocks: [Inputs<'_, P>; 2],
    terms: impl Fn(P, P::State, P, P::State) -> [P::State; N],
) -> [[f64; N]; 2] {
    let mut acc = [[[0.0f64; LANES]; N]; 2];
    let [a, b] = blocks.map(Tiles::new);
    let common = a.g.len().min(b.g.len());
    for i in 0..common {
        a.add::<N, READ_F, READ_M>(i, &mut acc[0], &terms);
        b.add::<N, READ_F, READ_M>(i, &mut acc[1], &terms);
    }
    for (tiles, acc) in [a, b].iter().zip(&mut acc) {
        for i in common..tiles.g.len() {
            tiles.add::<N, READ_F, READ_M>(i, acc, &terms);
        }
        tiles.add_rest(acc, &terms);
    }
    acc.map(|acc| acc.map(hsum))
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

/// `[Σg², Σn², Σw², Σbad]` of each of two blocks (see [`sum_terms`]), with `n = g / d`, `w = θ / d` and
/// `bad` the check above (of the state too if `STATE`); `Σw²` only if `W`.
#[inline(always)]
pub(crate) fn natural_sums<P: Param, Q: Pow<P::State>, const W: bool, const STATE: bool>(
    blocks: [Inputs<'_, P>; 2],
    k: &Elementwise<P::State>,
    q: Q,
) -> [[f64; 4]; 2] {
    sum_terms::<P, 4, true, STATE>(
        blocks,
        #[inline(always)]
        |g, f, t, m| {
            let t = t.to_state();
            let bad = check::<_, STATE>(t, m, f);
            let g = k.grad(g.to_state(), t);
            let inv = (q.pow(k.fisher(f, g)) + k.eps).recip();
            let n = g * inv;
            let w = if W {
                t * inv
            } else {
                <P::State as Real>::narrow(0.0)
            };
            [g * g, n * n, w * w, bad]
        },
    )
}

/// `[Σg², Σbad]` of each of two blocks: the effective gradient's sum and the check
/// of [`natural_sums`] (of the state too if `STATE`).
#[inline(always)]
pub(crate) fn grad_sum<P: Param, const STATE: bool>(
    blocks: [Inputs<'_, P>; 2],
    k: &Elementwise<P::State>,
) -> [[f64; 2]; 2] {
    sum_terms::<P, 2, STATE, STATE>(
        blocks,
        #[inline(always)]
        |g, f, t, m| {
            let t = t.to_state();
            let bad = check::<_, STATE>(t, m, f);
            let g = k.grad(g.to_state(), t);
            [g * g, bad]
        },
    )
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
