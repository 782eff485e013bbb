//! Seeded random data on a portable generator (see the crate docs for why
//! [`ChaCha8Rng`]).

pub use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// The tests' generator: the same stream for the same seed on every machine.
pub type TestRng = ChaCha8Rng;

/// The generator for `seed`.
///
/// ```
/// use rand::RngExt;
/// let (mut a, mut b) = (fadam_testkit::rng::seeded(1), fadam_testkit::rng::seeded(1));
/// assert_eq!(a.random::<u64>(), b.random::<u64>());
/// ```
pub fn seeded(seed: u64) -> TestRng {
    TestRng::seed_from_u64(seed)
}

/// The draws the tests use, on any `rand` generator.
pub trait Draw: rand::Rng {
    /// Uniform in `[-1, 1)`.
    ///
    /// ```
    /// use fadam_testkit::rng::{Draw, seeded};
    /// let x = seeded(3).signed();
    /// assert!((-1.0..1.0).contains(&x));
    /// ```
    fn signed(&mut self) -> f64 {
        self.random_range(-1.0..1.0)
    }

    /// Uniform in `[-1, 1)`, as `f32`.
    ///
    /// ```
    /// use fadam_testkit::rng::{Draw, seeded};
    /// let x = seeded(3).signed_f32();
    /// assert!((-1.0..1.0).contains(&x));
    /// ```
    fn signed_f32(&mut self) -> f32 {
        self.random_range(-1.0..1.0)
    }

    /// `n` values uniform in `[-scale, scale)`.
    ///
    /// ```
    /// use fadam_testkit::rng::{Draw, seeded};
    /// let v = seeded(3).vec_f32(10, 0.5);
    /// assert_eq!(v.len(), 10);
    /// assert!(v.iter().all(|x| (-0.5..0.5).contains(x)));
    /// ```
    fn vec_f32(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.signed_f32() * scale).collect()
    }

    /// `n` values uniform in `[-scale, scale)`, as `f64`.
    ///
    /// ```
    /// use fadam_testkit::rng::{Draw, seeded};
    /// let v = seeded(3).vec_f64(10, 0.5);
    /// assert!(v.iter().all(|x| (-0.5..0.5).contains(x)));
    /// ```
    fn vec_f64(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| self.signed() * scale).collect()
    }
}

impl<R: rand::Rng + ?Sized> Draw for R {}
