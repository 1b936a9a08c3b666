//! Shomei's domain validation engine (issue #10): the checks the CA itself performs
//! (CA-RULES "Domain validation, CAA, corroboration"):
//!
//! | method | BR | what is checked |
//! |---|---|---|
//! | `http-01` | 3.2.2.4.19 | `http://DOMAIN/.well-known/acme-challenge/TOKEN` answers the key authorization |
//! | `dns-01` | 3.2.2.4.7 | a TXT record at `_acme-challenge.DOMAIN` holds the key authorization's digest |
//! | `tls-alpn-01` | 3.2.2.4.20 | a TLS server at DOMAIN speaking `acme-tls/1` shows the RFC 8737 certificate |
//! | `dns-txt` | 3.2.2.4.7 | a TXT record at `_validation-shomei.DOMAIN` holds the random value (portal) |
//! | `http-file` | 3.2.2.4.18 | `http://DOMAIN/.well-known/pki-validation/FILE` holds the random value (portal) |
//!
//! and CAA (RFC 8659 with RFC 8657's `accounturi` and `validationmethods`). The DNS
//! resolver and the ports the validator connects to are settings ([`Config`]), as in
//! pebble, so tests point them at a local DNS server and loopback ports.
//!
//! The same [`Validator`] runs in the primary (the RA) and in each remote network
//! perspective (`shomei perspective`, [`perspective`]); [`perspective::Corroborator`]
//! asks them all and applies the quorum of BR 3.2.2.9.
#![deny(missing_docs)]

mod alpn;
pub mod caa;
mod dns;
mod http;
pub mod perspective;
#[cfg(feature = "testing")]
pub mod testing;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Duration;

/// Where the validator looks and connects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The DNS server (host:port) for every lookup; `None`: the system's
    /// (`/etc/resolv.conf`).
    pub resolver: Option<SocketAddr>,
    /// The port http-01 and http-file checks connect to (80).
    pub http_port: u16,
    /// The port tls-alpn-01 checks, and https redirects, connect to (443).
    pub tls_port: u16,
    /// Seconds one check may take.
    pub timeout_seconds: u64,
    /// The issuer domain names that identify this CA in CAA `issue` records.
    pub caa_identities: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            resolver: None,
            http_port: 80,
            tls_port: 443,
            timeout_seconds: 10,
            caa_identities: vec!["shomei.example".into()],
        }
    }
}

/// One domain check, as the RA asks it of every perspective.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "kebab-case")]
pub enum Check {
    /// ACME http-01 (BR 3.2.2.4.19).
    Http01 {
        /// The domain (no wildcard label).
        domain: String,
        /// The challenge token.
        token: String,
        /// `token.thumbprint`.
        key_authorization: String,
    },
    /// ACME dns-01 (BR 3.2.2.4.7).
    Dns01 {
        /// The domain (no wildcard label).
        domain: String,
        /// `token.thumbprint`.
        key_authorization: String,
    },
    /// ACME tls-alpn-01 (BR 3.2.2.4.20, RFC 8737).
    TlsAlpn01 {
        /// The domain.
        domain: String,
        /// `token.thumbprint`.
        key_authorization: String,
    },
    /// The portal's DNS change (BR 3.2.2.4.7): the random value in a TXT record at
    /// `_validation-shomei.DOMAIN`.
    DnsTxt {
        /// The domain.
        domain: String,
        /// The random value.
        value: String,
    },
    /// The portal's agreed-upon change to website v2 (BR 3.2.2.4.18): the random value
    /// in `http://DOMAIN/.well-known/pki-validation/FILE`.
    HttpFile {
        /// The domain.
        domain: String,
        /// The file name.
        file: String,
        /// The random value.
        value: String,
    },
    /// CAA (RFC 8659, BR 3.2.2.8).
    Caa {
        /// The name to be issued for, without a wildcard label.
        domain: String,
        /// Whether the certificate names `*.domain`.
        wildcard: bool,
        /// The ACME account URL, for `accounturi` (RFC 8657).
        account_uri: Option<String>,
        /// The validation method used, for `validationmethods` (RFC 8657).
        method: String,
    },
}

impl Check {
    /// The domain the check is about.
    pub fn domain(&self) -> &str {
        match self {
            Check::Http01 { domain, .. }
            | Check::Dns01 { domain, .. }
            | Check::TlsAlpn01 { domain, .. }
            | Check::DnsTxt { domain, .. }
            | Check::HttpFile { domain, .. }
            | Check::Caa { domain, .. } => domain,
        }
    }

    /// The method's name (as in `validationmethods` and in the records).
    pub fn method(&self) -> &'static str {
        match self {
            Check::Http01 { .. } => "http-01",
            Check::Dns01 { .. } => "dns-01",
            Check::TlsAlpn01 { .. } => "tls-alpn-01",
            Check::DnsTxt { .. } => "dns-txt",
            Check::HttpFile { .. } => "http-file",
            Check::Caa { .. } => "caa",
        }
    }
}

