//! The ACME front end through its router, on every backend.
mod account;
mod ari;
mod orders;
