//! The issuing CA: the only place a subscriber certificate is signed.
//!
//! Signing is in two calls so that the registration authority can store the linted
//! to-be-signed certificate before the real signature exists (docs/issuance-cycle.md):
//! [`IssuingCa::prepare`] builds and lints (step 3), [`IssuingCa::sign`] consumes the
//! token and signs (step 5).
//!
//! The key is a PKCS#8 key file today; a PKCS#11 key plugs in as another
//! `rcgen::SigningKey` behind the same type.

use crate::lint::{self, LintedCert};
use crate::{CaError, ServerOrder, csr::pem_encode};
use rcgen::{Issuer, KeyPair, PublicKeyData, SignatureAlgorithm, SigningKey, SubjectPublicKeyInfo};
use rustls_pki_types::CertificateDer;

/// The URLs written into certificates: they point at the public listener, under the
/// configured public base URL (which must be a public name for real certificates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaUrls {
    /// OCSP responder URL.
    pub ocsp: String,
    /// URL of the issuing CA's certificate (DER).
    pub ca_issuers: String,
    /// URL of the issuing CA's CRL (DER): the CRL of the certificates issued before
    /// CRLs were partitioned.
    pub crl: String,
    /// The partitioned CRLs' URLs: this prefix, the shard number, `.crl`.
    pub crl_shard_prefix: String,
}

impl CaUrls {
    /// The URLs of the CA named `slug` under `base` (e.g. `http://pki.example.jp`).
    pub fn under(base: &str, slug: &str) -> CaUrls {
        let base = base.trim_end_matches('/');
        CaUrls {
            ocsp: format!("{base}/ocsp/{slug}"),
            ca_issuers: format!("{base}/ca/{slug}.crt"),
            crl: format!("{base}/crl/{slug}.crl"),
            crl_shard_prefix: format!("{base}/crl/{slug}/"),
        }
    }

    /// The CRL distribution point of a certificate in `shard` (issue #11: CRLs are
    /// partitioned, each certificate names its shard's CRL); `None`: the undivided CRL
    /// of the certificates issued before partitioning.
    pub fn crl_url(&self, shard: Option<u32>) -> String {
        match shard {
            Some(n) => format!("{}{n}.crl", self.crl_shard_prefix),
            None => self.crl.clone(),
        }
    }
}

/// A signed certificate.
#[derive(Debug, Clone)]
pub struct SignedCert {
    /// DER.
    pub der: Vec<u8>,
    /// PEM.
    pub pem: String,
}

/// An issuing CA with its key.
pub struct IssuingCa {
    cert_der: Vec<u8>,
    ski: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
    lint_issuer: Issuer<'static, LintKey>,
    urls: CaUrls,
}

impl std::fmt::Debug for IssuingCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuingCa")
            .field("urls", &self.urls)
            .finish_non_exhaustive()
    }
}

impl IssuingCa {
    /// Loads a CA from its certificate (PEM) and PKCS#8 key (PEM).
    pub fn from_pem(cert_pem: &str, key_pem: &str, urls: CaUrls) -> Result<IssuingCa, CaError> {
        let cert_der = crate::pki::pem_to_der(cert_pem, "CERTIFICATE")?;
        let key = KeyPair::from_pem(key_pem)?;
        // The lint key: same algorithm, never stored, trusted by no one.
        let lint_key = LintKey::new(key.algorithm())?;
        let der = CertificateDer::from(cert_der.clone());
        let issuer = Issuer::from_ca_cert_der(&der, key)?;
        let lint_issuer = Issuer::from_ca_cert_der(&der, lint_key)?;
        let ski = subject_key_id(&cert_der)?;
        Ok(IssuingCa {
            cert_der,
            ski,
            issuer,
            lint_issuer,
            urls,
        })
    }

    /// The CA's key identifier (its certificates' authorityKeyIdentifier).
    pub fn key_id(&self) -> &[u8] {
        &self.ski
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }
    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.cert_der)
    }
    /// The URLs written into this CA's certificates.
    pub fn urls(&self) -> &CaUrls {
        &self.urls
    }

    /// Step 3: builds the to-be-signed certificate from the profile and lints it.
    pub fn prepare(&self, order: &ServerOrder) -> Result<LintedCert, CaError> {
        let params = crate::profile::server_params(order, &self.urls)?;
        let spki = SubjectPublicKeyInfo::from_der(&order.spki_der)?;
        let lint_cert = params.signed_by(&spki, &self.lint_issuer)?;
        let lint_der = lint_cert.der().to_vec();
        lint::lint_server_cert(&lint_der, order, &self.urls)?;
        let tbs = lint::tbs_of(&lint_der)?;
        Ok(LintedCert {
            params,
            spki,
            tbs,
            serial: order.serial,
            lint_der,
        })
    }

    /// Step 5: signs what was linted, and checks the signed TBS is byte-identical.
    pub fn sign(&self, token: LintedCert) -> Result<SignedCert, CaError> {
        let cert = token.params.signed_by(&token.spki, &self.issuer)?;
        let der = cert.der().to_vec();
        if lint::tbs_of(&der)? != token.tbs {
            return Err(CaError::TbsMismatch);
        }
        // The signature must verify under the CA certificate's key: a key that does not
        // match its certificate never hands out a certificate no one can verify.
        verify_signed_by(&der, &self.cert_der)?;
        Ok(SignedCert {
            pem: pem_encode("CERTIFICATE", &der),
            der,
        })
    }
}

