//! Certificate profiles for subscriber TLS certificates (BR 7.1.2.7; EVG 7.1.4).
//!
//! The subject is built from validated organisation data only — never from the CSR's
//! subject (CA-RULES "Profiles").

use crate::{CaError, KeyKind, Serial};
use der::Encode;
use der::asn1::{Ia5String, ObjectIdentifier};
use rcgen::string::PrintableString;
use rcgen::{
    CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType, SerialNumber,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax, CertificatePolicies};

/// CA/B Forum OV policy, 2.23.140.1.2.2.
pub const POLICY_OV: &[u64] = &[2, 23, 140, 1, 2, 2];
/// CA/B Forum EV policy, 2.23.140.1.1.
pub const POLICY_EV: &[u64] = &[2, 23, 140, 1, 1];
/// id-ce-certificatePolicies
pub const OID_CERT_POLICIES: &[u64] = &[2, 5, 29, 32];
/// id-pe-authorityInfoAccess
pub const OID_AIA: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// businessCategory
pub const OID_BUSINESS_CATEGORY: &[u64] = &[2, 5, 4, 15];
/// serialNumber (the subject attribute: the registration number for EV)
pub const OID_SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
/// jurisdictionLocalityName
pub const OID_JURISDICTION_L: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 1];
/// jurisdictionStateOrProvinceName
pub const OID_JURISDICTION_ST: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 2];
/// jurisdictionCountryName
pub const OID_JURISDICTION_C: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 3];

const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
const ID_AD_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");

/// The validated organisation (OV subject: O, L, ST, C).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSubject {
    /// organizationName
    pub organization: String,
    /// stateOrProvinceName (都道府県)
    pub state: String,
    /// localityName (市区町村)
    pub locality: String,
    /// countryName, ISO 3166 alpha-2
    pub country: String,
}

/// EV businessCategory values (EVG 7.1.4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BusinessCategory {
    /// Private Organization
    PrivateOrganization,
    /// Government Entity
    GovernmentEntity,
    /// Business Entity
    BusinessEntity,
    /// Non-Commercial Entity
    NonCommercialEntity,
}

impl BusinessCategory {
    /// Every value.
    pub const ALL: &'static [BusinessCategory] = &[
        BusinessCategory::PrivateOrganization,
        BusinessCategory::GovernmentEntity,
        BusinessCategory::BusinessEntity,
        BusinessCategory::NonCommercialEntity,
    ];
    /// The exact text the EV Guidelines require in the certificate.
    pub fn text(self) -> &'static str {
        match self {
            BusinessCategory::PrivateOrganization => "Private Organization",
            BusinessCategory::GovernmentEntity => "Government Entity",
            BusinessCategory::BusinessEntity => "Business Entity",
            BusinessCategory::NonCommercialEntity => "Non-Commercial Entity",
        }
    }
    /// Parses [`Self::text`].
    pub fn from_text(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.text() == s)
    }
}

/// The validated EV data (EVG 7.1.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvSubject {
    /// jurisdictionCountryName
    pub jurisdiction_country: String,
    /// jurisdictionStateOrProvinceName, if incorporated at that level
    pub jurisdiction_state: Option<String>,
    /// jurisdictionLocalityName, if incorporated at that level
    pub jurisdiction_locality: Option<String>,
    /// businessCategory
    pub business_category: BusinessCategory,
    /// serialNumber: the registration number (登記番号 / 法人番号)
    pub registration_number: String,
}

/// Everything the CA needs to build one subscriber TLS certificate.
#[derive(Debug, Clone)]
pub struct ServerOrder {
    /// Reserved and stored before this order was made.
    pub serial: Serial,
    /// notBefore
    pub not_before: OffsetDateTime,
    /// notAfter (inclusive)
    pub not_after: OffsetDateTime,
    /// DNS names, checked and canonical.
    pub names: Vec<String>,
    /// The subscriber's SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// The subscriber's key kind.
    pub key: KeyKind,
    /// The validated organisation.
    pub org: OrgSubject,
    /// The validated EV data: present for EV, absent for OV.
    pub ev: Option<EvSubject>,
    /// The CRL shard the certificate's CRL distribution point names (issue #11);
    /// `None`: the undivided CRL.
    pub crl_shard: Option<u32>,
}

fn printable(s: &str) -> Result<DnValue, CaError> {
    PrintableString::try_from(s)
        .map(DnValue::PrintableString)
        .map_err(|_| CaError::Parse(format!("not a PrintableString: {s}")))
}

/// The subject of a subscriber certificate: validated data only, EV attributes in the
/// order of EVG 7.1.4.2.
fn subject_dn(org: &OrgSubject, ev: Option<&EvSubject>) -> Result<DistinguishedName, CaError> {
    let mut dn = DistinguishedName::new();
    if let Some(ev) = ev {
        dn.push(
            DnType::CustomDnType(OID_BUSINESS_CATEGORY.to_vec()),
            DnValue::Utf8String(ev.business_category.text().into()),
        );
        dn.push(
            DnType::CustomDnType(OID_JURISDICTION_C.to_vec()),
            printable(&ev.jurisdiction_country)?,
        );
        if let Some(st) = &ev.jurisdiction_state {
            dn.push(
                DnType::CustomDnType(OID_JURISDICTION_ST.to_vec()),
                DnValue::Utf8String(st.clone()),
            );
        }
        if let Some(l) = &ev.jurisdiction_locality {
            dn.push(
                DnType::CustomDnType(OID_JURISDICTION_L.to_vec()),
                DnValue::Utf8String(l.clone()),
            );
        }
        dn.push(
            DnType::CustomDnType(OID_SERIAL_NUMBER.to_vec()),
            printable(&ev.registration_number)?,
        );
    }
    dn.push(DnType::CountryName, printable(&org.country)?);
    dn.push(
        DnType::StateOrProvinceName,
        DnValue::Utf8String(org.state.clone()),
    );
    dn.push(
        DnType::LocalityName,
        DnValue::Utf8String(org.locality.clone()),
    );
    dn.push(
        DnType::OrganizationName,
        DnValue::Utf8String(org.organization.clone()),
    );
    Ok(dn)
}

