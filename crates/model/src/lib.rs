//! Shomei's vocabulary: services, application kinds and statuses, contract codes,
//! the CA/Browser Forum validity caps, the clock, and field validation.
//!
//! This crate is pure: no I/O, no database, no HTTP. Every rule here cites the
//! manual's rule id (`spec/RULES.md`) or the CA/Browser Forum section it enforces.
#![deny(missing_docs)]

pub mod actor;
pub mod clock;
pub mod countries;
pub mod details;
pub mod kinds;
pub mod revocation;
pub mod validate;
pub mod validity;

pub use actor::Actor;
pub use clock::{Clock, FixedClock, SystemClock};
pub use kinds::{AppKind, AppStatus, ContractCode, ContractType, ServerType, Service, Term};
pub use revocation::RevocationReason;
pub use validity::{
    LIST_HIDE_AFTER_MONTHS, ORG_REUSE_DAYS, domain_reuse_days, max_validity_days, months_before,
    validity_for,
};

/// PEM-encodes DER with 64-character lines (RFC 7468).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
