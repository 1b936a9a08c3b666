//! What a public page may say about an issued server certificate, read from the
//! certificate itself (its subject holds validated data only).

use crate::CaError;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The facts a site seal's verification page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// Subject organizationName (absent on a DV certificate).
    pub organization: Option<String>,
    /// Subject commonName, or the first DNS name.
    pub common_name: String,
    /// The subjectAltName DNS names.
    pub dns_names: Vec<String>,
    /// Whether it is an EV certificate (the CA/B Forum EV policy), else OV.
    pub ev: bool,
}

/// Reads [`CertFacts`] from a DER certificate.
pub fn cert_facts(der: &[u8]) -> Result<CertFacts, CaError> {
    let (_, c) = X509Certificate::from_der(der).map_err(|e| CaError::Parse(e.to_string()))?;
    let organization = c
        .subject()
        .iter_organization()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_owned);
    let mut dns_names = Vec::new();
    let mut ev = false;
    for ext in c.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for n in &san.general_names {
                    if let GeneralName::DNSName(d) = n {
                        dns_names.push((*d).to_owned());
                    }
                }
            }
            ParsedExtension::CertificatePolicies(p) => {
                ev = p.iter().any(|p| {
                    p.policy_id
                        .iter()
                        .is_some_and(|i| i.eq(crate::profile::POLICY_EV.iter().copied()))
                });
            }
            _ => {}
        }
    }
    let common_name = c
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_owned)
        .or_else(|| dns_names.first().cloned())
        .unwrap_or_default();
    Ok(CertFacts {
        organization,
        common_name,
        dns_names,
        ev,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(cert_facts(b"not a certificate").is_err());
    }
}
