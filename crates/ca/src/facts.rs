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
    for ext in c.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            for n in &san.general_names {
                if let GeneralName::DNSName(d) = n {
                    dns_names.push((*d).to_owned());
                }
            }
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
