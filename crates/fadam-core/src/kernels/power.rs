//! The Fisher power `f^p`, classified once per step into a form the
//! compiler can vectorize.

use crate::Real;

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
