//! Several instances on one database (issue #12): which instance owns a running job
//! (jobs.rs), which one runs a periodic task (a lease), and which CA the database
//! belongs to.

use crate::{Result, Store, StoreError, Ts};

/// A name for this process as an owner of jobs and leases: the host, the process id
/// and random bytes (a restarted process never takes its predecessor's name).
pub(crate) fn new_instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let mut rnd = [0u8; 6];
    if getrandom::fill(&mut rnd).is_err() {
        // Still distinct from the previous process: its start time in nanoseconds.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        rnd[..4].copy_from_slice(&t.to_be_bytes());
    }
    format!("{host}:{}:{}", std::process::id(), hex::encode(rnd))
}

impl Store {
    /// This process's name as the owner of jobs and leases.
    pub fn instance_id(&self) -> &str {
        &self.instance
    }

    /// Takes or renews the lease `name` until `now + seconds`: true when this instance
    /// holds it (it was free, expired, or already ours), false when another instance's
    /// lease still holds. Periodic work runs only in the holder, so it runs once across
    /// instances; when the holder dies, another takes over after `seconds`.
    pub async fn try_lease(&self, name: &str, now: Ts, seconds: i64) -> Result<bool> {
        let row: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until WHERE leases.until < $4 OR leases.owner = excluded.owner RETURNING owner",
        )
        .bind(name)
        .bind(self.instance_id())
        .bind(now.saturating_add(seconds))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Gives up the lease `name` if this instance holds it (at shutdown, so another
    /// instance takes the work over at once).
    pub async fn release_lease(&self, name: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
            .bind(name)
            .bind(self.instance_id())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the CA this database belongs to (its root certificate's SHA-256, hex) on
    /// first use, and afterwards checks every instance against it: an instance started
    /// with another PKI (its own development PKI, say) is refused with
    /// [`StoreError::ForeignPki`] instead of signing into this database with other keys.
    pub async fn bind_ca(&self, root_sha256: &str, now: Ts) -> Result<()> {
        sqlx::query("INSERT INTO ca_identity (id, root_sha256, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING")
            .bind(root_sha256)
            .bind(now)
            .execute(&self.pool)
            .await?;
        let database: String =
            sqlx::query_scalar("SELECT root_sha256 FROM ca_identity WHERE id = 1")
                .fetch_one(&self.pool)
                .await?;
        if database.eq_ignore_ascii_case(root_sha256) {
            Ok(())
        } else {
            Err(StoreError::ForeignPki {
                database,
                local: root_sha256.to_owned(),
            })
        }
    }
}
