//! The AVX2 copies of the hot kernels and the run-time choice between them
//! and the portable kernels.

/// Copies of the hot kernels compiled for AVX2, chosen at run time. The
/// arithmetic is the same IEEE operations in the same order (no FMA
/// contraction), so both copies give the same bits.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) mod avx2 {
    use crate::Param;
    use crate::kernels::{Elementwise, Pow, Update};

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
        momentum: &[P::State],
        k: &Elementwise<P::State>,
        q: Q,
    ) -> [f64; 4] {
        crate::kernels::natural_sums::<P, Q, W>(grads, fisher, theta, momentum, k, q)
    }

    #[target_feature(enable = "avx2")]
    pub(crate) fn grad_sum<P: Param>(
        grads: &[P],
        fisher: &[P::State],
        theta: &[P],
        momentum: &[P::State],
        k: &Elementwise<P::State>,
    ) -> [f64; 2] {
        crate::kernels::grad_sum(grads, fisher, theta, momentum, k)
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
        crate::kernels::update::<P, Q, NATURAL_M, NATURAL_W>(theta, grads, momentum, fisher, k, q);
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
