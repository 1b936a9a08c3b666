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
