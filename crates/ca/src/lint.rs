//! The profile linter (BR 4.3.1.2: lint every to-be-signed certificate, failing closed).
//!
//! The CA puts the to-be-signed certificate in a certificate "signed" by a throwaway
//! key of the same algorithm (one signature of that key, made once: nothing reads
//! whether it verifies) with the same issuer name and key identifier, parses the result
//! like any relying party would, and checks it against the profile. Only a pass yields a [`LintedCert`], the
//! one-shot token [`crate::IssuingCa::sign`] requires; after the real signature the CA
//! checks that the TBS bytes are identical to what was linted.

use crate::profile::{self, OID_BUSINESS_CATEGORY, OID_JURISDICTION_C, OID_SERIAL_NUMBER};
use crate::{CaUrls, Serial, ServerOrder, names::check_dns_name};
use rcgen::{CertificateParams, SubjectPublicKeyInfo};
use thiserror::Error;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The findings of a failed lint.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", .0.join("; "))]
pub struct LintError(pub Vec<String>);

/// A to-be-signed certificate that passed the lint: the one-shot signing token.
/// It cannot be cloned or built outside this crate.
#[derive(Debug)]
pub struct LintedCert {
    pub(crate) params: CertificateParams,
    pub(crate) spki: SubjectPublicKeyInfo,
    pub(crate) tbs: Vec<u8>,
    pub(crate) serial: Serial,
    pub(crate) lint_der: Vec<u8>,
}

impl LintedCert {
    /// The linted TBSCertificate, DER: stored before signing.
    pub fn tbs_der(&self) -> &[u8] {
        &self.tbs
    }
    /// The serial it carries.
    pub fn serial(&self) -> Serial {
        self.serial
    }
    /// The certificate as signed by the lint key (not trusted by anyone).
    pub fn lint_der(&self) -> &[u8] {
        &self.lint_der
    }
}

pub(crate) fn tbs_of(der: &[u8]) -> Result<Vec<u8>, LintError> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| LintError(vec![format!("unparseable: {e}")]))?;
    Ok(cert.tbs_certificate.as_ref().to_vec())
}

