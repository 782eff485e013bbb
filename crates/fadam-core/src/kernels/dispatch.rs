//! The copies of the hot kernels compiled for wider vectors (AVX2,
//! AVX-512) and the run-time choice between them and the portable kernels.
//!
//! Every copy is the same IEEE operations in the same order (no FMA
//! contraction, the same tiles and lanes), so every copy gives the same
//! bits; CI compares them (`FADAM_KERNELS`, see [`Kernels`]).

/// Which copy of the hot kernels a process runs.
///
/// With `std` on x86-64 the widest copy the CPU runs is chosen at the first
/// step; the environment variable `FADAM_KERNELS` (`portable`, `avx2`,
/// `avx512`) caps the choice, for comparing the copies (a cap the CPU does
/// not reach changes nothing). Without `std`, or on other targets, the
/// portable kernels run (compiled for the target's own features).
///
/// ```
/// let k = fadam_core::Kernels::in_use();
/// assert!(["portable", "avx2", "avx512"].contains(&k.name()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kernels {
    /// Compiled for the target's baseline features.
    Portable,
    /// Compiled for AVX2 (256-bit vectors).
    Avx2,
    /// Compiled for AVX-512F (512-bit vectors).
    Avx512,
}

impl Kernels {
    /// The copy this process runs (chosen once).
    pub fn in_use() -> Self {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            static CHOICE: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
            *CHOICE.get_or_init(|| {
                let cap = std::env::var("FADAM_KERNELS").ok();
                let cap = match cap.as_deref() {
                    Some("portable") => Self::Portable,
                    Some("avx2") => Self::Avx2,
                    _ => Self::Avx512,
                };
                Self::detected().min(cap)
            })
        }
        #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
        {
            Self::Portable
        }
    }

    /// The widest copy this CPU runs.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    fn detected() -> Self {
        if std::is_x86_feature_detected!("avx512f") {
            Self::Avx512
        } else if std::is_x86_feature_detected!("avx2") {
            Self::Avx2
        } else {
            Self::Portable
        }
    }

    /// The name `FADAM_KERNELS` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Portable => "portable",
            Self::Avx2 => "avx2",
            Self::Avx512 => "avx512",
        }
    }
}

/// Copies of the hot kernels compiled with `$feature` enabled.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
macro_rules! copies {
    ($module:ident, $feature:literal) => {
        pub(crate) mod $module {
            use crate::Param;
            use crate::kernels::{Elementwise, Inputs, Pow, Update};

            #[target_feature(enable = $feature)]
            pub(crate) fn natural_sums<
                P: Param,
                Q: Pow<P::State>,
                const W: bool,
                const STATE: bool,
            >(
                blocks: [Inputs<'_, P>; 2],
                k: &Elementwise<P::State>,
                q: Q,
            ) -> [[f64; 4]; 2] {
                crate::kernels::natural_sums::<P, Q, W, STATE>(blocks, k, q)
            }

            #[target_feature(enable = $feature)]
            pub(crate) fn grad_sum<P: Param, const STATE: bool>(
                blocks: [Inputs<'_, P>; 2],
                k: &Elementwise<P::State>,
            ) -> [[f64; 2]; 2] {
                crate::kernels::grad_sum::<P, STATE>(blocks, k)
            }

            #[target_feature(enable = $feature)]
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
                crate::kernels::update::<P, Q, NATURAL_M, NATURAL_W>(
                    theta, grads, momentum, fisher, k, q,
                );
            }
        }
    };
}
#[cfg(all(feature = "std", target_arch = "x86_64"))]
copies!(avx2, "avx2");
#[cfg(all(feature = "std", target_arch = "x86_64"))]
copies!(avx512, "avx512f");

/// Calls a hot kernel in the copy [`Kernels::in_use`] names.
macro_rules! versioned {
    ($name:ident :: <$($g:tt),*> ($($arg:expr),* $(,)?)) => {{
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            match $crate::Kernels::in_use() {
                // SAFETY: `in_use` names a copy only if the CPU has its
                // features.
                #[allow(unsafe_code)]
                $crate::Kernels::Avx512 => unsafe {
                    $crate::kernels::avx512::$name::<$($g),*>($($arg),*)
                },
                // SAFETY: as above.
                #[allow(unsafe_code)]
                $crate::Kernels::Avx2 => unsafe {
                    $crate::kernels::avx2::$name::<$($g),*>($($arg),*)
                },
                $crate::Kernels::Portable => $crate::kernels::$name::<$($g),*>($($arg),*),
            }
        }
        #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
        {
            $crate::kernels::$name::<$($g),*>($($arg),*)
        }
    }};
}
pub(crate) use versioned;
