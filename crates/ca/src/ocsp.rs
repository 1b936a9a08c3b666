//! OCSP (RFC 6960; BR 4.9.9, 4.9.10): responses signed by the delegated responder
//! certificate (EKU OCSPSigning, id-pkix-ocsp-nocheck), which is included in each
//! response. Never "good" for a serial that was not issued.

use crate::CaError;
use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use rcgen::{KeyPair, SigningKey};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};

const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// What the store knows about a serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Issued, not revoked.
    Good,
    /// Revoked at (Unix seconds) with an RFC 5280 reason (0 = unspecified: no reason).
    Revoked(i64, u8),
    /// Never issued by this CA.
    Unknown,
}

/// The hash of a CertID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-1 (what most clients send).
    Sha1,
    /// SHA-256.
    Sha256,
}

/// A parsed single request: which hash, and which serial, if it names our issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// A serial of our issuer, with the CertID hash used.
    Ours(HashAlg, Vec<u8>),
    /// Another issuer: answer `unauthorized`.
    NotOurs,
}

/// Why a request could not be answered normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// Not a DER OCSPRequest, or not exactly one request in it.
    Malformed,
}

/// The delegated OCSP responder of one issuing CA.
pub struct OcspResponder {
    signer_der: Vec<u8>,
    key: KeyPair,
    responder_key_hash: Vec<u8>,
    issuer_hashes: [(HashAlg, Vec<u8>, Vec<u8>); 2],
}

impl std::fmt::Debug for OcspResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspResponder").finish_non_exhaustive()
    }
}

fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    let a = match alg {
        HashAlg::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        HashAlg::Sha256 => &ring::digest::SHA256,
    };
    ring::digest::digest(a, data).as_ref().to_vec()
}

fn parse_cert(der: &[u8]) -> Result<Certificate, CaError> {
    Certificate::from_der(der).map_err(|e| CaError::Parse(e.to_string()))
}

