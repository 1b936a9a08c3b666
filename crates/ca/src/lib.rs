//! Shomei's signing CA, pure: CSR checks, certificate profiles, lint-then-sign with a
//! one-shot token, PKCS#12 for login certificates, and the development PKI.
//!
//! Non-features: no database, no HTTP, no clock of its own (time is an argument).
//! The registration authority (`shomei-ra`) is the only caller of [`IssuingCa::sign`].
//! The numbered issuance steps are in `docs/issuance-cycle.md`.
#![deny(missing_docs)]

pub mod client;
pub mod csr;
pub mod facts;
pub mod keys;
pub mod lint;
pub mod names;
pub mod ocsp;
pub mod p12;
pub mod pki;
pub mod profile;
pub mod serial;
pub mod signer;

pub use csr::{CheckedCsr, KeyKind, check_csr, check_csr_with};
pub use keys::{KeyPolicy, WeakKeyList};
pub use lint::{LintError, LintedCert};
pub use profile::{BusinessCategory, EvSubject, OrgSubject, ServerOrder};
pub use serial::Serial;
pub use signer::{CaUrls, CrlEntry, IssuingCa, SignedCert};

use thiserror::Error;

/// Why a CSR was refused. Each variant has a message key for the web layer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CsrError {
    /// Larger than [`csr::MAX_CSR_BYTES`].
    #[error("CSR larger than 64 KiB")]
    TooLarge,
    /// Neither a PEM CSR block nor DER.
    #[error("not a PEM or DER CSR")]
    NotPemOrDer,
    /// The structure does not parse.
    #[error("malformed CSR")]
    Malformed,
    /// The self-signature does not verify.
    #[error("CSR signature invalid")]
    BadSignature,
    /// RSA modulus under 2048 bits.
    #[error("RSA key of {0} bits is too small")]
    RsaTooSmall(usize),
    /// RSA modulus over 8192 bits.
    #[error("RSA key of {0} bits is too large")]
    RsaTooLarge(usize),
    /// RSA modulus size not divisible by 8.
    #[error("RSA key of {0} bits is not a multiple of 8")]
    RsaNotMultipleOf8(usize),
    /// RSA exponent even, below 65537 or above 2^256 (BR 6.1.6).
    #[error("RSA public exponent {0} not allowed")]
    RsaBadExponent(String),
    /// The RSA modulus has a small prime factor (an even modulus included).
    #[error("RSA modulus divisible by {0}")]
    WeakKeySmallFactor(u32),
    /// The ROCA fingerprint (CVE-2017-15361).
    #[error("ROCA-vulnerable RSA key")]
    WeakKeyRoca,
    /// Fermat's method factors the modulus within [`keys::FERMAT_ROUNDS`] rounds.
    #[error("RSA primes too close (Fermat)")]
    WeakKeyFermat,
    /// On the operator's Debian weak-key list (CVE-2008-0166).
    #[error("Debian weak key")]
    WeakKeyDebian,
    /// The public key is not in its canonical DER encoding.
    #[error("non-canonical public key encoding")]
    NonCanonicalKey,
    /// A key reported compromised: it is blocked.
    #[error("blocked key")]
    BlockedKey,
    /// An elliptic curve other than P-256 and P-384.
    #[error("unsupported curve {0}")]
    UnsupportedCurve(String),
    /// A key algorithm other than RSA and ECDSA.
    #[error("unsupported key algorithm {0}")]
    UnsupportedKey(String),
    /// No DNS name at all.
    #[error("no DNS name")]
    NoNames,
    /// More than 100 names.
    #[error("too many names")]
    TooManyNames,
    /// An IP address.
    #[error("IP address {0} not allowed")]
    IpAddress(String),
    /// A name with one label only.
    #[error("single-label name {0}")]
    SingleLabel(String),
    /// A name outside the public DNS.
    #[error("internal name {0}")]
    InternalName(String),
    /// A public suffix itself.
    #[error("public suffix {0}")]
    PublicSuffix(String),
    /// Not a valid LDH host name.
    #[error("invalid DNS name {0}")]
    InvalidName(String),
    /// A label with `--` in positions 3–4 that is not an `xn--` label (RFC 5890 2.3.1).
    #[error("reserved LDH label in {0}")]
    ReservedLabel(String),
    /// An `xn--` label that is not the A-label of a valid IDNA2008 U-label.
    #[error("invalid internationalised label in {0}")]
    InvalidIdn(String),
    /// A name with non-ASCII characters.
    #[error("non-ASCII name {0}")]
    NotAscii(String),
    /// The Common Name is not among the subject alternative names.
    #[error("Common Name {0} not among the names")]
    CommonNameNotInNames(String),
}