/// What the lint's certificate is "signed" with: a throwaway public key of the CA key's
/// algorithm and one signature of that key, made once and put on every lint
/// certificate. The lint reads the to-be-signed part and the signature's algorithm and
/// shape, never whether the signature verifies, and that certificate goes nowhere (it
/// names a key no one trusts): an ECDSA signature computed for each of them bought
/// nothing and cost ~25 µs a certificate on the CPU pool (issue #11 item 4).
struct LintKey {
    public: Vec<u8>,
    algorithm: &'static SignatureAlgorithm,
    signature: Vec<u8>,
}

impl LintKey {
    fn new(algorithm: &'static SignatureAlgorithm) -> Result<LintKey, CaError> {
        let key = KeyPair::generate_for(algorithm)?;
        Ok(LintKey {
            public: key.der_bytes().to_vec(),
            algorithm: key.algorithm(),
            signature: key.sign(b"shomei lint")?,
        })
    }
}

impl PublicKeyData for LintKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

impl SigningKey for LintKey {
    fn sign(&self, _msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.signature.clone())
    }
}

/// Checks that `der` (a certificate) is signed by the key of the CA certificate `ca_der`.
fn verify_signed_by(der: &[u8], ca_der: &[u8]) -> Result<(), CaError> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| CaError::Parse(e.to_string()))?;
    let (_, ca) = X509Certificate::from_der(ca_der).map_err(|e| CaError::Parse(e.to_string()))?;
    cert.verify_signature(Some(ca.public_key()))
        .map_err(|_| CaError::SignatureCheck)
}

pub(crate) fn subject_key_id(der: &[u8]) -> Result<Vec<u8>, CaError> {
    use x509_parser::extensions::ParsedExtension;
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, c) = X509Certificate::from_der(der).map_err(|e| CaError::Parse(e.to_string()))?;
    c.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .ok_or_else(|| CaError::Parse("CA certificate has no subjectKeyIdentifier".into()))
}

/// One revoked certificate for a CRL.
#[derive(Debug, Clone)]
pub struct CrlEntry {
    /// Serial, big-endian bytes.
    pub serial: Vec<u8>,
    /// Revocation time.
    pub revoked_at: time::OffsetDateTime,
    /// RFC 5280 CRLReason; 0 (unspecified) is written without the extension
    /// (BR 7.2.2), 6 (certificateHold) is never accepted.
    pub reason: u8,
}

impl IssuingCa {
    /// Signs a CRL (v2, AKI, CRL number; BR 7.2.2). Reasons other than those the BR
    /// allow for TLS CRLs are refused. A partitioned CRL names its URL (the CRL
    /// distribution point of the certificates it covers) in an issuingDistributionPoint
    /// with onlyContainsUserCerts (RFC 5280 5.2.5, BR 7.2.2.1).
    pub fn crl(
        &self,
        number: u64,
        this_update: time::OffsetDateTime,
        next_update: time::OffsetDateTime,
        entries: &[CrlEntry],
        partition: Option<&str>,
    ) -> Result<Vec<u8>, CaError> {
        sign_crl(
            &self.issuer,
            &self.ski,
            number,
            this_update,
            next_update,
            entries,
            partition,
        )
    }
}

/// Signs a full v2 CRL with AKI and CRL number for `issuer` (whose key identifier is
/// `ski`). Reasons other than those the BR allow for TLS CRLs are refused.
pub(crate) fn sign_crl(
    issuer: &Issuer<'static, KeyPair>,
    ski: &[u8],
    number: u64,
    this_update: time::OffsetDateTime,
    next_update: time::OffsetDateTime,
    entries: &[CrlEntry],
    partition: Option<&str>,
) -> Result<Vec<u8>, CaError> {
    use rcgen::{
        CertificateRevocationListParams, CrlDistributionPoint, CrlIssuingDistributionPoint,
        CrlScope, KeyIdMethod, RevocationReason as R, RevokedCertParams, SerialNumber,
    };
    let revoked_certs = entries
        .iter()
        .map(|e| {
            let reason = match e.reason {
                0 => None,
                1 => Some(R::KeyCompromise),
                3 => Some(R::AffiliationChanged),
                4 => Some(R::Superseded),
                5 => Some(R::CessationOfOperation),
                9 => Some(R::PrivilegeWithdrawn),
                other => {
                    return Err(CaError::Parse(format!(
                        "CRL reason {other} not allowed in a TLS CRL"
                    )));
                }
            };
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&e.serial),
                revocation_time: e.revoked_at,
                reason_code: reason,
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, CaError>>()?;
    let params = CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: partition.map(|url| CrlIssuingDistributionPoint {
            distribution_point: CrlDistributionPoint {
                uris: vec![url.to_owned()],
            },
            scope: Some(CrlScope::UserCertsOnly),
        }),
        revoked_certs,
        key_identifier_method: KeyIdMethod::PreSpecified(ski.to_vec()),
    };
    Ok(params.signed_by(issuer)?.der().to_vec())
}
