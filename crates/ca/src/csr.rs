//! CSR checks (R-S2; CA-RULES "Subscriber keys" and "Names"). Everything here runs
//! before anything a customer submitted is stored.

use crate::CsrError;
use crate::keys::{self, KeyPolicy};
use crate::names::check_dns_name;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

/// The largest CSR accepted, in bytes (issue #2: "CSR over 64 KiB").
pub const MAX_CSR_BYTES: usize = 64 * 1024;

/// The subscriber's key, as far as policy cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA with a modulus of this many bits.
    Rsa(usize),
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
}

impl KeyKind {
    /// A short description: "RSA 2048", "ECDSA P-256".
    pub fn describe(&self) -> String {
        match self {
            KeyKind::Rsa(bits) => format!("RSA {bits}"),
            KeyKind::EcP256 => "ECDSA P-256".into(),
            KeyKind::EcP384 => "ECDSA P-384".into(),
        }
    }
    /// Whether this is an RSA key (KeyUsage then also carries keyEncipherment).
    pub fn is_rsa(&self) -> bool {
        matches!(self, KeyKind::Rsa(_))
    }
}

/// A CSR that passed every check.
#[derive(Debug, Clone)]
pub struct CheckedCsr {
    /// The CSR, DER.
    pub der: Vec<u8>,
    /// The CSR as PEM (normalised).
    pub pem: String,
    /// The subject public key info, DER: what the certificate will carry.
    pub spki_der: Vec<u8>,
    /// SHA-256 of the SPKI in its canonical encoding (the only one accepted), hex: used
    /// to find and block keys.
    pub spki_sha256: String,
    /// The key.
    pub key: KeyKind,
    /// The DNS names, canonical, deduplicated, the Common Name first if present.
    pub names: Vec<String>,
    /// The Common Name, canonical, if the CSR had one.
    pub common_name: Option<String>,
    /// The CSR's subject as text, for display only (never copied into certificates).
    pub subject_text: String,
}

/// Decodes PEM (a `CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST` block) or raw DER.
pub(crate) fn decode(input: &[u8]) -> Result<Vec<u8>, CsrError> {
    if input.len() > MAX_CSR_BYTES {
        return Err(CsrError::TooLarge);
    }
    if input.first() == Some(&0x30) {
        return Ok(input.to_vec());
    }
    let text = std::str::from_utf8(input).map_err(|_| CsrError::NotPemOrDer)?;
    let begin = text.find("-----BEGIN ").ok_or(CsrError::NotPemOrDer)?;
    let block = pem_block(&text[begin..]).ok_or(CsrError::NotPemOrDer)?;
    Ok(block)
}

fn pem_block(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let mut lines = text.lines();
    let first = lines.next()?.trim();
    let label = first.strip_prefix("-----BEGIN ")?.strip_suffix("-----")?;
    if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
        return None;
    }
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    for line in lines {
        let line = line.trim();
        if line == end {
            return base64::engine::general_purpose::STANDARD.decode(body).ok();
        }
        body.push_str(line);
    }
    None
}

/// Parses and checks a CSR (PEM or DER bytes) with the built-in key rules only (no
/// operator weak-key list). The RA uses [`check_csr_with`].
pub fn check_csr(input: &[u8]) -> Result<CheckedCsr, CsrError> {
    check_csr_with(input, &KeyPolicy::default())
}

