//! 更新のご案内メール: which contracts and certificates end soon, and a record of each
//! reminder sent so that none goes out twice.

use crate::jobs::enqueue;
use crate::sql::{PORTAL_CERT_KINDS, VOID};
use crate::{Result, Store, Ts};
use sqlx::Row;

/// Something that ends: a contract, or a certificate while its contract runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// `contract:<id>` or `certificate:<id>`.
    pub subject: String,
    /// The record whose contacts are mailed (the contract's latest completed record,
    /// or the certificate's record).
    pub application_id: i64,
    /// When it ends.
    pub ends_at: Ts,
}

impl Store {
    /// Contracts ending within `horizon` seconds of `now` that were not renewed or
    /// switched (no renewal or switch of any of their records under way or done), and
    /// certificates ending within the horizon whose contract runs on past them and that
    /// are still the contract's latest live certificate (not ACME's: its client renews).
    pub async fn endings(&self, now: Ts, horizon: Ts) -> Result<Vec<Ending>> {
        let mut out = Vec::new();
        let contracts = sqlx::query(&format!(
            "SELECT c.id, c.ends_at, (SELECT MAX(a.id) FROM applications a WHERE a.contract_id = c.id AND a.status = 'completed' AND a.kind IN {PORTAL_CERT_KINDS}) AS app \
             FROM contracts c WHERE c.ends_at > $1 AND c.ends_at <= $2 \
             AND NOT EXISTS (SELECT 1 FROM applications r JOIN applications t ON t.id = r.target_id \
                 WHERE t.contract_id = c.id AND r.kind IN ('renewal', 'switch') AND r.status NOT IN {VOID})"
        ))
        .bind(now)
        .bind(now + horizon)
        .fetch_all(&self.pool)
        .await?;
        for r in &contracts {
            if let Some(app) = r.try_get::<Option<i64>, _>("app")? {
                out.push(Ending {
                    subject: format!("contract:{}", r.try_get::<i64, _>("id")?),
                    application_id: app,
                    ends_at: r.try_get("ends_at")?,
                });
            }
        }
        let certs = sqlx::query(
            "SELECT cert.id, cert.application_id, cert.not_after FROM certificates cert \
             JOIN applications a ON a.id = cert.application_id JOIN contracts c ON c.id = a.contract_id \
             WHERE cert.status = 'issued' AND cert.revoked_at IS NULL AND cert.not_after > $1 AND cert.not_after <= $2 \
             AND c.ends_at > cert.not_after + 86400 AND a.kind <> 'acme' \
             AND NOT EXISTS (SELECT 1 FROM certificates c2 JOIN applications a2 ON a2.id = c2.application_id \
                 WHERE a2.contract_id = a.contract_id AND c2.status = 'issued' AND c2.id > cert.id)",
        )
        .bind(now)
        .bind(now + horizon)
        .fetch_all(&self.pool)
        .await?;
        for r in &certs {
            out.push(Ending {
                subject: format!("certificate:{}", r.try_get::<i64, _>("id")?),
                application_id: r.try_get("application_id")?,
                ends_at: r.try_get("not_after")?,
            });
        }
        Ok(out)
    }

    /// Records the reminder `days` before `ending` and queues its mail, in one
    /// transaction; returns false (and queues nothing) if it was already recorded.
    pub async fn record_reminder(&self, ending: &Ending, days: i64, now: Ts) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("INSERT INTO reminders (subject, days, application_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (subject, days) DO NOTHING")
            .bind(&ending.subject)
            .bind(days)
            .bind(ending.application_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        enqueue(
            &mut tx,
            "mail.reminder",
            &serde_json::json!({
                "application_id": ending.application_id,
                "subject": ending.subject,
                "days": days,
                "ends_at": ending.ends_at,
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
