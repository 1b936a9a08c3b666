//! Login and staff certificates after issuance: a new certificate replaces the bound
//! one (R-L5), and the old one is revoked — listed on its CA's CRL and refused at login.

use crate::audit::{AuditEvent, append};
use crate::principals::Realm;
use crate::revocations::RevokedEntry;
use crate::{Result, Store, StoreError, Ts};
use shomei_model::Actor;
use sqlx::Row;

/// The CA slug of a realm's login certificates (`login` or `staff`).
pub fn issuer_of(realm: Realm) -> &'static str {
    match realm {
        Realm::Customer => "login",
        Realm::Staff => "staff",
    }
}

/// The new binding of a principal.
#[derive(Debug, Clone)]
pub struct NewBinding {
    /// Serial, hex.
    pub serial: String,
    /// Subject DN.
    pub subject: String,
    /// SHA-256 of the DER certificate, hex.
    pub fingerprint: String,
}

impl Store {
    /// In one transaction: binds the new certificate to the principal, revokes the one
    /// bound before (with `reason`, RFC 5280), ends the principal's sessions, audits.
    /// Returns the old serial.
    pub async fn replace_login_certificate(
        &self,
        realm: Realm,
        principal_id: i64,
        new: &NewBinding,
        reason: i64,
        actor: Actor,
        now: Ts,
    ) -> Result<Option<String>> {
        let table = realm.table();
        let mut tx = self.begin().await?;
        let old: Option<Option<String>> =
            sqlx::query_scalar(&format!("SELECT cert_serial FROM {table} WHERE id = $1"))
                .bind(principal_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(old) = old else {
            return Err(StoreError::Conflict(format!("no {table} {principal_id}")));
        };
        sqlx::query(&format!(
            "UPDATE {table} SET cert_serial = $2, cert_subject = $3, cert_fingerprint = $4 WHERE id = $1"
        ))
        .bind(principal_id)
        .bind(&new.serial)
        .bind(&new.subject)
        .bind(&new.fingerprint)
        .execute(&mut *tx)
        .await?;
        if let Some(serial) = &old {
            sqlx::query("INSERT INTO client_revocations (issuer, serial, principal_id, revoked_at, reason) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (issuer, serial) DO NOTHING")
                .bind(issuer_of(realm))
                .bind(serial)
                .bind(principal_id)
                .bind(now)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
        }
        crate::sessions::end_sessions(&mut tx, realm, principal_id).await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                actor,
                "login_certificate.replaced",
                format!("{}:{principal_id}", realm.code()),
                serde_json::json!({ "old_serial": old, "new_serial": new.serial, "reason": reason }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(old)
    }

    /// Whether a login or staff certificate was revoked.
    pub async fn is_client_cert_revoked(&self, issuer: &str, serial: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM client_revocations WHERE issuer = $1 AND serial = $2",
        )
        .bind(issuer)
        .bind(serial)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// The revoked certificates of a client CA, for its CRL.
    pub async fn client_revoked_entries(&self, issuer: &str) -> Result<Vec<RevokedEntry>> {
        let rows = sqlx::query("SELECT serial, revoked_at, reason FROM client_revocations WHERE issuer = $1 ORDER BY revoked_at, serial")
            .bind(issuer)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RevokedEntry {
                    serial: r.try_get("serial")?,
                    revoked_at: r.try_get("revoked_at")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    /// When a certificate of a client CA was last revoked.
    pub async fn latest_client_revocation_at(&self, issuer: &str) -> Result<Option<Ts>> {
        Ok(
            sqlx::query_scalar("SELECT MAX(revoked_at) FROM client_revocations WHERE issuer = $1")
                .bind(issuer)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
