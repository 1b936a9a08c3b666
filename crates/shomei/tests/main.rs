//! The tests of the real `shomei` binary (issue #12), as one test binary: each module is
//! one area; `common` starts servers and runs commands.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../benches/support/mod.rs"]
mod support;

mod backup;
mod common;
mod instances;
mod storage;
