//! The integration tests of shomei-web, as one test binary (one link instead of one
//! per file on a 2-core machine). Each module is one area; shared set-up lives in
//! `common` (and in `shomei_store::testing` / `shomei_ra::testing`).

mod account;
mod common;
mod downloads_coupons;
mod lifecycle;
mod mass_revocation;
mod portal;
mod public_ocsp;
