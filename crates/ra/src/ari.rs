//! ACME Renewal Information (RFC 9773; issue #10): the window in which a client should
//! renew each certificate of the issuing CA — the last third of its life, or at once
//! when it was revoked or staff pulled its window in (the tool for a mass revocation).

use crate::{Ra, Result, SERVER_CA};
use base64::Engine;
use shomei_model::Actor;

/// A suggested renewal window, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewalWindow {
    /// Renew from.
    pub start: i64,
    /// Renew by.
    pub end: i64,
}

/// Why a certificate identifier was not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AriRefusal {
    /// Not `base64url(AKI) "." base64url(serial)`.
    Malformed,
    /// Not a certificate of this CA.
    Unknown,
}

impl Ra {
    /// The renewal window of the certificate `cert_id` (RFC 9773 4.1: the issuer's key
    /// identifier and the serial, each base64url).
    pub async fn renewal_info(
        &self,
        cert_id: &str,
    ) -> Result<std::result::Result<RenewalWindow, AriRefusal>> {
        let (cert, revoked_at) = match self.certificate_of_ari_id(cert_id).await? {
            Ok(c) => c,
            Err(r) => return Ok(Err(r)),
        };
        let now = self.now();
        if revoked_at.is_some()
            || self
                .store
                .ari_pulled_in(cert.application_id, cert.not_before)
                .await?
        {
            // Renew at once: a window that has already begun and ended.
            return Ok(Ok(RenewalWindow {
                start: now - 3600,
                end: now - 60,
            }));
        }
        let life = cert.not_after - cert.not_before;
        Ok(Ok(RenewalWindow {
            start: cert.not_after - life / 3,
            end: cert.not_after - life / 6,
        }))
    }

    /// The issued certificate an RFC 9773 certificate identifier names (and when it was
    /// revoked, if it was).
    pub async fn certificate_of_ari_id(
        &self,
        cert_id: &str,
    ) -> Result<std::result::Result<(shomei_store::CertificateRecord, Option<i64>), AriRefusal>>
    {
        let b64 = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .ok()
        };
        let Some((aki, serial)) = cert_id
            .split_once('.')
            .and_then(|(a, s)| Some((b64(a)?, b64(s)?)))
            .filter(|(a, s)| !a.is_empty() && !s.is_empty() && s.len() <= 20)
        else {
            return Ok(Err(AriRefusal::Malformed));
        };
        if aki != self.server_ca.key_id() {
            return Ok(Err(AriRefusal::Unknown));
        }
        Ok(self
            .store
            .issued_by_serial(SERVER_CA, &hex::encode(serial))
            .await?
            .ok_or(AriRefusal::Unknown))
    }

    /// Staff (or the operator) pull the renewal window of every certificate issued so
    /// far into the past: of the contract with `code`, or of all (`None`). False if no
    /// contract has that code.
    pub async fn ari_pull_in(&self, code: Option<&str>, actor: Actor) -> Result<bool> {
        Ok(self.store.ari_pull_in(code, actor, self.now()).await?)
    }
}
