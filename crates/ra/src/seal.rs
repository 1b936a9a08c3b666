//! Site seals (Web ステッカー, R-D1): what a public verification page says about a
//! certificate, with its live status.

use crate::{Ra, Result, SERVER_CA};
use shomei_store::Ts;

/// A certificate's status as the seal page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealStatus {
    /// Within its validity and not revoked.
    Valid,
    /// Revoked (at).
    Revoked(Ts),
    /// Past its notAfter.
    Expired,
    /// Not yet valid (a notBefore in the future).
    NotYetValid,
}

/// What the verification page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// Serial, hex.
    pub serial: String,
    /// The organisation in the certificate's subject.
    pub organization: Option<String>,
    /// The domain (commonName).
    pub domain: String,
    /// Every DNS name of the certificate.
    pub dns_names: Vec<String>,
    /// notBefore.
    pub not_before: Ts,
    /// notAfter.
    pub not_after: Ts,
    /// Live status.
    pub status: SealStatus,
    /// EV (the organisation's extended validation) rather than OV.
    pub ev: bool,
}

impl Ra {
    /// The seal of the issued certificate with this serial (hex, any case, optional
    /// colons), or `None` if there is no such issued certificate.
    pub async fn seal(&self, serial: &str) -> Result<Option<Seal>> {
        let serial: String = serial
            .chars()
            .filter(|c| *c != ':')
            .collect::<String>()
            .to_ascii_lowercase();
        if serial.is_empty() || serial.len() > 64 || !serial.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Ok(None);
        }
        let Some((cert, revoked_at)) = self.store.issued_by_serial(SERVER_CA, &serial).await?
        else {
            return Ok(None);
        };
        let Some(der) = cert.der.as_deref() else {
            return Ok(None);
        };
        let facts = shomei_ca::facts::cert_facts(der)?;
        let now = self.now();
        let status = match revoked_at {
            Some(at) => SealStatus::Revoked(at),
            None if now > cert.not_after => SealStatus::Expired,
            None if now < cert.not_before => SealStatus::NotYetValid,
            None => SealStatus::Valid,
        };
        Ok(Some(Seal {
            serial,
            organization: facts.organization,
            domain: facts.common_name,
            dns_names: facts.dns_names,
            not_before: cert.not_before,
            not_after: cert.not_after,
            status,
            ev: facts.ev,
        }))
    }
}
