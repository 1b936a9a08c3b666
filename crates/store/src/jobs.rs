//! The job queue (outbox): side effects are rows written in the same transaction as
//! the change that causes them; workers claim and run them.

use crate::{Result, Store, Ts};
use sqlx::{Any, Row, Transaction};

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
pub async fn enqueue(
    tx: &mut Transaction<'static, Any>,
    kind: &str,
    payload: &serde_json::Value,
    run_at: Ts,
) -> Result<()> {
    sqlx::query("INSERT INTO jobs (kind, payload, run_at, status, attempts, created_at) VALUES ($1, $2, $3, 'pending', 0, $3)")
        .bind(kind)
        .bind(payload.to_string())
        .bind(run_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Queues many jobs of one kind inside `tx`, 500 rows per statement.
pub async fn enqueue_many(
    tx: &mut Transaction<'static, Any>,
    kind: &str,
    payloads: &[serde_json::Value],
    run_at: Ts,
) -> Result<()> {
    for chunk in payloads.chunks(500) {
        let sql = format!(
            "INSERT INTO jobs (kind, payload, run_at, created_at, status, attempts) VALUES {}",
            crate::sql::placeholders(chunk.len(), 4, 0).replace(')', ", 'pending', 0)")
        );
        let mut q = sqlx::query(&sql);
        for p in chunk {
            q = q
                .bind(kind.to_owned())
                .bind(p.to_string())
                .bind(run_at)
                .bind(run_at);
        }
        q.execute(&mut **tx).await?;
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

    /// Claims the oldest due job, marking it running. On PostgreSQL, `SKIP LOCKED` lets
    /// several instances share the queue.
    pub async fn claim_job(&self, now: Ts) -> Result<Option<Job>> {
        let sql = match self.backend {
            crate::Backend::Postgres => {
                "UPDATE jobs SET status = 'running', attempts = attempts + 1 WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_at <= $1 ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, kind, payload, attempts"
            }
            crate::Backend::Sqlite => {
                "UPDATE jobs SET status = 'running', attempts = attempts + 1 WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_at <= $1 ORDER BY run_at, id LIMIT 1) RETURNING id, kind, payload, attempts"
            }
        };
        let row = sqlx::query(sql)
            .bind(now)
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

    /// Marks a job done, or puts it back for a retry at `retry_at` with the error.
    pub async fn finish_job(
        &self,
        id: i64,
        outcome: std::result::Result<(), (String, Ts)>,
    ) -> Result<()> {
        match outcome {
            Ok(()) => sqlx::query("UPDATE jobs SET status = 'done', last_error = NULL WHERE id = $1").bind(id).execute(&self.pool).await?,
            Err((err, retry_at)) => {
                sqlx::query("UPDATE jobs SET status = CASE WHEN attempts >= 10 THEN 'failed' ELSE 'pending' END, last_error = $2, run_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(err)
                    .bind(retry_at)
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(())
    }

    /// Jobs left running by a process that died: back to pending.
    pub async fn requeue_running_jobs(&self) -> Result<u64> {
        Ok(
            sqlx::query("UPDATE jobs SET status = 'pending' WHERE status = 'running'")
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
