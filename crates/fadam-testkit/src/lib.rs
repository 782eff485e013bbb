//! What the fadam crates' tests, examples and benches share, so that each
//! fact has one home:
//!
//! - [`rng`]: seeded random data. The generator is `rand`'s
//!   [`ChaCha8Rng`](rand::rngs::ChaCha8Rng), seeded with
//!   [`SeedableRng::seed_from_u64`](rand::SeedableRng::seed_from_u64):
//!   unlike `StdRng` or `SmallRng`, whose algorithm `rand` may change in any
//!   release and which may differ between platforms, a generator named after
//!   its algorithm is portable and its stream is fixed (rand's
//!   reproducibility policy), so a seed means the same data on every machine.
//!   Eight rounds are plenty for test data and the fastest ChaCha.
//! - [`close`]: the closeness measures the tests assert with.
//! - [`configs`]: the configurations that flip every switch of the core,
//!   for the adapters' conformance tests.
//! - [`digits`]: the 8×8 handwritten digits the examples and the lab
//!   train on, with their parser and seeded split.
//! - [`golden`]: the loader of the PyTorch conformance vectors (the format
//!   of `crates/fadam-core/tests/golden/README.md`) and their criterion.
//!
//! Not published: it is a dev-dependency only (and a dependency of the
//! unpublished `fadam-benches`).
//!
//! ```
//! use fadam_testkit::close::{Floor, assert_close};
//! use fadam_testkit::rng::{Draw, seeded};
//!
//! let (mut a, mut b) = (seeded(7), seeded(7));
//! let x = a.vec_f32(100, 2.0);
//! assert_eq!(x, b.vec_f32(100, 2.0));
//! assert!(x.iter().all(|v| (-2.0..2.0).contains(v)));
//! assert_close("x", &x, &x, 0.0, Floor::Rms);
//! ```

pub mod close;
pub mod configs;
pub mod digits;
pub mod golden;
pub mod rng;

/// The `rand` this crate is built on, for its traits (`RngExt`,
/// `SeedableRng`, `seq::SliceRandom`) without a dependency of one's own.
pub use rand;
