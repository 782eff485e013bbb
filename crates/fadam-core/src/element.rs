//! The number types a step works on.

use core::fmt::Debug;
use num_traits::Float;

mod sealed {
    pub trait Sealed {}
}

/// A floating-point type in which optimizer state is kept and the update is
/// computed: `f32` or `f64`.
///
/// Tensor-wide sums are always accumulated in `f64`.
pub trait Real: Float + Default + Debug + Send + Sync + 'static + sealed::Sealed {
    /// The smallest positive normal value, as `f64`.
    const MIN_POSITIVE_F64: f64;
    /// The largest finite value, as `f64`.
    const MAX_F64: f64;
    /// Exact conversion to `f64`.
    fn wide(self) -> f64;
    /// Conversion from `f64`, rounding to nearest.
    fn narrow(x: f64) -> Self;
}

/// A parameter (and gradient) element type: `f32`, `f64`, or with the `half`
/// feature `half::f16` / `half::bf16`, whose state and arithmetic are `f32`.
///
/// ```
/// use fadam_core::Param;
/// fn state_size<P: Param>() -> usize { core::mem::size_of::<P::State>() }
/// assert_eq!(state_size::<f64>(), 8);
/// assert_eq!(state_size::<f32>(), 4);
/// ```
pub trait Param: Copy + Default + Debug + Send + Sync + 'static + sealed::Sealed {
    /// The type of the optimizer state and of the arithmetic.
    type State: Real;
    /// The largest finite parameter value, in the state type: the update
    /// saturates there, so that rounding to the parameter type stays finite.
    const MAX: Self::State;
    /// Widens to the state type (exact).
    fn to_state(self) -> Self::State;
    /// Rounds from the state type to nearest.
    fn from_state(x: Self::State) -> Self;
}

macro_rules! real {
    ($t:ty) => {
        impl sealed::Sealed for $t {}
        impl Real for $t {
            const MIN_POSITIVE_F64: f64 = <$t>::MIN_POSITIVE as f64;
            const MAX_F64: f64 = <$t>::MAX as f64;
            #[inline(always)]
            fn wide(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn narrow(x: f64) -> Self {
                x as $t
            }
        }
        impl Param for $t {
            type State = $t;
            const MAX: $t = <$t>::MAX;
            #[inline(always)]
            fn to_state(self) -> $t {
                self
            }
            #[inline(always)]
            fn from_state(x: $t) -> $t {
                x
            }
        }
    };
}

real!(f32);
real!(f64);

#[cfg(feature = "half")]
macro_rules! half_param {
    ($t:ty) => {
        impl sealed::Sealed for $t {}
        impl Param for $t {
            type State = f32;
            const MAX: f32 = <$t>::MAX.to_f32_const();
            #[inline(always)]
            fn to_state(self) -> f32 {
                self.to_f32()
            }
            #[inline(always)]
            fn from_state(x: f32) -> Self {
                <$t>::from_f32(x)
            }
        }
    };
}

#[cfg(feature = "half")]
half_param!(half::f16);
#[cfg(feature = "half")]
half_param!(half::bf16);
