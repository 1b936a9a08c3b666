//! The CRL state (BR 4.9.7, 7.2): each CRL's latest signed copy and its number (strictly
//! increasing across restarts: the number is taken in its own committed transaction),
//! the entries of a shard, the shards a revocation made stale, and the builders' lock.

use crate::{Result, Store, StoreError, Ts};
use sqlx::Row;

/// One entry of a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Serial, hex.
    pub serial: String,
    /// When it was revoked.
    pub revoked_at: Ts,
    /// RFC 5280 CRLReason code; 0 (unspecified) is written without a reasonCode.
    pub reason: i64,
}

/// The latest CRL of an issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCrl {
    /// CRL number.
    pub number: i64,
    /// thisUpdate.
    pub this_update: Ts,
    /// nextUpdate.
    pub next_update: Ts,
    /// DER.
    pub der: Vec<u8>,
}

/// A CRL's builders' lock (see [`Store::crl_build_lock`]); released when dropped.
#[derive(Debug)]
pub struct CrlBuildLock(#[allow(dead_code)] Option<sqlx::Transaction<'static, sqlx::Any>>);

impl Store {
    /// The most recent revocation time of `issuer`'s certificates.
    pub async fn latest_revocation_at(&self, issuer: &str) -> Result<Option<Ts>> {
        Ok(
            sqlx::query_scalar("SELECT MAX(revoked_at) FROM certificates WHERE issuer = $1")
                .bind(issuer)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The CRLs under `key` and `key/…` a revocation made stale since they were last
    /// built (marked by a trigger in the revocation's transaction).
    pub async fn dirty_crls(&self, key: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT crl FROM crl_dirty WHERE crl = $1 OR crl LIKE $2")
                .bind(key)
                .bind(format!("{key}/%"))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The mark of CRL `key` if a revocation made it stale: the builder reads it before
    /// the entries and hands it to [`Store::save_crl`], which clears it with the new CRL.
    pub async fn crl_dirty_mark(&self, key: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT mark FROM crl_dirty WHERE crl = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Holds the lock of the builders of CRL `key` across instances until dropped
    /// (PostgreSQL: an advisory lock of a transaction kept open meanwhile, one per CRL,
    /// so different shards are built at once; SQLite: one process owns the database and
    /// the RA's per-CRL mutex suffices).
    pub async fn crl_build_lock(&self, key: &str) -> Result<CrlBuildLock> {
        if self.backend != crate::Backend::Postgres {
            return Ok(CrlBuildLock(None));
        }
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(7355609, hashtext($1))")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        Ok(CrlBuildLock(Some(tx)))
    }

    /// The CRL shard of a certificate (-1: the undivided CRL).
    pub async fn crl_shard_of(&self, issuer: &str, serial: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT crl_shard FROM certificates WHERE issuer = $1 AND serial = $2",
        )
        .bind(issuer)
        .bind(serial)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The CRLs kept under `key` and under `key/…` (the shards): each key with the
    /// thisUpdate and nextUpdate of its latest signed CRL (`None` if a number was taken
    /// but no CRL stored).
    pub async fn crl_keys(&self, key: &str) -> Result<Vec<(String, Option<(Ts, Ts)>)>> {
        let rows = sqlx::query("SELECT issuer, this_update, next_update, CASE WHEN der IS NULL THEN 0 ELSE 1 END AS signed FROM crls WHERE issuer = $1 OR issuer LIKE $2")
            .bind(key)
            .bind(format!("{key}/%"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let signed: i64 = r.try_get("signed")?;
                Ok((
                    r.try_get("issuer")?,
                    (signed == 1)
                        .then(|| {
                            Ok::<_, crate::StoreError>((
                                r.try_get("this_update")?,
                                r.try_get("next_update")?,
                            ))
                        })
                        .transpose()?,
                ))
            })
            .collect()
    }

    /// Revoked certificates of `issuer` in CRL shard `shard` (-1: the undivided CRL)
    /// that have not expired before `expired_before` (entries stay on the CRL until
    /// after the certificate expires).
    pub async fn revoked_entries(
        &self,
        issuer: &str,
        shard: i64,
        expired_before: Ts,
    ) -> Result<Vec<RevokedEntry>> {
        // One aggregated row per CRL instead of a row per entry: at a million entries
        // the driver's per-row cost (about 5 µs) was most of the CRL's build time.
        let agg = match self.backend {
            crate::Backend::Sqlite => {
                "group_concat(serial || ' ' || revoked_at || ' ' || COALESCE(revocation_reason, 0), ',')"
            }
            crate::Backend::Postgres => {
                "string_agg(serial || ' ' || revoked_at::text || ' ' || COALESCE(revocation_reason, 0)::text, ',')"
            }
        };
        let joined: Option<String> = sqlx::query_scalar(&format!(
            "SELECT {agg} FROM certificates WHERE issuer = $1 AND crl_shard = $2 AND revoked_at IS NOT NULL AND not_after >= $3"
        ))
        .bind(issuer)
        .bind(shard)
        .bind(expired_before)
        .fetch_one(&self.pool)
        .await?;
        let Some(joined) = joined else {
            return Ok(Vec::new());
        };
        joined
            .split(',')
            .map(|entry| {
                let mut parts = entry.split(' ');
                let (Some(serial), Some(at), Some(reason), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(StoreError::corrupt(format!("CRL entry {entry:?}")));
                };
                Ok(RevokedEntry {
                    serial: serial.to_owned(),
                    revoked_at: at.parse().map_err(StoreError::corrupt)?,
                    reason: reason.parse().map_err(StoreError::corrupt)?,
                })
            })
            .collect()
    }

    /// Marks every CRL of `issuer` (the undivided one and each shard) for re-signing.
    pub async fn mark_every_crl_dirty(&self, issuer: &str) -> Result<u64> {
        Ok(sqlx::query("INSERT INTO crl_dirty (crl) SELECT issuer FROM crls WHERE issuer = $1 OR issuer LIKE $2 ON CONFLICT (crl) DO UPDATE SET mark = crl_dirty.mark + 1")
            .bind(issuer)
            .bind(format!("{issuer}/%"))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Takes the next CRL number of `issuer` in its own committed transaction, so a
    /// number is never handed out twice, even across crashes: one more than the last,
    /// and at least `floor` — the signing time in microseconds, as Let's Encrypt's CRL
    /// numbers are timestamps — so that after a restore from an older backup (issue
    /// #12) the numbers still grow past every one published before it.
    pub async fn next_crl_number(&self, issuer: &str, floor: i64) -> Result<i64> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO crls (issuer, crl_number, this_update, next_update) VALUES ($1, 0, 0, 0) ON CONFLICT (issuer) DO NOTHING").bind(issuer).execute(&mut *tx).await?;
        let n: i64 = sqlx::query_scalar(
            "UPDATE crls SET crl_number = CASE WHEN crl_number + 1 > $2 THEN crl_number + 1 ELSE $2 END WHERE issuer = $1 RETURNING crl_number",
        )
        .bind(issuer)
        .bind(floor)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Stores a signed CRL if its number is still the latest taken and, in the same
    /// transaction, clears the dirty mark its builder read before the entries
    /// ([`Store::crl_dirty_mark`]) unless a revocation bumped it since (the CRL is then
    /// built again). A process that dies before this leaves the mark: the CRL is
    /// re-signed after the restart.
    pub async fn save_crl(
        &self,
        issuer: &str,
        crl: &StoredCrl,
        dirty_mark: Option<i64>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE crls SET der = $3, this_update = $4, next_update = $5 WHERE issuer = $1 AND crl_number = $2")
            .bind(issuer)
            .bind(crl.number)
            .bind(crl.der.clone())
            .bind(crl.this_update)
            .bind(crl.next_update)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if let Some(mark) = dirty_mark {
            // Still the mark the builder read: no revocation since it read the entries.
            sqlx::query("DELETE FROM crl_dirty WHERE crl = $1 AND mark = $2")
                .bind(issuer)
                .bind(mark)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The latest signed CRL of `issuer`.
    pub async fn latest_crl(&self, issuer: &str) -> Result<Option<StoredCrl>> {
        let row = sqlx::query("SELECT crl_number, this_update, next_update, der FROM crls WHERE issuer = $1 AND der IS NOT NULL").bind(issuer).fetch_optional(&self.pool).await?;
        row.map(|r| {
            Ok(StoredCrl {
                number: r.try_get("crl_number")?,
                this_update: r.try_get("this_update")?,
                next_update: r.try_get("next_update")?,
                der: r.try_get("der")?,
            })
        })
        .transpose()
    }
}
