//! Shared by the tests (and, through `#[path]`, the MPI check example).
#![allow(dead_code, unreachable_pub)]

pub mod scenarios;
pub mod threads;