/// The subject a certificate for this organisation will carry, as text in the
/// certificate's attribute order (`businessCategory=…, jurisdictionC=…, serialNumber=…,
/// C=JP, ST=…, L=…, O=…`): what the confirmation page and the desk show (issue #8 item 1).
pub fn subject_preview(org: &OrgSubject, ev: Option<&EvSubject>) -> Result<String, CaError> {
    let dn = subject_dn(org, ev)?;
    let parts = dn
        .iter()
        .map(|(ty, value)| {
            let name = match ty {
                DnType::CountryName => "C".to_owned(),
                DnType::StateOrProvinceName => "ST".to_owned(),
                DnType::LocalityName => "L".to_owned(),
                DnType::OrganizationName => "O".to_owned(),
                DnType::CustomDnType(oid) if oid == OID_BUSINESS_CATEGORY => {
                    "businessCategory".to_owned()
                }
                DnType::CustomDnType(oid) if oid == OID_JURISDICTION_C => {
                    "jurisdictionC".to_owned()
                }
                DnType::CustomDnType(oid) if oid == OID_JURISDICTION_ST => {
                    "jurisdictionST".to_owned()
                }
                DnType::CustomDnType(oid) if oid == OID_JURISDICTION_L => {
                    "jurisdictionL".to_owned()
                }
                DnType::CustomDnType(oid) if oid == OID_SERIAL_NUMBER => "serialNumber".to_owned(),
                other => format!("{other:?}"),
            };
            let text = match value {
                DnValue::PrintableString(v) => v.as_str().to_owned(),
                DnValue::Utf8String(v) => v.clone(),
                other => format!("{other:?}"),
            };
            format!("{name}={text}")
        })
        .collect::<Vec<_>>();
    Ok(parts.join(", "))
}

/// Builds rcgen parameters for a subscriber certificate.
pub(crate) fn server_params(
    order: &ServerOrder,
    urls: &crate::CaUrls,
) -> Result<CertificateParams, CaError> {
    let mut p = CertificateParams::default();
    p.serial_number = Some(SerialNumber::from_slice(order.serial.bytes()));
    p.not_before = order.not_before;
    p.not_after = order.not_after;
    p.is_ca = IsCa::NoCa;
    p.use_authority_key_identifier_extension = true;

    p.distinguished_name = subject_dn(&order.org, order.ev.as_ref())?;

    p.subject_alt_names = order
        .names
        .iter()
        .map(|n| n.clone().try_into().map(SanType::DnsName))
        .collect::<Result<_, _>>()?;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if order.key.is_rsa() {
        p.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![urls.crl_url(order.crl_shard)],
    }];

    let policy = if order.ev.is_some() {
        POLICY_EV
    } else {
        POLICY_OV
    };
    p.custom_extensions.push(CustomExtension::from_oid_content(
        OID_CERT_POLICIES,
        policies_der(&[policy])?,
    ));
    p.custom_extensions
        .push(CustomExtension::from_oid_content(OID_AIA, aia_der(urls)?));
    Ok(p)
}

fn oid_of(arcs: &[u64]) -> Result<ObjectIdentifier, CaError> {
    let s = arcs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".");
    ObjectIdentifier::new(&s).map_err(|e| CaError::Parse(e.to_string()))
}

/// CertificatePolicies with each of `policies`, no qualifiers.
pub(crate) fn policies_der(policies: &[&[u64]]) -> Result<Vec<u8>, CaError> {
    let policies = CertificatePolicies(
        policies
            .iter()
            .map(|p| {
                Ok(PolicyInformation {
                    policy_identifier: oid_of(p)?,
                    policy_qualifiers: None,
                })
            })
            .collect::<Result<_, CaError>>()?,
    );
    Ok(policies.to_der()?)
}

/// AIA with caIssuers only (CA certificates: the issuer's certificate over HTTP).
pub(crate) fn ca_issuers_der(url: &str) -> Result<Vec<u8>, CaError> {
    let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: ID_AD_CA_ISSUERS,
        access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(url)?),
    }]);
    Ok(aia.to_der()?)
}

/// AIA: OCSP first, then caIssuers, both over plain HTTP (BR 7.1.2.7.7).
pub(crate) fn aia_der(urls: &crate::CaUrls) -> Result<Vec<u8>, CaError> {
    let aia = AuthorityInfoAccessSyntax(vec![
        AccessDescription {
            access_method: ID_AD_OCSP,
            access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(&urls.ocsp)?),
        },
        AccessDescription {
            access_method: ID_AD_CA_ISSUERS,
            access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(
                &urls.ca_issuers,
            )?),
        },
    ]);
    Ok(aia.to_der()?)
}
