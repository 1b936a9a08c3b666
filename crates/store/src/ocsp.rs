//! Certificate status for the OCSP responder, and its pre-built responses.

use crate::{Result, Store, Ts};
use sqlx::Row;

/// A certificate's status as OCSP reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertState {
    /// Issued and not revoked.
    Good,
    /// Revoked at, with the RFC 5280 reason code.
    Revoked(Ts, i64),
    /// No issued certificate with this serial (reserved, abandoned or never seen).
    Unknown,
}

impl Store {
    /// The OCSP status of `serial` (hex) under `issuer`.
    pub async fn certificate_state(&self, issuer: &str, serial: &str) -> Result<CertState> {
        let row = sqlx::query("SELECT revoked_at, revocation_reason FROM certificates WHERE issuer = $1 AND serial = $2 AND status = 'issued'")
            .bind(issuer)
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            None => CertState::Unknown,
            Some(r) => match r.try_get::<Option<i64>, _>("revoked_at")? {
                None => CertState::Good,
                Some(at) => CertState::Revoked(
                    at,
                    r.try_get::<Option<i64>, _>("revocation_reason")?
                        .unwrap_or(0),
                ),
            },
        })
    }

    /// A stored response for `serial` that is still valid at `fresh_at`.
    pub async fn cached_ocsp(
        &self,
        issuer: &str,
        serial: &str,
        fresh_at: Ts,
    ) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(
            "SELECT der FROM ocsp_responses WHERE issuer = $1 AND serial = $2 AND next_update > $3",
        )
        .bind(issuer)
        .bind(serial)
        .bind(fresh_at)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores (replaces) the response for `serial`.
    pub async fn save_ocsp(
        &self,
        issuer: &str,
        serial: &str,
        this_update: Ts,
        next_update: Ts,
        der: &[u8],
    ) -> Result<()> {
        sqlx::query("INSERT INTO ocsp_responses (issuer, serial, this_update, next_update, der) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (issuer, serial) DO UPDATE SET this_update = excluded.this_update, next_update = excluded.next_update, der = excluded.der")
            .bind(issuer)
            .bind(serial)
            .bind(this_update)
            .bind(next_update)
            .bind(der.to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Issued, unexpired serials whose response is missing or was built before
    /// `built_before` (the refresh picks them up well before nextUpdate).
    pub async fn serials_needing_ocsp(
        &self,
        issuer: &str,
        now: Ts,
        built_before: Ts,
        limit: i64,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT c.serial FROM certificates c LEFT JOIN ocsp_responses o ON o.issuer = c.issuer AND o.serial = c.serial \
             WHERE c.issuer = $1 AND c.status = 'issued' AND c.not_after > $2 AND (o.serial IS NULL OR o.this_update < $3) ORDER BY c.id LIMIT $4",
        )
        .bind(issuer)
        .bind(now)
        .bind(built_before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("serial")?)).collect()
    }
}
