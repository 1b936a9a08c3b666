//! One-time-password login (R-L6): each account's method, and the login challenges.
//! Every "use once" rule is one conditional UPDATE, so it holds across instances.

use crate::audit::{AuditEvent, append};
use crate::{Result, Store, Ts, flag};
use shomei_model::Actor;
use sqlx::Row;

/// An account's login settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpSettings {
    /// `certificate`, `otp_mail` or `otp_totp`.
    pub method: String,
    /// Where mailed codes go.
    pub otp_email: Option<String>,
    /// The TOTP secret, base32.
    pub totp_secret: Option<String>,
    /// Whether the customer has proved the authenticator app once (enrolment done).
    pub totp_confirmed: bool,
    /// The last TOTP time step accepted.
    pub totp_last_step: i64,
}

/// A login challenge after the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The account.
    pub account_id: i64,
    /// `mail` or `totp`.
    pub kind: String,
    /// SHA-256 of the token and the mailed code.
    pub code_hash: Option<String>,
    /// Until.
    pub expires_at: Ts,
    /// Wrong codes so far.
    pub tries: i64,
    /// Whether it was used.
    pub used: bool,
}

impl Store {
    /// An account's login settings.
    pub async fn otp_settings(&self, account_id: i64) -> Result<Option<OtpSettings>> {
        let row = sqlx::query("SELECT login_method, otp_email, totp_secret, totp_confirmed, totp_last_step FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(OtpSettings {
                method: r.try_get("login_method")?,
                otp_email: r.try_get("otp_email")?,
                totp_secret: r.try_get("totp_secret")?,
                totp_confirmed: flag(r.try_get("totp_confirmed")?),
                totp_last_step: r.try_get("totp_last_step")?,
            })
        })
        .transpose()
    }

    /// Every stored TOTP secret, by account (as stored: sealed, or clear from before).
    pub async fn totp_secrets(&self) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT id, totp_secret FROM accounts WHERE totp_secret IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("totp_secret")?)))
            .collect()
    }

    /// Replaces an account's stored TOTP secret if it is still `old` (re-sealing).
    pub async fn replace_totp_secret(&self, account_id: i64, old: &str, new: &str) -> Result<bool> {
        Ok(
            sqlx::query("UPDATE accounts SET totp_secret = $3 WHERE id = $1 AND totp_secret = $2")
                .bind(account_id)
                .bind(old)
                .bind(new)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    /// Staff set an account's login method (a new TOTP secret restarts enrolment).
    pub async fn set_login_method(
        &self,
        account_id: i64,
        method: &str,
        otp_email: Option<&str>,
        totp_secret: Option<&str>,
        actor: Actor,
        now: Ts,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE accounts SET login_method = $2, otp_email = $3, totp_secret = $4, totp_confirmed = 0, totp_last_step = 0 WHERE id = $1")
            .bind(account_id)
            .bind(method)
            .bind(otp_email)
            .bind(totp_secret)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        crate::sessions::end_sessions(&mut tx, crate::Realm::Customer, account_id).await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                actor,
                "login_method.set",
                format!("customer:{account_id}"),
                serde_json::json!({ "method": method, "otp_email": otp_email }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a new challenge.
    pub async fn create_challenge(&self, token_hash: &str, c: &Challenge, now: Ts) -> Result<()> {
        sqlx::query("INSERT INTO otp_challenges (token_hash, account_id, kind, code_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(token_hash)
            .bind(c.account_id)
            .bind(&c.kind)
            .bind(&c.code_hash)
            .bind(c.expires_at)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A challenge by its token's hash.
    pub async fn challenge(&self, token_hash: &str) -> Result<Option<Challenge>> {
        let row = sqlx::query("SELECT account_id, kind, code_hash, expires_at, tries, used FROM otp_challenges WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Challenge {
                account_id: r.try_get("account_id")?,
                kind: r.try_get("kind")?,
                code_hash: r.try_get("code_hash")?,
                expires_at: r.try_get("expires_at")?,
                tries: r.try_get("tries")?,
                used: flag(r.try_get("used")?),
            })
        })
        .transpose()
    }

    /// Counts a wrong code; returns the tries so far.
    pub async fn challenge_failed(&self, token_hash: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "UPDATE otp_challenges SET tries = tries + 1 WHERE token_hash = $1 RETURNING tries",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?
        .unwrap_or(i64::MAX))
    }

    /// Uses a challenge once: true for the one caller that gets it.
    pub async fn use_challenge(&self, token_hash: &str, max_tries: i64, now: Ts) -> Result<bool> {
        let n = sqlx::query("UPDATE otp_challenges SET used = 1 WHERE token_hash = $1 AND used = 0 AND tries < $2 AND expires_at > $3")
            .bind(token_hash)
            .bind(max_tries)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Accepts TOTP time step `step` once (RFC 6238 §5.2: a code is not accepted twice):
    /// true only if it is later than every step accepted before. Completes enrolment.
    pub async fn accept_totp_step(&self, account_id: i64, step: i64) -> Result<bool> {
        let n = sqlx::query("UPDATE accounts SET totp_last_step = $2, totp_confirmed = 1 WHERE id = $1 AND totp_last_step < $2")
            .bind(account_id)
            .bind(step)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }
}
