//! revokeCert (issue #10, RFC 8555 7.6): a certificate this CA issued, revoked by the
//! ACME account that ordered it or by a request signed with its key.

use crate::Ra;
use crate::acme_orders::{Acme, AcmeError, AcmeRefusal, refuse};
use shomei_model::Actor;
use shomei_store::acme::AcmeAccount;

/// Who signed a revokeCert request (RFC 8555 7.6).
#[derive(Debug, Clone)]
pub enum RevokeSigner<'a> {
    /// An ACME account (`kid`): it may revoke the certificates it ordered.
    Account(&'a AcmeAccount),
    /// The certificate's own key (`jwk`, JSON).
    CertificateKey(&'a str),
}

/// The revocation reasons a subscriber may give (BR 7.2.2, 4.9.1.1): unspecified,
/// keyCompromise, affiliationChanged, superseded, cessationOfOperation.
pub const SUBSCRIBER_REASONS: &[i64] = &[0, 1, 3, 4, 5];

impl Ra {
    /// revokeCert (RFC 8555 7.6): a certificate this CA issued, revoked by the account
    /// that ordered it or by a request signed with its key, with a reason subscribers
    /// may give; keyCompromise blocks the key everywhere. The CRL and OCSP follow at once.
    pub async fn acme_revoke(
        &self,
        signer: RevokeSigner<'_>,
        cert_der: &[u8],
        reason: Option<i64>,
    ) -> Acme<Vec<String>> {
        use x509_parser::prelude::FromDer;
        let reason = reason.unwrap_or(0);
        if !SUBSCRIBER_REASONS.contains(&reason) {
            refuse!(
                AcmeError::BadRevocationReason,
                "reason {reason} is not one a subscriber may give; use 0 (unspecified), 1 (keyCompromise), 3 (affiliationChanged), 4 (superseded) or 5 (cessationOfOperation)"
            );
        }
        let Ok((_, cert)) = x509_parser::certificate::X509Certificate::from_der(cert_der) else {
            refuse!(AcmeError::Malformed, "certificate is not a DER certificate");
        };
        let serial = hex::encode(cert.raw_serial());
        let found = self
            .store
            .issued_by_serial(crate::SERVER_CA, &serial)
            .await?
            .filter(|(c, _)| c.der.as_deref() == Some(cert_der));
        let Some((record, revoked_at)) = found else {
            refuse!(
                AcmeError::NotFound,
                "this CA did not issue that certificate"
            );
        };
        let (allowed, actor) = match signer {
            RevokeSigner::Account(acct) => (
                self.store.acme_orderer(record.application_id).await? == Some(acct.id),
                Actor::Acme(acct.id),
            ),
            RevokeSigner::CertificateKey(jwk) => (
                shomei_ca::csr::spki_matches_jwk(cert.tbs_certificate.subject_pki.raw, jwk),
                Actor::Anonymous,
            ),
        };
        if !allowed {
            refuse!(
                AcmeError::Unauthorized,
                "only the ACME account that ordered a certificate, or its key, may revoke it here; other certificates are revoked from the customer portal"
            );
        }
        if revoked_at.is_some() {
            refuse!(
                AcmeError::AlreadyRevoked,
                "the certificate is already revoked"
            );
        }
        let Some(serials) = self
            .store
            .revoke_certificate(record.id, reason, reason == 1, actor, self.now())
            .await?
        else {
            refuse!(
                AcmeError::AlreadyRevoked,
                "the certificate is already revoked"
            );
        };
        self.refresh_crl().await?;
        self.prebuild_ocsp(&serials).await?;
        Ok(Ok(serials))
    }
}