/// Checks a subscriber TLS certificate against the OV/EV profile and the order.
pub fn lint_server_cert(der: &[u8], order: &ServerOrder, urls: &CaUrls) -> Result<(), LintError> {
    let mut f: Vec<String> = Vec::new();
    let crl_url = urls.crl_url(order.crl_shard);
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| LintError(vec![format!("unparseable: {e}")]))?;
    if !rest.is_empty() {
        f.push("trailing bytes".into());
    }
    let tbs = &cert.tbs_certificate;
    if tbs.version.0 != 2 {
        f.push("not X.509 v3".into());
    }
    // Serial (BR 7.1.2.7, MRSP 5.2).
    let serial = tbs.raw_serial();
    if serial != order.serial.bytes() {
        f.push("serial differs from the reserved one".into());
    }
    if serial.first().is_none_or(|b| b & 0x80 != 0 || *b == 0)
        || serial.len() < 9
        || serial.len() > 20
    {
        f.push("serial not positive, minimal and 9..20 bytes".into());
    }
    // Validity (BR 6.3.2, SC-081): counts both ends.
    let nb = tbs.validity.not_before.to_datetime();
    let na = tbs.validity.not_after.to_datetime();
    let seconds = (na - nb).whole_seconds() + 1;
    let cap = shomei_model::max_validity_days(nb) * 86_400;
    if seconds <= 0 || seconds > cap {
        f.push(format!(
            "validity of {seconds} s exceeds the cap of {cap} s"
        ));
    }
    // Subject: O and C always, EV attributes for EV (EVG 7.1.4.2).
    let subject = &tbs.subject;
    if subject.iter_organization().next().is_none() {
        f.push("subject has no organizationName".into());
    }
    match subject
        .iter_country()
        .next()
        .map(|c| (c.attr_value().tag(), c.as_str()))
    {
        Some((tag, Ok(c)))
            if tag == x509_parser::der_parser::asn1_rs::Tag::PrintableString && c.len() == 2 => {}
        _ => f.push("countryName missing or not a 2-letter PrintableString".into()),
    }
    // Issue #8 item 1: ISO 3166-1 codes only, and every value in its normalised (NFKC)
    // form, so no half-width kana or full-width ASCII reaches a certificate.
    for attr in subject.iter_attributes() {
        let Ok(value) = attr.as_str() else {
            f.push("subject attribute not a string".into());
            continue;
        };
        if !shomei_model::validate::is_normalised(value) {
            f.push(format!("subject value {value:?} not normalised (NFKC)"));
        }
        let arcs: Vec<u64> = attr
            .attr_type()
            .iter()
            .map(|i| i.collect())
            .unwrap_or_default();
        let is_country = arcs == [2, 5, 4, 6] || arcs == OID_JURISDICTION_C;
        if is_country && !shomei_model::countries::is_code(value) {
            f.push(format!("country {value:?} not an ISO 3166-1 alpha-2 code"));
        }
    }
    if subject.iter_common_name().next().is_some() {
        f.push("commonName present (not from validated data)".into());
    }
    let has_attr = |oid: &[u64]| {
        subject.iter_attributes().any(|a| {
            a.attr_type()
                .iter()
                .is_some_and(|i| i.eq(oid.iter().copied()))
        })
    };
    let is_ev = order.ev.is_some();
    for (oid, what) in [
        (OID_BUSINESS_CATEGORY, "businessCategory"),
        (OID_JURISDICTION_C, "jurisdictionCountryName"),
        (OID_SERIAL_NUMBER, "serialNumber"),
    ] {
        if has_attr(oid) != is_ev {
            f.push(format!(
                "{what} {}",
                if is_ev {
                    "missing for EV"
                } else {
                    "present in OV"
                }
            ));
        }
    }
    // Extensions.
    let mut seen_san = false;
    let mut seen_ku = false;
    let mut seen_eku = false;
    let mut seen_policy = false;
    let mut seen_aia = false;
    let mut seen_crldp = false;
    let mut seen_aki = false;
    for ext in tbs.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                seen_san = true;
                let mut names = Vec::new();
                for gn in &san.general_names {
                    match gn {
                        GeneralName::DNSName(n) => match check_dns_name(n) {
                            Ok(c) if c == *n => names.push(c),
                            _ => f.push(format!("SAN {n} is not a valid public name")),
                        },
                        _ => f.push("SAN holds a non-DNS name".into()),
                    }
                }
                if names != order.names {
                    f.push("SAN differs from the checked names".into());
                }
            }
            ParsedExtension::KeyUsage(ku) => {
                seen_ku = true;
                if !ext.critical {
                    f.push("keyUsage not critical".into());
                }
                let expected_ke = order.key.is_rsa();
                if !ku.digital_signature()
                    || ku.key_encipherment() != expected_ke
                    || ku.key_cert_sign()
                    || ku.crl_sign()
                    || ku.non_repudiation()
                    || ku.data_encipherment()
                    || ku.key_agreement()
                {
                    f.push("keyUsage not as the profile says".into());
                }
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                seen_eku = true;
                if !eku.server_auth
                    || eku.client_auth
                    || eku.any
                    || eku.code_signing
                    || eku.email_protection
                    || eku.ocsp_signing
                    || eku.time_stamping
                    || !eku.other.is_empty()
                {
                    f.push("extKeyUsage must be serverAuth only".into());
                }
            }
            ParsedExtension::BasicConstraints(bc) => {
                if bc.ca {
                    f.push("basicConstraints cA true".into());
                }
            }
            ParsedExtension::CertificatePolicies(pols) => {
                seen_policy = true;
                let want = if is_ev {
                    profile::POLICY_EV
                } else {
                    profile::POLICY_OV
                };
                let ok = pols.iter().any(|p| {
                    p.policy_id
                        .iter()
                        .is_some_and(|i| i.eq(want.iter().copied()))
                });
                if !ok {
                    f.push("certificatePolicies lacks the CA/B Forum policy".into());
                }
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                seen_aia = true;
                let uris: Vec<String> = aia
                    .accessdescs
                    .iter()
                    .filter_map(|d| match &d.access_location {
                        GeneralName::URI(u) => Some(u.to_string()),
                        _ => None,
                    })
                    .collect();
                if !uris.contains(&urls.ca_issuers) || !uris.contains(&urls.ocsp) {
                    f.push("AIA lacks caIssuers or OCSP".into());
                }
                if uris.iter().any(|u| !u.starts_with("http://")) {
                    f.push("AIA URL not http".into());
                }
            }
            ParsedExtension::CRLDistributionPoints(dps) => {
                seen_crldp = true;
                let ok = dps.points.iter().any(|p| match &p.distribution_point {
                    Some(DistributionPointName::FullName(names)) => names
                        .iter()
                        .any(|n| matches!(n, GeneralName::URI(u) if *u == crl_url && u.starts_with("http://"))),
                    _ => false,
                });
                if !ok {
                    f.push("CRL distribution point missing or not http".into());
                }
            }
            ParsedExtension::AuthorityKeyIdentifier(_) => seen_aki = true,
            ParsedExtension::SubjectKeyIdentifier(_) => {}
            other => f.push(format!("unexpected extension {other:?}")),
        }
    }
    for (seen, what) in [
        (seen_san, "subjectAltName"),
        (seen_ku, "keyUsage"),
        (seen_eku, "extKeyUsage"),
        (seen_policy, "certificatePolicies"),
        (seen_aia, "authorityInfoAccess"),
        (seen_crldp, "cRLDistributionPoints"),
        (seen_aki, "authorityKeyIdentifier"),
    ] {
        if !seen {
            f.push(format!("{what} missing"));
        }
    }
    // The key is the subscriber's.
    if tbs.subject_pki.raw != order.spki_der.as_slice() {
        f.push("public key differs from the CSR's".into());
    }
    if f.is_empty() {
        Ok(())
    } else {
        Err(LintError(f))
    }
}
