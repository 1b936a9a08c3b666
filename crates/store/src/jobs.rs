//! The job queue (outbox): side effects are rows written in the same transaction as
//! the change that causes them; workers claim and run them.

use crate::exec::Exec;
use crate::{Result, Store, Ts};
use sqlx::Row;

/// How long a claimed job stays its instance's without a renewal (seconds). The
/// worker renews it every quarter of this while the job runs; a job whose instance died
/// is taken over once it has expired.
pub const JOB_LEASE_SECONDS: i64 = 60;

/// A job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// Kind: `mail.issued`, `mail.staff_new_application`, …
    pub kind: String,
    /// JSON payload.
    pub payload: String,
    /// Attempts so far.
    pub attempts: i64,
}

/// Queues a job inside `tx`.
pub async fn enqueue<E: Exec>(
    tx: &mut E,
    kind: &str,
    payload: &serde_json::Value,
    run_at: Ts,
) -> Result<()> {
    enqueue_many(tx, kind, std::slice::from_ref(payload), run_at).await
}

/// Queues many jobs of one kind inside `tx`, 500 rows per statement.
pub async fn enqueue_many<E: Exec>(
    tx: &mut E,
    kind: &str,
    payloads: &[serde_json::Value],
    run_at: Ts,
) -> Result<()> {
    for chunk in payloads.chunks(500) {
        let sql = format!(
            "INSERT INTO jobs (kind, payload, run_at, created_at, status, attempts) VALUES {}",
            crate::sql::placeholders(chunk.len(), 4, 0).replace(')', ", 'pending', 0)")
        );
        let mut args = Vec::with_capacity(chunk.len() * 4);
        for p in chunk {
            args.extend([
                kind.into(),
                p.to_string().into(),
                run_at.into(),
                run_at.into(),
            ]);
        }
        tx.run(&sql, args).await?;
    }
    Ok(())
}

impl Store {
    /// Pending jobs of `kind` (for tests and the desk).
    pub async fn pending_jobs(&self, kind: &str) -> Result<Vec<Job>> {
        let rows = sqlx::query("SELECT id, kind, payload, attempts FROM jobs WHERE kind = $1 AND status = 'pending' ORDER BY id")
            .bind(kind)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Job {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// This store with claimed jobs leased for `seconds` (at least 2) instead of
    /// [`JOB_LEASE_SECONDS`]: how long a job whose instance died waits before another
    /// instance (or the restarted one) takes it back.
    pub fn with_job_lease(mut self, seconds: i64) -> Store {
        self.job_lease = seconds.max(2);
        self
    }

    /// Seconds a claimed job stays this instance's without a heartbeat.
    pub fn job_lease(&self) -> i64 {
        self.job_lease
    }

    /// Claims the oldest due job for this instance, marking it running with a lease of
    /// [`Store::job_lease`] seconds from `now` (renewed while it runs: [`Store::renew_job_lease`]).
    /// On PostgreSQL, `SKIP LOCKED` lets several instances share the queue.
    pub async fn claim_job(&self, now: Ts) -> Result<Option<Job>> {
        let sql = match self.backend {
            crate::Backend::Postgres => {
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, owner = $2, lease_until = $3 WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_at <= $1 ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, kind, payload, attempts"
            }
            crate::Backend::Sqlite => {
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, owner = $2, lease_until = $3 WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_at <= $1 ORDER BY run_at, id LIMIT 1) RETURNING id, kind, payload, attempts"
            }
        };
        let row = sqlx::query(sql)
            .bind(now)
            .bind(self.instance_id())
            .bind(now.saturating_add(self.job_lease))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Job {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
            })
        })
        .transpose()
    }

    /// Extends the lease of a job this instance runs to `now +` [`Store::job_lease`]
    /// (the heartbeat). False when the job is no longer ours (its lease expired and
    /// another instance took it over).
    pub async fn renew_job_lease(&self, id: i64, now: Ts) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND owner = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(self.instance_id())
        .bind(now.saturating_add(self.job_lease))
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Marks a job this instance runs done, or puts it back for a retry at `retry_at`
    /// with the error. False (nothing written) when the job is no longer ours: its lease
    /// expired and another instance took it over, whose outcome counts.
    pub async fn finish_job(
        &self,
        id: i64,
        outcome: std::result::Result<(), (String, Ts)>,
    ) -> Result<bool> {
        let done = match outcome {
            Ok(()) => sqlx::query("UPDATE jobs SET status = 'done', last_error = NULL, owner = NULL, lease_until = NULL WHERE id = $1 AND owner = $2 AND status = 'running'")
                .bind(id)
                .bind(self.instance_id())
                .execute(&self.pool)
                .await?,
            Err((err, retry_at)) => {
                sqlx::query("UPDATE jobs SET status = CASE WHEN attempts >= 10 THEN 'failed' ELSE 'pending' END, last_error = $3, run_at = $4, owner = NULL, lease_until = NULL WHERE id = $1 AND owner = $2 AND status = 'running'")
                    .bind(id)
                    .bind(self.instance_id())
                    .bind(err)
                    .bind(retry_at)
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(done.rows_affected() == 1)
    }

    /// Jobs whose instance stopped renewing their lease (it died, or lost the database
    /// for longer than a lease) go back to the queue; a job whose lease expired on its
    /// tenth attempt is left failed (it may be what kills its worker). A job another
    /// live instance is running keeps its lease and is never taken (issue #12). Returns
    /// how many were taken back.
    pub async fn requeue_expired_jobs(&self, now: Ts) -> Result<u64> {
        Ok(sqlx::query("UPDATE jobs SET status = CASE WHEN attempts >= 10 THEN 'failed' ELSE 'pending' END, last_error = 'its worker stopped before finishing (lease expired)', owner = NULL, lease_until = NULL WHERE status = 'running' AND (lease_until IS NULL OR lease_until < $1)")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// A job's state as the queue holds it: status, owner, lease end, attempts (tests
    /// and the desk).
    pub async fn job_state(
        &self,
        id: i64,
    ) -> Result<Option<(String, Option<String>, Option<Ts>, i64)>> {
        let row =
            sqlx::query("SELECT status, owner, lease_until, attempts FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok((
                r.try_get("status")?,
                r.try_get("owner")?,
                r.try_get("lease_until")?,
                r.try_get("attempts")?,
            ))
        })
        .transpose()
    }
}
