//! What `/metrics` reads from the store when scraped (issue #12), and the readiness ping.

use crate::{Result, Store};
use sqlx::Row;

/// Figures read from the database.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Jobs by status (`pending`, `running`, `done`, `failed`).
    pub jobs: Vec<(String, i64)>,
    /// Each CRL (`server/3`, `login`, …) and its latest thisUpdate.
    pub crls: Vec<(String, i64)>,
    /// Customer logins locked (R-L4).
    pub locked_accounts: i64,
    /// Staff logins locked.
    pub locked_staff: i64,
    /// Connection pools: name, open connections, idle ones.
    pub pools: Vec<(&'static str, u32, u32)>,
}

impl Store {
    /// The figures of `/metrics`.
    pub async fn metrics_snapshot(&self) -> Result<Snapshot> {
        let db = self.reader();
        let mut jobs: Vec<(String, i64)> = ["pending", "running", "done", "failed"]
            .iter()
            .map(|s| ((*s).to_owned(), 0))
            .collect();
        for r in sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
            .fetch_all(db)
            .await?
        {
            let status: String = r.try_get("status")?;
            let n: i64 = r.try_get("n")?;
            match jobs.iter_mut().find(|(s, _)| *s == status) {
                Some(slot) => slot.1 = n,
                None => jobs.push((status, n)),
            }
        }
        let crls = sqlx::query("SELECT issuer, this_update FROM crls ORDER BY issuer")
            .fetch_all(db)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("issuer")?, r.try_get("this_update")?)))
            .collect::<Result<Vec<_>>>()?;
        let locked_accounts: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE locked <> 0")
                .fetch_one(db)
                .await?;
        let locked_staff: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staff WHERE locked <> 0")
            .fetch_one(db)
            .await?;
        let mut pools = vec![(
            "writer",
            self.pool.size(),
            u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        )];
        if self.backend == crate::Backend::Sqlite {
            pools.push((
                "reader",
                self.read.size(),
                u32::try_from(self.read.num_idle()).unwrap_or(u32::MAX),
            ));
        }
        Ok(Snapshot {
            jobs,
            crls,
            locked_accounts,
            locked_staff,
            pools,
        })
    }

    /// One round trip to the database (readiness).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
