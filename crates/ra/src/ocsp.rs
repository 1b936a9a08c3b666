//! The OCSP responder's logic (BR 4.9.9, 4.9.10): responses are pre-built for every
//! issued certificate (at issuance, at revocation, and by a refresh well before
//! nextUpdate) and served from the store; anything else is signed on demand.
//! Never "good" for a serial that was not issued.

use crate::{Ra, Result, SERVER_CA};
use shomei_ca::ocsp::{self, HashAlg, Query, Status};
use shomei_store::ocsp::CertState;

/// nextUpdate − thisUpdate of a response (BR: between 8 hours and 10 days; we use 4 days).
pub const OCSP_VALIDITY_SECS: i64 = 4 * 86_400;
/// Responses older than this are rebuilt (well before nextUpdate).
pub const OCSP_REFRESH_AFTER_SECS: i64 = 86_400;

impl Ra {
    /// Answers a DER OCSPRequest with a DER OCSPResponse. Never fails: malformed
    /// requests get `malformedRequest`, other issuers `unauthorized`, a failure
    /// `internalError`.
    pub async fn ocsp_answer(&self, request: &[u8]) -> Vec<u8> {
        let Some(responder) = &self.ocsp else {
            return x509_internal_error();
        };
        let (alg, serial) = match responder.parse_request(request) {
            Err(_) => return ocsp::malformed(),
            Ok(Query::NotOurs) => return ocsp::unauthorized(),
            Ok(Query::Ours(alg, serial)) => (alg, hex::encode(serial)),
        };
        match self.ocsp_for(alg, &serial).await {
            Ok(der) => der,
            Err(e) => {
                tracing::error!(serial, "OCSP response failed: {e}");
                x509_internal_error()
            }
        }
    }

    async fn ocsp_for(&self, alg: HashAlg, serial: &str) -> Result<Vec<u8>> {
        let now = self.now();
        if alg == HashAlg::Sha1
            && let Some(der) = self.store.cached_ocsp(SERVER_CA, serial, now).await?
        {
            return Ok(der);
        }
        self.build_ocsp(alg, serial, now).await
    }

    async fn build_ocsp(&self, alg: HashAlg, serial: &str, now: i64) -> Result<Vec<u8>> {
        let responder = self
            .ocsp
            .as_ref()
            .ok_or(crate::RaError::Invalid("err.internal"))?;
        let state = self.store.certificate_state(SERVER_CA, serial).await?;
        let status = match state {
            CertState::Good => Status::Good,
            CertState::Revoked(at, reason) => {
                Status::Revoked(at, u8::try_from(reason).unwrap_or(0))
            }
            CertState::Unknown => Status::Unknown,
        };
        let bytes = hex::decode(serial).map_err(|_| crate::RaError::Invalid("err.internal"))?;
        let der = responder.respond(alg, &bytes, status, now, now + OCSP_VALIDITY_SECS)?;
        // Only responses about issued certificates are kept (SHA-1 CertIDs, what clients send).
        if alg == HashAlg::Sha1 && state != CertState::Unknown {
            self.store
                .save_ocsp(SERVER_CA, serial, now, now + OCSP_VALIDITY_SECS, &der)
                .await?;
        }
        Ok(der)
    }

    /// Pre-builds the responses of these serials now.
    pub async fn prebuild_ocsp(&self, serials: &[String]) -> Result<()> {
        if self.ocsp.is_none() {
            return Ok(());
        }
        let now = self.now();
        for s in serials {
            self.build_ocsp(HashAlg::Sha1, s, now).await?;
        }
        Ok(())
    }

    /// Rebuilds missing or day-old responses, at most `limit` per call. Returns how many.
    pub async fn refresh_ocsp(&self, limit: i64) -> Result<usize> {
        if self.ocsp.is_none() {
            return Ok(0);
        }
        let now = self.now();
        let serials = self
            .store
            .serials_needing_ocsp(SERVER_CA, now, now - OCSP_REFRESH_AFTER_SECS, limit)
            .await?;
        self.prebuild_ocsp(&serials).await?;
        Ok(serials.len())
    }
}

fn x509_internal_error() -> Vec<u8> {
    use der::Encode;
    x509_ocsp::OcspResponse::internal_error()
        .to_der()
        .unwrap_or_default()
}
