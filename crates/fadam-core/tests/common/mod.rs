//! fadam-core's own test models: an independent f64 reference of the spec
//! and textbook Adam/AdamW. Closeness checks and random data come from
//! `fadam-testkit`.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::needless_range_loop,
    clippy::too_many_arguments
)]

pub mod reference;
pub mod textbook;
