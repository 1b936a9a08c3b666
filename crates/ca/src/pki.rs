//! The development PKI made on first start, and PEM helpers.
//!
//! Layout: one root (ECDSA P-384) signing four CAs — the issuing CA for subscriber TLS
//! certificates, the login CA for customers (R-L1), the staff CA for the desk — and a
//! TLS certificate for 127.0.0.1 and localhost. The issuing CA also signs a delegated
//! OCSP responder certificate. A production operator brings their own CA certificates
//! and keys instead.

use crate::{CaError, Serial, csr::pem_encode};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    PKCS_ECDSA_P384_SHA384, SanType, SerialNumber, string::PrintableString,
};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

/// anyPolicy, 2.5.29.32.0.
const ANY_POLICY: &[u64] = &[2, 5, 29, 32, 0];

/// Signs the root's CRL (BR 4.9.7: nextUpdate at most 12 months on). The root signs no
/// end-entity certificates, so it lists the CA certificates it revoked: none here.
pub fn root_crl(
    root: &CertAndKey,
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>, CaError> {
    ClientCa::from_pem(&root.cert_pem, &root.key_pem, "")?.crl(
        number,
        this_update,
        next_update,
        &[],
    )
}

/// Whether a root CRL must be (re-)signed now, and with which CRL number: when there is
/// none (or it does not parse), when it is 90 days old, or when its nextUpdate is less
/// than 30 days away. The number follows the existing one and is at least `now` in
/// microseconds, so that instances with their own copy of `pki/` (or a file restored
/// from a backup) never sign two root CRLs with one number (issue #12).
pub fn root_crl_due(existing: Option<&[u8]>, now: OffsetDateTime) -> Option<u64> {
    use x509_parser::prelude::FromDer;
    use x509_parser::revocation_list::CertificateRevocationList;
    let floor = u64::try_from(now.unix_timestamp_nanos() / 1_000)
        .unwrap_or(1)
        .max(1);
    let Some(der) = existing else {
        return Some(floor);
    };
    let Ok((_, crl)) = CertificateRevocationList::from_der(der) else {
        return Some(floor);
    };
    let number = crl
        .crl_number()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    let this_update = crl.last_update().to_datetime();
    let fresh = crl
        .next_update()
        .is_some_and(|n| n.to_datetime() > now + Duration::days(30))
        && this_update > now - Duration::days(90);
    (!fresh).then_some((number + 1).max(floor))
}

/// A certificate and its PKCS#8 private key, both PEM.
#[derive(Debug, Clone)]
pub struct CertAndKey {
    /// Certificate, PEM.
    pub cert_pem: String,
    /// PKCS#8 private key, PEM. Secret.
    pub key_pem: String,
}

/// The development PKI.
#[derive(Debug, Clone)]
pub struct DevPki {
    /// Root CA.
    pub root: CertAndKey,
    /// Issuing CA for subscriber TLS certificates (OV and EV).
    pub server_ca: CertAndKey,
    /// Login CA for customers' client certificates.
    pub login_ca: CertAndKey,
    /// Staff CA for the desk.
    pub staff_ca: CertAndKey,
    /// TLS server certificate for 127.0.0.1 and localhost.
    pub tls: CertAndKey,
    /// Delegated OCSP responder for the issuing CA.
    pub ocsp: CertAndKey,
}

/// Decodes the first PEM block labelled `label`.
pub fn pem_to_der(pem: &str, label: &str) -> Result<Vec<u8>, CaError> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .ok_or_else(|| CaError::Parse(format!("no {label} block")))?
        + begin.len();
    let stop = pem[start..]
        .find(&end)
        .ok_or_else(|| CaError::Parse(format!("unterminated {label}")))?
        + start;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| CaError::Parse(e.to_string()))
}

/// Every certificate block in `pem`, DER, in order.
pub fn pem_chain_to_der(pem: &str) -> Result<Vec<Vec<u8>>, CaError> {
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(i) = rest.find("-----BEGIN CERTIFICATE-----") {
        out.push(pem_to_der(&rest[i..], "CERTIFICATE")?);
        rest = &rest[i + 27..];
    }
    Ok(out)
}