impl OcspResponder {
    /// The responder for the CA `issuer_cert_pem`, signing with the delegated
    /// responder certificate and PKCS#8 key.
    pub fn from_pem(
        issuer_cert_pem: &str,
        signer_cert_pem: &str,
        signer_key_pem: &str,
    ) -> Result<OcspResponder, CaError> {
        let issuer = parse_cert(&crate::pki::pem_to_der(issuer_cert_pem, "CERTIFICATE")?)?;
        let signer_der = crate::pki::pem_to_der(signer_cert_pem, "CERTIFICATE")?;
        let signer = parse_cert(&signer_der)?;
        let key = KeyPair::from_pem(signer_key_pem)?;
        if key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err(CaError::Parse(
                "the OCSP signing key must be ECDSA P-256".into(),
            ));
        }
        let name = issuer.tbs_certificate.subject.to_der()?;
        let issuer_key = issuer
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        let signer_key = signer
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        Ok(OcspResponder {
            responder_key_hash: digest(HashAlg::Sha1, signer_key),
            issuer_hashes: [
                (
                    HashAlg::Sha1,
                    digest(HashAlg::Sha1, &name),
                    digest(HashAlg::Sha1, issuer_key),
                ),
                (
                    HashAlg::Sha256,
                    digest(HashAlg::Sha256, &name),
                    digest(HashAlg::Sha256, issuer_key),
                ),
            ],
            signer_der,
            key,
        })
    }

    /// Parses a DER OCSPRequest with exactly one request.
    pub fn parse_request(&self, der: &[u8]) -> Result<Query, RequestError> {
        let req = OcspRequest::from_der(der).map_err(|_| RequestError::Malformed)?;
        let [one] = req.tbs_request.request_list.as_slice() else {
            return Err(RequestError::Malformed);
        };
        let id = &one.req_cert;
        let alg = if id.hash_algorithm.oid == SHA1 {
            HashAlg::Sha1
        } else if id.hash_algorithm.oid == SHA256 {
            HashAlg::Sha256
        } else {
            return Ok(Query::NotOurs);
        };
        let ours = self.issuer_hashes.iter().any(|(a, n, k)| {
            *a == alg
                && id.issuer_name_hash.as_bytes() == n.as_slice()
                && id.issuer_key_hash.as_bytes() == k.as_slice()
        });
        if !ours {
            return Ok(Query::NotOurs);
        }
        Ok(Query::Ours(alg, id.serial_number.as_bytes().to_vec()))
    }

    /// A signed response for one serial. `this_update`/`next_update` in Unix seconds.
    pub fn respond(
        &self,
        alg: HashAlg,
        serial: &[u8],
        status: Status,
        this_update: i64,
        next_update: i64,
    ) -> Result<Vec<u8>, CaError> {
        let (_, name_hash, key_hash) = self
            .issuer_hashes
            .iter()
            .find(|(a, _, _)| *a == alg)
            .ok_or_else(|| CaError::Parse("hash".into()))?;
        let oid = match alg {
            HashAlg::Sha1 => SHA1,
            HashAlg::Sha256 => SHA256,
        };
        let cert_id = CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid,
                parameters: Some(Null.into()),
            },
            issuer_name_hash: OctetString::new(name_hash.clone())?,
            issuer_key_hash: OctetString::new(key_hash.clone())?,
            serial_number: SerialNumber::new(serial)?,
        };
        let cert_status = match status {
            Status::Good => CertStatus::good(),
            Status::Unknown => CertStatus::unknown(),
            Status::Revoked(at, reason) => CertStatus::Revoked(RevokedInfo {
                revocation_time: gt(at)?,
                revocation_reason: match reason {
                    0 => None,
                    1 => Some(x509_cert::ext::pkix::crl::CrlReason::KeyCompromise),
                    3 => Some(x509_cert::ext::pkix::crl::CrlReason::AffiliationChanged),
                    4 => Some(x509_cert::ext::pkix::crl::CrlReason::Superseded),
                    5 => Some(x509_cert::ext::pkix::crl::CrlReason::CessationOfOperation),
                    9 => Some(x509_cert::ext::pkix::crl::CrlReason::PrivilegeWithdrawn),
                    other => return Err(CaError::Parse(format!("reason {other} not allowed"))),
                },
            }),
        };
        let data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(OctetString::new(self.responder_key_hash.clone())?),
            produced_at: gt(this_update)?,
            responses: vec![SingleResponse {
                cert_id,
                cert_status,
                this_update: gt(this_update)?,
                next_update: Some(gt(next_update)?),
                single_extensions: None,
            }],
            response_extensions: None,
        };
        let tbs = data.to_der()?;
        let sig = self.key.sign(&tbs)?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ECDSA_SHA256,
                parameters: None,
            },
            signature: BitString::from_bytes(&sig)?,
            certs: Some(vec![parse_cert(&self.signer_der)?]),
        };
        Ok(OcspResponse::successful(basic)?.to_der()?)
    }
}

fn gt(unix: i64) -> Result<OcspGeneralizedTime, CaError> {
    let secs = u64::try_from(unix).map_err(|_| CaError::Parse("time before 1970".into()))?;
    let t = GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))?;
    Ok(OcspGeneralizedTime(t))
}

/// A fixed response for a malformed request.
pub fn malformed() -> Vec<u8> {
    OcspResponse::malformed_request()
        .to_der()
        .unwrap_or_default()
}

/// A fixed response for a request about another issuer.
pub fn unauthorized() -> Vec<u8> {
    OcspResponse::unauthorized().to_der().unwrap_or_default()
}

/// A DER OCSPRequest for one serial of the CA whose certificate is `issuer_der`, with a
/// SHA-1 or SHA-256 CertID (for clients, tests and benchmarks).
pub fn request(issuer_der: &[u8], serial: &[u8], alg: HashAlg) -> Result<Vec<u8>, CaError> {
    let issuer = parse_cert(issuer_der)?;
    let name = issuer.tbs_certificate.subject.to_der()?;
    let key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let oid = match alg {
        HashAlg::Sha1 => SHA1,
        HashAlg::Sha256 => SHA256,
    };
    let req = OcspRequest {
        tbs_request: x509_ocsp::TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![x509_ocsp::Request {
                req_cert: CertId {
                    hash_algorithm: AlgorithmIdentifierOwned {
                        oid,
                        parameters: Some(Null.into()),
                    },
                    issuer_name_hash: OctetString::new(digest(alg, &name))?,
                    issuer_key_hash: OctetString::new(digest(alg, key))?,
                    serial_number: SerialNumber::new(serial)?,
                },
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    };
    Ok(req.to_der()?)
}