/// Parses and checks a CSR (PEM or DER bytes) under `policy`.
pub fn check_csr_with(input: &[u8], policy: &KeyPolicy) -> Result<CheckedCsr, CsrError> {
    // 1. Decode and parse.
    let der = decode(input)?;
    let (rest, csr) = X509CertificationRequest::from_der(&der).map_err(|_| CsrError::Malformed)?;
    if !rest.is_empty() {
        return Err(CsrError::Malformed);
    }
    // 2. The key policy (BR 6.1.5, 6.1.6), before the signature: the verifier itself
    //    refuses keys the policy would refuse, with a less helpful error.
    let info = &csr.certification_request_info;
    let spki = &info.subject_pki;
    let (key, spki_der) = check_key(spki, policy)?;
    // 3. The self-signature proves possession of the key.
    csr.verify_signature().map_err(|_| CsrError::BadSignature)?;
    // 4. The names.
    let common_name = match info.subject.iter_common_name().next() {
        Some(cn) => Some(cn.as_str().map_err(|_| CsrError::Malformed)?.to_owned()),
        None => None,
    };
    let mut sans = Vec::new();
    if let Some(exts) = csr.requested_extensions() {
        for ext in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                for gn in &san.general_names {
                    match gn {
                        GeneralName::DNSName(n) => sans.push(check_dns_name(n)?),
                        GeneralName::IPAddress(_) => {
                            return Err(CsrError::IpAddress("IP".into()));
                        }
                        other => return Err(CsrError::InvalidName(other.to_string())),
                    }
                }
            }
        }
    }
    let common_name = match common_name {
        Some(cn) => Some(check_dns_name(&cn)?),
        None => None,
    };
    let mut names = Vec::new();
    if let Some(cn) = &common_name {
        if !sans.is_empty() && !sans.contains(cn) {
            return Err(CsrError::CommonNameNotInNames(cn.clone()));
        }
        names.push(cn.clone());
    }
    for n in sans {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    if names.is_empty() {
        return Err(CsrError::NoNames);
    }
    if names.len() > 100 {
        return Err(CsrError::TooManyNames);
    }
    let spki_sha256 = crate::sha256_hex(&spki_der);
    Ok(CheckedCsr {
        pem: pem_encode("CERTIFICATE REQUEST", &der),
        spki_der,
        spki_sha256,
        key,
        names,
        common_name,
        subject_text: info.subject.to_string(),
        der,
    })
}

fn check_key(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
    policy: &KeyPolicy,
) -> Result<(KeyKind, Vec<u8>), CsrError> {
    let alg = &spki.algorithm.algorithm;
    // Each key is checked in its canonical encoding and must have arrived in it: the same
    // key encoded two ways must never pass as two keys (a blocked key, key-compromise
    // revocation of sibling certificates).
    let (kind, canonical) = if *alg == OID_PKCS1_RSAENCRYPTION {
        let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
            return Err(CsrError::Malformed);
        };
        let bits = keys::check_rsa(rsa.modulus, rsa.exponent, policy)?;
        (
            KeyKind::Rsa(bits),
            keys::canonical_rsa_spki(rsa.modulus, rsa.exponent),
        )
    } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .ok_or(CsrError::Malformed)?;
        let (kind, oid, len) = if curve == OID_EC_P256 {
            (KeyKind::EcP256, keys::OID_P256, 65)
        } else if curve == OID_NIST_EC_P384 {
            (KeyKind::EcP384, keys::OID_P384, 97)
        } else {
            return Err(CsrError::UnsupportedCurve(curve.to_id_string()));
        };
        let point = spki.subject_public_key.data.as_ref();
        if point.len() != len || point.first() != Some(&0x04) {
            // Compressed or hybrid points: one key, several encodings.
            return Err(CsrError::NonCanonicalKey);
        }
        // The point itself is validated by the signature check (ring parses it).
        (kind, keys::canonical_ec_spki(oid, point))
    } else {
        return Err(CsrError::UnsupportedKey(alg.to_id_string()));
    };
    if canonical != spki.raw {
        return Err(CsrError::NonCanonicalKey);
    }
    Ok((kind, canonical))
}

pub use shomei_model::pem_encode;

/// Whether the subject public key info `spki_der` is the key of the JWK `jwk` (JSON):
/// RFC 8555 11.1 forbids a certificate for the ACME account's own key. EC keys compare
/// their points, RSA keys their moduli; anything unparsable is "not the same".
pub fn spki_matches_jwk(spki_der: &[u8], jwk: &str) -> bool {
    use base64::Engine;
    let Ok(jwk) = serde_json::from_str::<serde_json::Value>(jwk) else {
        return false;
    };
    let field = |k: &str| {
        jwk.get(k)
            .and_then(serde_json::Value::as_str)
            .and_then(|s| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(s)
                    .ok()
            })
    };
    let Ok((_, spki)) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der) else {
        return false;
    };
    match spki.parsed() {
        Ok(PublicKey::EC(point)) => match (field("x"), field("y")) {
            (Some(x), Some(y)) => {
                let mut p = vec![0x04];
                p.extend_from_slice(&x);
                p.extend_from_slice(&y);
                point.data() == p.as_slice()
            }
            _ => false,
        },
        Ok(PublicKey::RSA(rsa)) => field("n").is_some_and(|n| {
            let strip =
                |b: &[u8]| -> Vec<u8> { b.iter().skip_while(|x| **x == 0).copied().collect() };
            strip(rsa.modulus) == strip(&n)
        }),
        _ => false,
    }
}
