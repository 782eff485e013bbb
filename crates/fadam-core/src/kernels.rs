//! The passes over memory. Everything here is elementwise or a sum; the
//! order of dependencies (spec, "Cost") decides which pass runs when.
//!
//! Sums form their squares elementwise over tiles of `TILE` elements (loops
//! the compiler vectorizes), add each tile into `LANES` independent `f64`
//! accumulators in a fixed order, and fold fixed blocks of `BLOCK` elements
//! in block order: one thread and many threads give the same bits. The hot
//! kernels also exist compiled for AVX2, chosen at run time.

use core::ops::Range;

use num_traits::Float;

use crate::sums::ScaledSum;
use crate::{Param, Real};

/// Independent `f64` accumulators per sum.
const LANES: usize = 8;
/// Elements per block of a sum; partial sums are folded in block order.
pub(crate) const BLOCK: usize = 1 << 14;
/// Below this many blocks a pass runs on the calling thread.
#[cfg(feature = "rayon")]
const PAR_MIN_BLOCKS: usize = 8;

/// Per-element constants of one step, in the state type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Elementwise<S> {
    /// -1 to maximize, else 1.
    pub(crate) sign: S,
    /// λ of the L2 penalty, else 0.
    pub(crate) l2: S,
    /// Bias-corrected Fisher decay `b2` and `1 - b2`.
    pub(crate) b2: S,
    pub(crate) one_minus_b2: S,
    /// Epsilon added to `f^p`.
    pub(crate) eps: S,
}

impl<S: Real> Elementwise<S> {
    /// The effective gradient: negated to maximize, plus the L2 term.
    #[inline(always)]
    pub(crate) fn grad(&self, g: S, theta: S) -> S {
        self.sign * g + self.l2 * theta
    }

    /// The new Fisher diagonal, in the reference's order of operations.
    #[inline(always)]
    pub(crate) fn fisher(&self, f: S, g: S) -> S {
        f * self.b2 + self.one_minus_b2 * g * g
    }
}

/// `f^p`, specialized where `p` allows a vectorizable form.
pub(crate) trait Pow<S>: Copy + Send + Sync {
    fn pow(self, x: S) -> S;
}

#[derive(Clone, Copy)]
pub(crate) struct Sqrt;
#[derive(Clone, Copy)]
pub(crate) struct Identity;
#[derive(Clone, Copy)]
pub(crate) struct Powf<S>(pub(crate) S);

impl<S: Real> Pow<S> for Sqrt {
    #[inline(always)]
    fn pow(self, x: S) -> S {
        x.sqrt()
    }
}
impl<S: Real> Pow<S> for Identity {
    #[inline(always)]
    fn pow(self, x: S) -> S {
        x
    }
}
impl<S: Real> Pow<S> for Powf<S> {
    #[inline(always)]
    fn pow(self, x: S) -> S {
        x.powf(self.0)
    }
}

/// The Fisher power, classified once per step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Power {
    Sqrt,
    Identity,
    Powf(f64),
}

impl Power {
    pub(crate) fn new(p: f64) -> Self {
        if p == 0.5 {
            Self::Sqrt
        } else if p == 1.0 {
            Self::Identity
        } else {
            Self::Powf(p)
        }
    }

    pub(crate) fn apply<S: Real>(self, x: S) -> S {
        match self {
            Self::Sqrt => x.sqrt(),
            Self::Identity => x,
            Self::Powf(p) => x.powf(S::narrow(p)),
        }
    }
}

/// Runs `$body` with `$q` bound to the monomorphic form of `$power`.
macro_rules! with_power {
    ($power:expr, $s:ty, |$q:ident| $body:expr) => {
        match $power {
            $crate::kernels::Power::Sqrt => {
                let $q = $crate::kernels::Sqrt;
                $body
            }
            $crate::kernels::Power::Identity => {
                let $q = $crate::kernels::Identity;
                $body
            }
            $crate::kernels::Power::Powf(p) => {
                let $q = $crate::kernels::Powf(<$s as $crate::Real>::narrow(p));
                $body
            }
        }
    };
}
pub(crate) use with_power;

