//! The tests of the real `shomei` binary (issue #12), as one test binary: each module is
//! one area; `common` starts servers and runs commands.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../benches/support/mod.rs"]
mod support;

mod backup;
mod common;
// The crash harness needs the binary built with failpoints:
// `cargo test -p shomei --features failpoints --test integration crash`.
#[cfg(feature = "failpoints")]
mod crash;
mod desks;
mod instances;
mod overload;
mod sessions;
mod storage;
