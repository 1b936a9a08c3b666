//! Login client certificates for customers (R-L1) and staff. Unlike TLS subscriber
//! keys, these keys are made by the CA: the customer receives a PKCS#12 file.

use crate::pki::ClientCa;
use crate::{CaError, Serial, csr::pem_encode};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// A freshly issued client certificate with its key.
#[derive(Debug)]
pub struct ClientCert {
    /// Serial, hex: recorded on the account as the binding (R-L2).
    pub serial_hex: String,
    /// Subject DN as text: recorded on the account as the binding (R-L2).
    pub subject: String,
    /// SHA-256 of the DER certificate, hex.
    pub fingerprint: String,
    /// Certificate DER.
    pub cert_der: Vec<u8>,
    /// Certificate PEM.
    pub cert_pem: String,
    /// PKCS#8 key DER. Secret.
    pub key_der: Vec<u8>,
    /// PKCS#8 key PEM. Secret.
    pub key_pem: String,
    /// notAfter.
    pub not_after: OffsetDateTime,
}

/// Issues a client certificate with subject `CN=cn, O=org` valid for `days`.
pub fn issue_client_cert(
    ca: &ClientCa,
    cn: &str,
    org: &str,
    now: OffsetDateTime,
    days: i64,
) -> Result<ClientCert, CaError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let serial = Serial::random()?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, DnValue::Utf8String(org.into()));
    dn.push(DnType::CommonName, DnValue::Utf8String(cn.into()));
    p.distinguished_name = dn;
    p.serial_number = Some(SerialNumber::from_slice(serial.bytes()));
    p.not_before = now - Duration::minutes(5);
    p.not_after = now + Duration::days(days);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.use_authority_key_identifier_extension = true;
    let cert = p.signed_by(&key, &ca.issuer)?;
    let der = cert.der().to_vec();
    let subject = crate::client::subject_of(&der)?;
    Ok(ClientCert {
        serial_hex: serial.hex(),
        subject,
        fingerprint: crate::sha256_hex(&der),
        cert_pem: pem_encode("CERTIFICATE", &der),
        cert_der: der,
        key_der: key.serialize_der(),
        key_pem: key.serialize_pem(),
        not_after: p.not_after,
    })
}

/// The facts of a presented client certificate that bind it to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedCert {
    /// Serial, lower-case hex without leading zero bytes padding.
    pub serial_hex: String,
    /// Subject DN as text.
    pub subject: String,
    /// Issuer DN as text.
    pub issuer: String,
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
}

/// Reads the binding facts from a DER certificate presented over TLS.
pub fn presented(der: &[u8]) -> Result<PresentedCert, CaError> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, c) = X509Certificate::from_der(der).map_err(|e| CaError::Parse(e.to_string()))?;
    Ok(PresentedCert {
        serial_hex: hex::encode(c.tbs_certificate.raw_serial()),
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        fingerprint: crate::sha256_hex(der),
    })
}

pub(crate) fn subject_of(der: &[u8]) -> Result<String, CaError> {
    presented(der).map(|p| p.subject)
}

/// Builds the PKCS#12 file of a client certificate with the CA chain.
pub fn client_p12(
    ca: &ClientCa,
    cert: &ClientCert,
    password: &str,
    name: &str,
) -> Result<Vec<u8>, CaError> {
    let mut chain = vec![cert.cert_der.clone(), ca.cert_der.clone()];
    chain.extend(ca.chain_der.iter().cloned());
    crate::p12::pkcs12(&cert.key_der, &chain, password, name)
}