impl CsrError {
    /// The message key for the web layer.
    pub fn key(&self) -> &'static str {
        match self {
            CsrError::TooLarge => "csr.too_large",
            CsrError::NotPemOrDer => "csr.not_pem",
            CsrError::Malformed => "csr.malformed",
            CsrError::BadSignature => "csr.bad_signature",
            CsrError::RsaTooSmall(_) => "csr.rsa_small",
            CsrError::RsaTooLarge(_) => "csr.rsa_large",
            CsrError::RsaNotMultipleOf8(_) => "csr.rsa_mult8",
            CsrError::RsaBadExponent(_) => "csr.rsa_exponent",
            CsrError::WeakKeySmallFactor(_) => "csr.weak_small_factor",
            CsrError::WeakKeyRoca => "csr.weak_roca",
            CsrError::WeakKeyFermat => "csr.weak_fermat",
            CsrError::WeakKeyDebian => "csr.weak_debian",
            CsrError::NonCanonicalKey => "csr.non_canonical_key",
            CsrError::BlockedKey => "csr.blocked_key",
            CsrError::UnsupportedCurve(_) => "csr.curve",
            CsrError::UnsupportedKey(_) => "csr.key_alg",
            CsrError::NoNames => "csr.no_names",
            CsrError::TooManyNames => "csr.too_many_names",
            CsrError::IpAddress(_) => "csr.ip",
            CsrError::SingleLabel(_) => "csr.single_label",
            CsrError::InternalName(_) => "csr.internal",
            CsrError::PublicSuffix(_) => "csr.public_suffix",
            CsrError::InvalidName(_) => "csr.invalid_name",
            CsrError::ReservedLabel(_) => "csr.reserved_label",
            CsrError::InvalidIdn(_) => "csr.invalid_idn",
            CsrError::NotAscii(_) => "csr.not_ascii",
            CsrError::CommonNameNotInNames(_) => "csr.cn_not_in_names",
        }
    }
    /// The name or number the message is about, if any.
    pub fn detail(&self) -> Option<String> {
        match self {
            CsrError::RsaTooSmall(b)
            | CsrError::RsaTooLarge(b)
            | CsrError::RsaNotMultipleOf8(b) => Some(b.to_string()),
            CsrError::WeakKeySmallFactor(p) => Some(p.to_string()),
            CsrError::UnsupportedCurve(s)
            | CsrError::UnsupportedKey(s)
            | CsrError::IpAddress(s)
            | CsrError::SingleLabel(s)
            | CsrError::InternalName(s)
            | CsrError::PublicSuffix(s)
            | CsrError::InvalidName(s)
            | CsrError::ReservedLabel(s)
            | CsrError::InvalidIdn(s)
            | CsrError::RsaBadExponent(s)
            | CsrError::NotAscii(s)
            | CsrError::CommonNameNotInNames(s) => Some(s.clone()),
            _ => None,
        }
    }
}

/// Errors of the CA itself (keys, encoding, signing). Never shown to customers.
#[derive(Debug, Error)]
pub enum CaError {
    /// rcgen refused to build or sign.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A DER encoding failed.
    #[error("DER encoding: {0}")]
    Der(#[from] der::Error),
    /// A certificate or key did not parse.
    #[error("parse: {0}")]
    Parse(String),
    /// The to-be-signed certificate failed the profile lint; nothing was signed.
    #[error("lint failed: {0}")]
    Lint(#[from] LintError),
    /// The signature does not verify under the CA certificate's key (wrong key).
    #[error("the signature does not verify under the CA certificate's key")]
    SignatureCheck,
    /// The signed certificate differs from what was linted.
    #[error("signed certificate differs from the linted one")]
    TbsMismatch,
    /// The operating system's random number generator failed.
    #[error("random: {0}")]
    Random(String),
    /// PKCS#12 encoding failed.
    #[error("PKCS#12: {0}")]
    Pkcs12(String),
    /// The contract or cap leaves no validity.
    #[error("no validity left")]
    NoValidity,
}

/// A certs-only PKCS#7 (CMS SignedData, RFC 5652) of `chain_der` (leaf first): what
/// IIS and Windows import as `.p7b` (R-D1).
pub fn pkcs7(chain_der: &[Vec<u8>]) -> Result<Vec<u8>, CaError> {
    use der::{Decode, Encode};
    let certs = chain_der
        .iter()
        .map(|d| x509_cert::Certificate::from_der(d))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cms::content_info::ContentInfo::try_from(certs)?.to_der()?)
}

/// SHA-256 of `data`, lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CaError> {
    getrandom::fill(buf).map_err(|e| CaError::Random(e.to_string()))
}
