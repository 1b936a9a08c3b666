//! tls-alpn-01 (RFC 8737, BR 3.2.2.4.20): a TLS handshake with the domain as SNI and
//! `acme-tls/1` as the only ALPN protocol; the server's certificate must name exactly
//! the domain and carry the critical acmeIdentifier extension holding SHA-256 of the
//! key authorization. The certificate is not chained to anything (that is the point of
//! the method), but the handshake's signature is verified with its key (TLS 1.3; with
//! TLS 1.2 the certificate must also parse for webpki).

use crate::{Failure, FailureKind, Validator};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature_with_raw_key};
use rustls_pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

/// id-pe-acmeIdentifier (RFC 8737 3).
const ACME_IDENTIFIER: &str = "1.3.6.1.5.5.7.1.31";
const ACME_TLS_1: &[u8] = b"acme-tls/1";

#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The certificate's own key, taken without webpki's certificate parsing (which
        // refuses the critical acmeIdentifier extension).
        let (_, parsed) = X509Certificate::from_der(cert.as_ref()).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        let spki = SubjectPublicKeyInfoDer::from(parsed.tbs_certificate.subject_pki.raw);
        verify_tls13_signature_with_raw_key(
            message,
            &spki,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS handshake on `stream` with `host` as SNI, offering `alpn`.
pub(crate) async fn handshake(
    stream: TcpStream,
    host: &str,
    alpn: &[&[u8]],
) -> Result<TlsStream<TcpStream>, Failure> {
    let tls_failure = |e: &dyn std::fmt::Display| {
        Failure::new(FailureKind::Tls, format!("TLS with {host} failed: {e}"))
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_failure(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = ServerName::try_from(host.to_owned()).map_err(|e| tls_failure(&e))?;
    TlsConnector::from(Arc::new(cfg))
        .connect(name, stream)
        .await
        .map_err(|e| tls_failure(&e))
}

pub(crate) async fn check(
    v: &Validator,
    domain: &str,
    key_authorization: &str,
) -> Result<(), Failure> {
    let host = crate::normal(domain);
    let stream = crate::http::connect(v, &host, v.config.tls_port).await?;
    let tls = handshake(stream, &host, &[ACME_TLS_1]).await?;
    let (_, conn) = tls.get_ref();
    if conn.alpn_protocol() != Some(ACME_TLS_1) {
        return Err(Failure::new(
            FailureKind::Tls,
            format!("{host} did not negotiate the acme-tls/1 protocol"),
        ));
    }
    let cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| Failure::new(FailureKind::Tls, format!("{host} sent no certificate")))?;
    certificate_proves(cert.as_ref(), &host, key_authorization)
}

/// Whether the validation certificate names exactly `host` and carries the critical
/// acmeIdentifier with SHA-256 of the key authorization (RFC 8737 3).
pub(crate) fn certificate_proves(
    der: &[u8],
    host: &str,
    key_authorization: &str,
) -> Result<(), Failure> {
    let bad = |why: String| Failure::new(FailureKind::Unauthorized, why);
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|_| bad(format!("{host} sent a certificate that does not parse")))?;
    let mut names = Vec::new();
    let mut identifier = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for n in &san.general_names {
                    names.push(match n {
                        GeneralName::DNSName(d) => d.to_ascii_lowercase(),
                        other => format!("{other:?}"),
                    });
                }
            }
            _ if ext.oid.to_id_string() == ACME_IDENTIFIER => {
                identifier = Some((ext.critical, ext.value.to_vec()));
            }
            _ => {}
        }
    }
    if names != [host] {
        return Err(bad(format!(
            "the tls-alpn-01 certificate of {host} must name exactly {host}, not {names:?}"
        )));
    }
    let Some((critical, value)) = identifier else {
        return Err(bad(format!(
            "the tls-alpn-01 certificate of {host} has no acmeIdentifier extension"
        )));
    };
    if !critical {
        return Err(bad(format!(
            "the acmeIdentifier extension of {host}'s certificate is not critical"
        )));
    }
    let mut want = vec![0x04, 0x20];
    want.extend_from_slice(&Sha256::digest(key_authorization.as_bytes()));
    if value != want {
        return Err(bad(format!(
            "the acmeIdentifier of {host}'s certificate is not the key authorization's digest"
        )));
    }
    Ok(())
}