/// Copies of the hot kernels compiled for AVX2, chosen at run time. The
/// arithmetic is the same IEEE operations in the same order (no FMA
/// contraction), so both copies give the same bits.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) mod avx2 {
    use super::{Elementwise, Pow, Update};
    use crate::Param;

    /// Whether this CPU runs the AVX2 copies (detected once by std).
    #[inline]
    pub(crate) fn available() -> bool {
        std::is_x86_feature_detected!("avx2")
    }

    #[target_feature(enable = "avx2")]
    pub(crate) fn natural_sums<P: Param, Q: Pow<P::State>, const W: bool>(
        grads: &[P],
        fisher: &[P::State],
        theta: &[P],
        k: &Elementwise<P::State>,
        q: Q,
    ) -> [f64; 3] {
        super::natural_sums::<P, Q, W>(grads, fisher, theta, k, q)
    }

    #[target_feature(enable = "avx2")]
    pub(crate) fn grad_sum<P: Param>(grads: &[P], theta: &[P], k: &Elementwise<P::State>) -> f64 {
        super::grad_sum(grads, theta, k)
    }

    #[target_feature(enable = "avx2")]
    pub(crate) fn update<
        P: Param,
        Q: Pow<P::State>,
        const NATURAL_M: bool,
        const NATURAL_W: bool,
    >(
        theta: &mut [P],
        grads: &[P],
        momentum: &mut [P::State],
        fisher: &mut [P::State],
        k: &Update<P::State>,
        q: Q,
    ) {
        super::update::<P, Q, NATURAL_M, NATURAL_W>(theta, grads, momentum, fisher, k, q);
    }
}

/// Calls a hot kernel, in its AVX2 copy where the CPU has AVX2.
macro_rules! versioned {
    ($name:ident :: <$($g:tt),*> ($($arg:expr),* $(,)?)) => {{
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            if $crate::kernels::avx2::available() {
                // SAFETY: the AVX2 copy runs only on a CPU that has AVX2.
                #[allow(unsafe_code)]
                unsafe {
                    $crate::kernels::avx2::$name::<$($g),*>($($arg),*)
                }
            } else {
                $crate::kernels::$name::<$($g),*>($($arg),*)
            }
        }
        #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
        {
            $crate::kernels::$name::<$($g),*>($($arg),*)
        }
    }};
}
pub(crate) use versioned;

fn block(b: usize, len: usize) -> Range<usize> {
    b * BLOCK..((b + 1) * BLOCK).min(len)
}

/// Folds `f` over the blocks of `0..len` in block order.
pub(crate) fn fold_blocks<T, F>(len: usize, f: F, add: fn(T, T) -> T, zero: T) -> T
where
    T: Send,
    F: Fn(Range<usize>) -> T + Sync,
{
    let blocks = len.div_ceil(BLOCK);
    #[cfg(feature = "rayon")]
    if blocks >= PAR_MIN_BLOCKS {
        use rayon::prelude::*;
        let parts: alloc::vec::Vec<T> = (0..blocks)
            .into_par_iter()
            .map(|b| f(block(b, len)))
            .collect();
        return parts.into_iter().fold(zero, add);
    }
    (0..blocks).map(|b| f(block(b, len))).fold(zero, add)
}

/// Runs an elementwise pass over `(θ, g, m, f)`, in parallel blocks with
/// the `rayon` feature.
pub(crate) fn for_each_block<P: Param, F>(
    theta: &mut [P],
    grads: &[P],
    momentum: &mut [P::State],
    fisher: &mut [P::State],
    body: F,
) where
    F: Fn(&mut [P], &[P], &mut [P::State], &mut [P::State]) + Sync + Send,
{
    #[cfg(feature = "rayon")]
    if theta.len() >= PAR_MIN_BLOCKS * BLOCK {
        use rayon::prelude::*;
        theta
            .par_chunks_mut(BLOCK)
            .zip(grads.par_chunks(BLOCK))
            .zip(momentum.par_chunks_mut(BLOCK))
            .zip(fisher.par_chunks_mut(BLOCK))
            .for_each(|(((t, g), m), f)| body(t, g, m, f));
        return;
    }
    body(theta, grads, momentum, fisher);
}

