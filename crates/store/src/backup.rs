//! Backups and restores of the SQLite database (issue #12). PostgreSQL is backed up
//! with its own tools (`pg_dump`, a standby); these refuse it with a message saying so.

use crate::{Backend, Result, Store, StoreError};
use sqlx::{Connection, Row};
use std::path::Path;

/// What a backup file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// The highest migration applied.
    pub schema_version: i64,
    /// The CA it belongs to (root SHA-256), if recorded (migration 22 on).
    pub ca_root_sha256: Option<String>,
    /// Certificates issued in it (revoked ones included).
    pub certificates: i64,
}

/// What a restore carried over from the database it replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarriedOver {
    /// Revocations recorded after the backup, applied to the restored database (the
    /// certificate was in the backup, revoked only in the replaced database).
    pub revocations: Vec<String>,
    /// Certificates issued after the backup: not in the restored database (their
    /// serials are never reused; OCSP answers "unknown" for them until re-imported).
    pub missing_certificates: Vec<String>,
}

fn sqlite_url(path: &Path, mode: &str) -> String {
    format!("sqlite:{}?mode={mode}", path.display())
}

impl Store {
    /// Writes a consistent copy of the SQLite database to `path` while it keeps serving
    /// (`VACUUM INTO`, one read transaction), then checks the copy. `path` must not
    /// exist.
    pub async fn backup_to(&self, path: &Path) -> Result<BackupInfo> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Unsupported(
                "PostgreSQL is backed up with pg_dump (or a standby), not shomei backup",
            ));
        }
        if path.exists() {
            return Err(StoreError::Conflict(format!(
                "{} exists: choose a new file",
                path.display()
            )));
        }
        // Its own connection (the readers are query_only, which refuses VACUUM INTO):
        // it reads one snapshot while the writer goes on writing (WAL).
        let mut conn = sqlx::AnyConnection::connect(&self.url.0).await?;
        sqlx::query("VACUUM INTO $1")
            .bind(path.display().to_string())
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        check_backup(path).await
    }

    /// After a restore: what the replaced database (at `old`) recorded that the
    /// restored one lacks. Revocations of certificates the backup holds are applied
    /// here (in one transaction, each marking its CRL for re-signing, their stored OCSP
    /// responses dropped so they are signed anew), so the CA never answers "good" for a
    /// certificate it had revoked; certificates issued after the backup are listed.
    pub async fn carry_over_from(&self, old: &Path) -> Result<CarriedOver> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Unsupported("restores are for SQLite"));
        }
        let mut conn = self.pool.acquire().await?;
        sqlx::query("ATTACH DATABASE $1 AS replaced")
            .bind(old.display().to_string())
            .execute(&mut *conn)
            .await?;
        let result = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let revocations: Vec<String> = sqlx::query_scalar(
                "SELECT o.serial FROM replaced.certificates o JOIN main.certificates c ON c.issuer = o.issuer AND c.serial = o.serial WHERE o.revoked_at IS NOT NULL AND c.revoked_at IS NULL ORDER BY o.serial",
            )
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query("UPDATE main.certificates SET revoked_at = o.revoked_at, revocation_reason = o.revocation_reason FROM replaced.certificates o WHERE o.issuer = main.certificates.issuer AND o.serial = main.certificates.serial AND o.revoked_at IS NOT NULL AND main.certificates.revoked_at IS NULL")
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM main.ocsp_responses WHERE EXISTS (SELECT 1 FROM main.certificates c WHERE c.id = ocsp_responses.cert_id AND c.revoked_at IS NOT NULL)")
                .execute(&mut *tx)
                .await?;
            let missing_certificates: Vec<String> = sqlx::query_scalar(
                "SELECT o.serial FROM replaced.certificates o WHERE NOT EXISTS (SELECT 1 FROM main.certificates c WHERE c.issuer = o.issuer AND c.serial = o.serial) ORDER BY o.serial",
            )
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(CarriedOver {
                revocations,
                missing_certificates,
            })
        }
        .await;
        sqlx::query("DETACH DATABASE replaced")
            .execute(&mut *conn)
            .await?;
        result
    }
}

/// Opens a backup file read-only and checks it: `PRAGMA integrity_check` must say ok
/// and it must hold Shomei's schema.
pub async fn check_backup(path: &Path) -> Result<BackupInfo> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&sqlite_url(path, "ro")).await?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?;
    if check != "ok" {
        return Err(StoreError::Corrupt(format!(
            "{}: integrity check says {check}",
            path.display()
        )));
    }
    let schema_version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&mut conn)
            .await
            .map_err(|_| {
                StoreError::Corrupt(format!("{} is not a Shomei database", path.display()))
            })?;
    let has_identity: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'ca_identity'",
    )
    .fetch_one(&mut conn)
    .await?;
    let ca_root_sha256 = if has_identity > 0 {
        sqlx::query("SELECT root_sha256 FROM ca_identity WHERE id = 1")
            .fetch_optional(&mut conn)
            .await?
            .map(|r| r.try_get::<String, _>("root_sha256"))
            .transpose()?
    } else {
        None
    };
    let certificates: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM certificates WHERE status = 'issued'")
            .fetch_one(&mut conn)
            .await?;
    conn.close().await?;
    Ok(BackupInfo {
        schema_version: schema_version.unwrap_or(0),
        ca_root_sha256,
        certificates,
    })
}
