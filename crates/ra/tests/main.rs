//! The integration tests of shomei-ra, as one test binary (one link instead of one
//! per file on a 2-core machine). Each module is one area; shared set-up lives in
//! `shomei_store::testing` and `shomei_ra::testing`.

mod account_care;
mod acme;
mod backup;
mod continuation;
mod coupons;
mod crl_shards;
mod domain_checks;
mod instances;
mod issuance_groups;
mod login_cert;
mod mail;
mod mass_revocation;
mod ocsp;
mod otp;
mod reissue;
mod revocation;
mod seal;
mod switch;
mod workflow;