fn dn(org: &str, cn: &str) -> Result<DistinguishedName, CaError> {
    let mut dn = DistinguishedName::new();
    let c = PrintableString::try_from("JP").map_err(|e| CaError::Parse(e.to_string()))?;
    dn.push(DnType::CountryName, DnValue::PrintableString(c));
    dn.push(DnType::OrganizationName, DnValue::Utf8String(org.into()));
    dn.push(DnType::CommonName, DnValue::Utf8String(cn.into()));
    Ok(dn)
}

fn serial() -> Result<SerialNumber, CaError> {
    Ok(SerialNumber::from_slice(Serial::random()?.bytes()))
}

fn ca_params(
    org: &str,
    cn: &str,
    now: OffsetDateTime,
    years: i64,
    path_len: Option<u8>,
) -> Result<CertificateParams, CaError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(org, cn)?;
    p.serial_number = Some(serial()?);
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(365 * years);
    p.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.use_authority_key_identifier_extension = path_len.is_some();
    Ok(p)
}

fn pack(cert: &rcgen::Certificate, key: &KeyPair) -> CertAndKey {
    CertAndKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// Generates the development PKI. `org` names the CA operator in every subject;
/// `public_base` is the public listener's base URL written into CA certificates.
pub fn generate_dev_pki(
    now: OffsetDateTime,
    org: &str,
    public_base: &str,
) -> Result<DevPki, CaError> {
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?;
    let mut root_params = ca_params(org, "Shomei Development Root CA", now, 20, None)?;
    // AKI = the root's own key identifier (BR 7.1.2.1.3 allows it; pkilint asks for it).
    root_params.use_authority_key_identifier_extension = true;
    let root_cert = root_params.self_signed(&root_key)?;
    let root_issuer = Issuer::new(root_params, root_key);

    let base = public_base.trim_end_matches('/');
    let sub = |cn: &str,
               eku: ExtendedKeyUsagePurpose,
               policies: &[&[u64]]|
     -> Result<(CertAndKey, CertificateParams, KeyPair), CaError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut p = ca_params(org, cn, now, 10, Some(0))?;
        p.extended_key_usages = vec![eku];
        // The root's CRL (signed by the root, published at /crl/root.crl) and the root's
        // certificate (AIA caIssuers), both on the public listener (BR 7.1.2.10.2–3).
        p.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
            uris: vec![format!("{base}/crl/root.crl")],
        }];
        p.custom_extensions.push(CustomExtension::from_oid_content(
            crate::profile::OID_AIA,
            crate::profile::ca_issuers_der(&format!("{base}/ca/root.crt"))?,
        ));
        // certificatePolicies (BR 7.1.2.10.5): anyPolicy, which CAs operated by the root's
        // own operator may carry (the issuing CA signs both OV and EV, and a CA
        // certificate may hold at most one CA/B Forum reserved policy identifier).
        p.custom_extensions.push(CustomExtension::from_oid_content(
            crate::profile::OID_CERT_POLICIES,
            crate::profile::policies_der(policies)?,
        ));
        let cert = p.signed_by(&key, &root_issuer)?;
        Ok((pack(&cert, &key), p, key))
    };
    let (server_ca, server_params, server_key) = sub(
        "Shomei Development OV/EV CA",
        ExtendedKeyUsagePurpose::ServerAuth,
        &[ANY_POLICY],
    )?;
    let (login_ca, _, _) = sub(
        "Shomei Development Login CA",
        ExtendedKeyUsagePurpose::ClientAuth,
        &[ANY_POLICY],
    )?;
    let (staff_ca, _, _) = sub(
        "Shomei Development Staff CA",
        ExtendedKeyUsagePurpose::ClientAuth,
        &[ANY_POLICY],
    )?;

    // TLS certificate for the portal and desk listeners (development only).
    let tls_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut tp = CertificateParams::default();
    tp.distinguished_name = dn(org, "localhost")?;
    tp.serial_number = Some(serial()?);
    tp.not_before = now - Duration::hours(1);
    tp.not_after = now + Duration::days(397);
    tp.subject_alt_names = vec![
        SanType::DnsName("localhost".to_string().try_into()?),
        SanType::IpAddress(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
    ];
    tp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    tp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    tp.use_authority_key_identifier_extension = true;
    let tls = pack(&tp.signed_by(&tls_key, &root_issuer)?, &tls_key);

    // Delegated OCSP responder (BR 4.9.9): EKU OCSPSigning and id-pkix-ocsp-nocheck.
    let server_issuer = Issuer::new(server_params, server_key);
    let ocsp_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut op = CertificateParams::default();
    op.distinguished_name = dn(org, "Shomei Development OCSP Responder")?;
    op.serial_number = Some(serial()?);
    op.not_before = now - Duration::hours(1);
    op.not_after = now + Duration::days(365);
    op.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    op.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    op.use_authority_key_identifier_extension = true;
    // basicConstraints cA=false and a subjectKeyIdentifier (BR 7.1.2.8).
    op.is_ca = IsCa::ExplicitNoCa;
    op.custom_extensions.push(CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5],
        vec![0x05, 0x00],
    ));
    let ocsp = pack(&op.signed_by(&ocsp_key, &server_issuer)?, &ocsp_key);

    Ok(DevPki {
        root: pack(&root_cert, root_issuer.key()),
        server_ca,
        login_ca,
        staff_ca,
        tls,
        ocsp,
    })
}

