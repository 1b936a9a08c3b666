//! Server-side sessions (OWASP ASVS V7): the cookie holds a random token, the database
//! its SHA-256. A session is bound to the TLS client certificate it was opened with.

use crate::principals::Realm;
use crate::{Result, Store, StoreError, Ts};
use sqlx::Row;

/// A session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the cookie token, hex.
    pub token_hash: String,
    /// Customer or staff.
    pub realm: Realm,
    /// Account or staff id.
    pub principal_id: i64,
    /// Fingerprint of the client certificate the session was opened with.
    pub cert_fingerprint: String,
    /// The CSRF token for forms.
    pub csrf_token: String,
    /// Opened at.
    pub created_at: Ts,
    /// Last request at.
    pub last_seen_at: Ts,
}

impl Store {
    /// Opens a session.
    pub async fn create_session(&self, s: &Session) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, realm, principal_id, cert_fingerprint, csrf_token, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&s.token_hash)
            .bind(s.realm.code())
            .bind(s.principal_id)
            .bind(&s.cert_fingerprint)
            .bind(&s.csrf_token)
            .bind(s.created_at)
            .bind(s.last_seen_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The session with this token hash.
    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let row = sqlx::query("SELECT token_hash, realm, principal_id, cert_fingerprint, csrf_token, created_at, last_seen_at FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let realm: String = r.try_get("realm")?;
            Ok(Session {
                token_hash: r.try_get("token_hash")?,
                realm: Realm::from_code(&realm).ok_or_else(|| StoreError::corrupt(realm))?,
                principal_id: r.try_get("principal_id")?,
                cert_fingerprint: r.try_get("cert_fingerprint")?,
                csrf_token: r.try_get("csrf_token")?,
                created_at: r.try_get("created_at")?,
                last_seen_at: r.try_get("last_seen_at")?,
            })
        })
        .transpose()
    }

    /// Records activity.
    pub async fn touch_session(&self, token_hash: &str, now: Ts) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a session.
    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of a principal but `keep`.
    pub async fn delete_other_sessions(
        &self,
        realm: Realm,
        principal_id: i64,
        keep: &str,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM sessions WHERE realm = $1 AND principal_id = $2 AND token_hash <> $3",
        )
        .bind(realm.code())
        .bind(principal_id)
        .bind(keep)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes sessions idle since before `idle_before` or opened before `opened_before`.
    pub async fn expire_sessions(&self, idle_before: Ts, opened_before: Ts) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
                .bind(idle_before)
                .bind(opened_before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}

/// Inside a transaction: ends every session of a principal (a password reset, a new
/// login certificate, a disabled account, a new login method).
pub(crate) async fn end_sessions(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    realm: crate::Realm,
    principal_id: i64,
) -> crate::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE realm = $1 AND principal_id = $2")
        .bind(realm.code())
        .bind(principal_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