pub(crate) fn add3(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// Sums `LANES` accumulators in a fixed tree order.
#[inline(always)]
fn hsum(acc: [f64; LANES]) -> f64 {
    let h: [f64; 4] = core::array::from_fn(|i| acc[i] + acc[i + 4]);
    (h[0] + h[2]) + (h[1] + h[3])
}

/// Asks for the memory `PREFETCH_BYTES` past the start of `tile`, so that
/// the sums pass (arithmetic-heavy, three streams) overlaps its loads with
/// its arithmetic. A hint only: it never faults, and the address may lie
/// past the slice.
#[inline(always)]
fn prefetch<T>(tile: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = tile.as_ptr().cast::<i8>().wrapping_add(PREFETCH_BYTES);
        for line in (0..core::mem::size_of_val(tile)).step_by(64) {
            // SAFETY: prefetching is a hint that never dereferences or
            // faults, whatever the address.
            #[allow(unsafe_code)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(line));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = tile;
}

/// How far ahead the sums pass prefetches.
#[cfg(target_arch = "x86_64")]
const PREFETCH_BYTES: usize = 1024;

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

/// How a clipped quotient `a / d · min(1, c / RMS(a / d))` is computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Clip {
    /// Multiply by `s / d` with `s = min(1, c / RMS)` a normal number of the
    /// state type: `s / d` cannot overflow since `d` is at least the
    /// smallest normal number.
    Fast(f64),
    /// The factor is below the state type's range (the quotients overflow
    /// it): `a / d · c / RMS` with `RMS = rms_mantissa · 2^rms_exp`, in
    /// scaled `f64` arithmetic.
    Careful { c_over_mantissa: f64, rms_exp: i32 },
}

impl Clip {
    pub(crate) fn fast_factor(self) -> Option<f64> {
        match self {
            Self::Fast(s) => Some(s),
            Self::Careful { .. } => None,
        }
    }

    fn quotient<S: Real>(self, a: S, d: S) -> S {
        match self {
            Self::Fast(s) => a * (S::narrow(s) / d),
            Self::Careful {
                c_over_mantissa,
                rms_exp,
            } => {
                let (ma, ea) = libm::frexp(a.wide());
                let (md, ed) = libm::frexp(d.wide());
                S::narrow(libm::ldexp(ma / md * c_over_mantissa, ea - ed - rms_exp))
            }
        }
    }
}

/// `m + w·(x - m)` for a weight `w = 1 - β1` below one half, else
/// `x - (1 - w)·(x - m)`, as torch's `lerp` computes it: exact at `w = 0`
/// and `w = 1` (`β1 = 0` must give `m = x` even when `m ≫ x`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lerp<S> {
    from_new: bool,
    coef: S,
}

impl<S: Real> Lerp<S> {
    pub(crate) fn new(weight: f64) -> Self {
        if weight < 0.5 {
            Self {
                from_new: false,
                coef: S::narrow(weight),
            }
        } else {
            Self {
                from_new: true,
                coef: S::narrow(weight - 1.0),
            }
        }
    }

    #[inline(always)]
    fn apply(self, m: S, x: S) -> S {
        let base = if self.from_new { x } else { m };
        base + self.coef * (x - m)
    }
}

/// Constants of the update pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Update<S> {
    pub(crate) ew: Elementwise<S>,
    /// The momentum EMA as torch's `lerp`, exact at both ends.
    pub(crate) lerp: Lerp<S>,
    /// `1 - η·λ` for decoupled decay, else 1.
    pub(crate) keep: S,
    /// `η`, or `η / (1 - β1^t)` for Adam momentum.
    pub(crate) lr: S,
    /// `λ` for natural decay (times `1 - β1^t` for Adam momentum), else 0.
    pub(crate) natural_decay: S,
    /// Fast clip factors of `n` and `w` (1 when clipping is off).
    pub(crate) clip_n: S,
    pub(crate) clip_w: S,
}

/// The update pass: reads `θ, g, m, f`, writes `θ, m, f`.
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
        let d = q.pow(fi) + k.ew.eps;
        let input = if NATURAL_M { g * (k.clip_n / d) } else { g };
        let mi = k.lerp.apply(*m, input);
        let dir = if NATURAL_M { mi } else { mi / d };
        let dir = if NATURAL_W {
            dir + k.natural_decay * (th * (k.clip_w / d))
        } else {
            dir
        };
        *t = P::from_state(th * k.keep - k.lr * dir);
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
        let d = power.apply(fi) + k.ew.eps;
        let input = natural_m.map_or(g, |c| c.quotient(g, d));
        let mi = k.lerp.apply(*m, input);
        let mut dir = if natural_m.is_some() { mi } else { mi / d };
        if let Some(c) = natural_w {
            dir = dir + k.natural_decay * c.quotient(th, d);
        }
        *t = P::from_state(th * k.keep - k.lr * dir);
        *m = mi;
        *f = fi;
    }
}