/// A CA used for client certificates (login CA, staff CA).
pub struct ClientCa {
    pub(crate) cert_der: Vec<u8>,
    pub(crate) issuer: Issuer<'static, KeyPair>,
    pub(crate) chain_der: Vec<Vec<u8>>,
}

impl std::fmt::Debug for ClientCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCa").finish_non_exhaustive()
    }
}

impl ClientCa {
    /// Loads from the CA certificate, its key, and the chain above it (PEM, may be empty).
    pub fn from_pem(cert_pem: &str, key_pem: &str, chain_pem: &str) -> Result<ClientCa, CaError> {
        let cert_der = pem_to_der(cert_pem, "CERTIFICATE")?;
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(cert_der.clone()), key)?;
        Ok(ClientCa {
            cert_der,
            issuer,
            chain_der: pem_chain_to_der(chain_pem)?,
        })
    }
    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.cert_der)
    }
    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }
    /// Signs this CA's CRL (the login CA's lists revoked login certificates).
    pub fn crl(
        &self,
        number: u64,
        this_update: time::OffsetDateTime,
        next_update: time::OffsetDateTime,
        entries: &[crate::CrlEntry],
    ) -> Result<Vec<u8>, CaError> {
        let ski = crate::signer::subject_key_id(&self.cert_der)?;
        crate::signer::sign_crl(
            &self.issuer,
            &ski,
            number,
            this_update,
            next_update,
            entries,
            None,
        )
    }
}

/// The private PKI of the link between the RA (the primary network perspective) and
/// its remote perspectives (`shomei perspective`, BR 3.2.2.9): a CA of its own, a
/// server certificate for the perspectives (127.0.0.1, localhost and `hosts`) and a
/// client certificate for the primary. Nothing else trusts this CA.
#[derive(Debug, Clone)]
pub struct LinkPki {
    /// The link CA (its key is not kept).
    pub ca_pem: String,
    /// The perspectives' server certificate and key.
    pub server: CertAndKey,
    /// The primary's client certificate and key.
    pub client: CertAndKey,
}

/// Makes a [`LinkPki`].
pub fn generate_link_pki(
    now: OffsetDateTime,
    org: &str,
    hosts: &[String],
) -> Result<LinkPki, CaError> {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let ca_params = ca_params(org, "Shomei Perspective Link CA", now, 10, None)?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |cn: &str, eku: ExtendedKeyUsagePurpose, sans: Vec<SanType>| {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut p = CertificateParams::default();
        p.distinguished_name = dn(org, cn)?;
        p.serial_number = Some(serial()?);
        p.not_before = now - Duration::hours(1);
        p.not_after = now + Duration::days(825);
        p.subject_alt_names = sans;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![eku];
        p.use_authority_key_identifier_extension = true;
        Ok::<_, CaError>(pack(&p.signed_by(&key, &issuer)?, &key))
    };
    let mut sans = vec![
        SanType::DnsName("localhost".to_string().try_into()?),
        SanType::IpAddress(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
    ];
    for h in hosts {
        sans.push(match h.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(h.clone().try_into()?),
        });
    }
    let server = leaf("perspective", ExtendedKeyUsagePurpose::ServerAuth, sans)?;
    let client = leaf("primary", ExtendedKeyUsagePurpose::ClientAuth, Vec::new())?;
    Ok(LinkPki {
        ca_pem: ca_cert.pem(),
        server,
        client,
    })
}