/// Why a check failed: the ACME problem type it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailureKind {
    /// A DNS lookup failed (`dns`).
    Dns,
    /// The server could not be reached (`connection`).
    Connection,
    /// The server answered something else (`incorrectResponse`).
    IncorrectResponse,
    /// A TLS problem (`tls`).
    Tls,
    /// The response did not prove control (`unauthorized`).
    Unauthorized,
    /// CAA forbids issuance (`caa`).
    Caa,
}

impl FailureKind {
    /// The ACME error type's name (RFC 8555 6.7).
    pub fn acme_type(self) -> &'static str {
        match self {
            FailureKind::Dns => "dns",
            FailureKind::Connection => "connection",
            FailureKind::IncorrectResponse => "incorrectResponse",
            FailureKind::Tls => "tls",
            FailureKind::Unauthorized => "unauthorized",
            FailureKind::Caa => "caa",
        }
    }
}

/// A failed check, with a detail a customer can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{detail}")]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// What was seen.
    pub detail: String,
}

impl Failure {
    pub(crate) fn new(kind: FailureKind, detail: impl Into<String>) -> Failure {
        Failure {
            kind,
            detail: detail.into(),
        }
    }
}

/// The result of one check at one perspective.
pub type Outcome = Result<(), Failure>;

/// base64url(SHA-256(key authorization)): the dns-01 TXT value (RFC 8555 8.4).
pub fn dns01_digest(key_authorization: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(key_authorization.as_bytes()))
}

/// Lower-case, without a trailing dot.
pub(crate) fn normal(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The checker: one per process, shared.
#[derive(Clone)]
pub struct Validator {
    config: Config,
    dns: dns::Dns,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The validator could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("validation engine: {0}")]
pub struct SetupError(pub String);

impl Validator {
    /// A validator with these settings.
    pub fn new(config: Config) -> Result<Validator, SetupError> {
        let dns = dns::Dns::new(config.resolver)?;
        Ok(Validator { config, dns })
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_seconds.max(1))
    }

    /// Runs one check here (this perspective), within the time limit.
    pub async fn run(&self, check: &Check) -> Outcome {
        match tokio::time::timeout(self.timeout(), self.run_inner(check)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::new(
                FailureKind::Connection,
                format!(
                    "{} check of {} timed out after {} s",
                    check.method(),
                    check.domain(),
                    self.config.timeout_seconds
                ),
            )),
        }
    }

    async fn run_inner(&self, check: &Check) -> Outcome {
        match check {
            Check::Http01 {
                domain,
                token,
                key_authorization,
            } => {
                let path = format!("/.well-known/acme-challenge/{token}");
                let body = http::get(self, domain, &path).await?;
                let got = String::from_utf8_lossy(&body);
                if got.trim() == key_authorization {
                    Ok(())
                } else {
                    Err(Failure::new(
                        FailureKind::Unauthorized,
                        format!(
                            "http://{domain}{path} answered {:?}, not the key authorization",
                            shorten(got.trim())
                        ),
                    ))
                }
            }
            Check::HttpFile {
                domain,
                file,
                value,
            } => {
                let path = format!("/.well-known/pki-validation/{file}");
                let body = http::get(self, domain, &path).await?;
                let got = String::from_utf8_lossy(&body);
                if got.split_whitespace().any(|w| w == value) {
                    Ok(())
                } else {
                    Err(Failure::new(
                        FailureKind::Unauthorized,
                        format!("http://{domain}{path} does not contain the random value"),
                    ))
                }
            }
            Check::Dns01 {
                domain,
                key_authorization,
            } => {
                let name = format!("_acme-challenge.{}", normal(domain));
                self.txt_holds(&name, &dns01_digest(key_authorization))
                    .await
            }
            Check::DnsTxt { domain, value } => {
                let name = format!("_validation-shomei.{}", normal(domain));
                self.txt_holds(&name, value).await
            }
            Check::TlsAlpn01 {
                domain,
                key_authorization,
            } => alpn::check(self, domain, key_authorization).await,
            Check::Caa {
                domain,
                wildcard,
                account_uri,
                method,
            } => {
                let (at, records) = self.dns.caa_set(domain).await?;
                caa::permits(
                    &records,
                    &self.config.caa_identities,
                    *wildcard,
                    account_uri.as_deref(),
                    method,
                )
                .map_err(|why| {
                    Failure::new(
                        FailureKind::Caa,
                        format!("the CAA records at {at} do not allow this CA to issue for {domain}: {why}"),
                    )
                })
            }
        }
    }

    async fn txt_holds(&self, name: &str, want: &str) -> Outcome {
        let values = self.dns.txt(name).await?;
        if values.iter().any(|v| v.trim() == want) {
            Ok(())
        } else if values.is_empty() {
            Err(Failure::new(
                FailureKind::Unauthorized,
                format!("no TXT record at {name}"),
            ))
        } else {
            Err(Failure::new(
                FailureKind::Unauthorized,
                format!(
                    "the TXT records at {name} ({}) do not hold the expected value",
                    values.len()
                ),
            ))
        }
    }
}

/// At most 64 characters of what a server said, for a detail.
pub(crate) fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}
