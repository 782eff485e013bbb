//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use fadam_core::{FAdamConfig, Param, State};
use fadam_ndarray::{ParamState, StateOrder};
use fadam_testkit::rng::{Draw, TestRng};
use ndarray::{ArrayBase, ArrayD, Data, Dimension, IxDyn, ShapeBuilder};

/// `f32` or `f64`, whose state is itself.
pub trait Elem: Param<State = Self> + PartialEq {
    fn of(x: f64) -> Self;
    fn bits(self) -> u64;
}

impl Elem for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl Elem for f64 {
    fn of(x: f64) -> Self {
        x
    }
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

/// Random arrays on the tests' generator.
pub trait Arrays {
    /// A C-order array of `shape` with values in [-scale, scale).
    fn array<A: Elem>(&mut self, shape: &[usize], scale: f64) -> ArrayD<A>;
    /// A Fortran-order array of `shape` with values in [-scale, scale).
    fn array_f<A: Elem>(&mut self, shape: &[usize], scale: f64) -> ArrayD<A>;
}

impl Arrays for TestRng {
    fn array<A: Elem>(&mut self, shape: &[usize], scale: f64) -> ArrayD<A> {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || A::of(scale * self.signed()))
    }

    fn array_f<A: Elem>(&mut self, shape: &[usize], scale: f64) -> ArrayD<A> {
        ArrayD::from_shape_simple_fn(IxDyn(shape).f(), || A::of(scale * self.signed()))
    }
}

/// The elements of `a` in `order`.
pub fn in_order<A: Copy, S: Data<Elem = A>, D: Dimension>(
    a: &ArrayBase<S, D>,
    order: StateOrder,
) -> Vec<A> {
    match order {
        StateOrder::RowMajor => a.iter().copied().collect(),
        StateOrder::ColumnMajor => a.t().iter().copied().collect(),
    }
}

/// Bit patterns, for exact comparisons that also tell NaNs and zeros apart.
pub fn bits<A: Elem>(xs: impl IntoIterator<Item = A>) -> Vec<u64> {
    xs.into_iter().map(Elem::bits).collect()
}

/// Asserts that `state` holds exactly `reference` (momentum, Fisher, step).
pub fn assert_state_eq<A: Elem>(state: &ParamState<A>, reference: &State<A>, what: &str) {
    assert_eq!(
        bits(state.momentum().iter().copied()),
        bits(reference.momentum().iter().copied()),
        "{what}: momentum"
    );
    assert_eq!(
        bits(state.fisher().iter().copied()),
        bits(reference.fisher().iter().copied()),
        "{what}: fisher"
    );
    assert_eq!(state.step(), reference.step(), "{what}: step");
}

/// Configs that between them flip every switch of `fadam-core`.
pub fn every_switch() -> Vec<FAdamConfig> {
    fadam_testkit::configs::every_switch()
        .into_iter()
        .map(|(_, config)| config)
        .collect()
}
