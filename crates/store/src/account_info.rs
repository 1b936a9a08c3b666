//! アカウント情報 (R-AI1–R-AI4): stored as JSON per account, with the input waiting on
//! the confirmation screen kept beside it (so back and reload are safe).

use crate::audit::{AuditEvent, append};
use crate::{Result, Store, Ts};
use shomei_model::Actor;
use sqlx::Row;

impl Store {
    /// The registered information and the pending one (JSON).
    pub async fn account_info(&self, account_id: i64) -> Result<(Option<String>, Option<String>)> {
        let row = sqlx::query("SELECT data, pending FROM account_info WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok((r.try_get("data")?, r.try_get("pending")?)),
            None => Ok((None, None)),
        }
    }

    /// Keeps checked input for the confirmation screen.
    pub async fn stage_account_info(&self, account_id: i64, json: &str, now: Ts) -> Result<()> {
        sqlx::query("INSERT INTO account_info (account_id, pending, updated_at) VALUES ($1, $2, $3) ON CONFLICT (account_id) DO UPDATE SET pending = $2, updated_at = $3")
            .bind(account_id)
            .bind(json)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Registers the pending information in one transaction with its audit event; the
    /// account's 特約店コード follows it. False if nothing was pending.
    pub async fn register_account_info(&self, account_id: i64, now: Ts) -> Result<bool> {
        let mut tx = self.begin().await?;
        let pending: Option<Option<String>> =
            sqlx::query_scalar("SELECT pending FROM account_info WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(Some(json)) = pending else {
            return Ok(false);
        };
        sqlx::query("UPDATE account_info SET data = pending, pending = NULL, updated_at = $2 WHERE account_id = $1")
            .bind(account_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let dealer = serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|v| {
                v.get("dealer_code")
                    .and_then(|d| d.as_str())
                    .map(str::to_owned)
            });
        sqlx::query("UPDATE accounts SET dealer_code = $2 WHERE id = $1")
            .bind(account_id)
            .bind(dealer)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Customer(account_id),
                "account_info.registered",
                format!("customer:{account_id}"),
                serde_json::json!({}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
