//! The integration tests of shomei-store, as one test binary (one link instead of one
//! per file on a 2-core machine). Each module is one area; shared set-up lives in
//! `shomei_store::testing` and `shomei_ra::testing`.

mod conformance;
mod instances;
mod schema;
mod search;
