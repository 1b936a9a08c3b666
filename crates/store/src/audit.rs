//! The audit log (BR 5.4.1): append-only, each event chained to the previous one by
//! SHA-256 so that a changed or deleted row is evident ([`Store::verify_audit_chain`]).
//! Events are written inside the transaction of the change they record.

use crate::exec::Exec;
use crate::{Result, Store, StoreError, Ts};
use sha2::{Digest, Sha256};
use shomei_model::Actor;
use sqlx::Row;

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When, Unix seconds.
    pub at: Ts,
    /// Who: `customer:12`, `staff:3`, `system`, `cli`, `anonymous`.
    pub actor: String,
    /// What: `login.success`, `application.submitted`, `certificate.issued`, …
    pub action: String,
    /// On what: `application:7`, `account:12`, …
    pub subject: String,
    /// Details as JSON text (never secrets).
    pub detail: String,
}

impl AuditEvent {
    /// An event with a JSON detail.
    pub fn new(
        at: Ts,
        actor: Actor,
        action: &str,
        subject: impl Into<String>,
        detail: serde_json::Value,
    ) -> Self {
        AuditEvent {
            at,
            actor: actor.to_string(),
            action: action.into(),
            subject: subject.into(),
            detail: detail.to_string(),
        }
    }
}

fn chain_hash(prev: &str, seq: i64, e: &AuditEvent) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &seq.to_string(),
        &e.at.to_string(),
        &e.actor,
        &e.action,
        &e.subject,
        &e.detail,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends `event` inside `tx`. The head row's update serialises concurrent writers.
pub async fn append<E: Exec>(tx: &mut E, event: &AuditEvent) -> Result<()> {
    append_many(tx, std::slice::from_ref(event)).await
}

/// Appends `events` inside `tx`, in order, each chained to the one before, with one
/// update of the head and one insert per 500 events (a mass revocation writes
/// thousands).
pub async fn append_many<E: Exec>(tx: &mut E, events: &[AuditEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let n =
        i64::try_from(events.len()).map_err(|_| StoreError::Conflict("too many events".into()))?;
    let head = tx
        .rows(
            "UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, last_hash",
            vec![n.into()],
        )
        .await?;
    let head = head
        .first()
        .ok_or_else(|| StoreError::corrupt("audit head missing"))?;
    let last = head.int(0)?;
    let mut prev = head.text(1)?;
    let mut seq = last - n;
    for chunk in events.chunks(500) {
        let sql = format!(
            "INSERT INTO audit_events (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES {}",
            crate::sql::placeholders(chunk.len(), 8, 0)
        );
        let mut args = Vec::with_capacity(chunk.len() * 8);
        for e in chunk {
            seq += 1;
            let hash = chain_hash(&prev, seq, e);
            args.extend([
                seq.into(),
                e.at.into(),
                e.actor.clone().into(),
                e.action.clone().into(),
                e.subject.clone().into(),
                e.detail.clone().into(),
                std::mem::replace(&mut prev, hash.clone()).into(),
                hash.into(),
            ]);
        }
        tx.run(&sql, args).await?;
    }
    tx.run(
        "UPDATE audit_head SET last_hash = $1 WHERE id = 1",
        vec![prev.into()],
    )
    .await?;
    Ok(())
}

impl Store {
    /// Writes a lone event (a login failure, a start-up) in its own transaction.
    pub async fn audit(&self, event: &AuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        append(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Events about `subject`, oldest first.
    pub async fn audit_events_for(&self, subject: &str) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query("SELECT at, actor, action, subject, detail FROM audit_events WHERE subject = $1 ORDER BY seq")
            .bind(subject)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_of).collect()
    }

    /// The most recent `n` events about `subject`, newest first (e.g. a login history).
    pub async fn recent_events_for(&self, subject: &str, n: i64) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query("SELECT at, actor, action, subject, detail FROM audit_events WHERE subject = $1 ORDER BY seq DESC LIMIT $2")
            .bind(subject)
            .bind(n)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_of).collect()
    }

    /// The most recent `n` events, newest first.
    pub async fn recent_audit_events(&self, n: i64) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query("SELECT at, actor, action, subject, detail FROM audit_events ORDER BY seq DESC LIMIT $1")
            .bind(n)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_of).collect()
    }

    /// Recomputes the whole chain; returns the number of events, or the first broken seq.
    pub async fn verify_audit_chain(&self) -> Result<std::result::Result<i64, i64>> {
        let rows = sqlx::query("SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_events ORDER BY seq")
            .fetch_all(&self.pool)
            .await?;
        let mut prev = "0".repeat(64);
        let mut expected_seq = 1;
        for r in &rows {
            let seq: i64 = r.try_get("seq")?;
            let e = event_of(r)?;
            let stored_prev: String = r.try_get("prev_hash")?;
            let stored: String = r.try_get("hash")?;
            if seq != expected_seq || stored_prev != prev || chain_hash(&prev, seq, &e) != stored {
                return Ok(Err(seq));
            }
            prev = stored;
            expected_seq += 1;
        }
        let head: String = sqlx::query_scalar("SELECT last_hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        if head != prev {
            return Ok(Err(expected_seq));
        }
        Ok(Ok(rows.len() as i64))
    }
}

fn event_of(r: &sqlx::any::AnyRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        subject: r.try_get("subject")?,
        detail: r.try_get("detail").map_err(StoreError::corrupt)?,
    })
}
