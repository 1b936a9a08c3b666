//! The domain checks of the validation engine (issue #10): each run recorded with the
//! contract (ACME) or the application (the portal's 確認する, staff, periodic), the
//! random values shown for an application's domains, and the questions asked of them
//! (reuse, rate limits, the desk's list, the failing-streak notice).

use crate::audit::{AuditEvent, append};
use crate::jobs::enqueue;
use crate::{Result, Store, Ts};
use shomei_model::Actor;
use sqlx::Row;

/// One run of the validation engine, to record on the contract.
#[derive(Debug, Clone)]
pub struct NewDomainCheck {
    /// The customer account.
    pub account_id: i64,
    /// The contract (ACME) …
    pub contract_id: Option<i64>,
    /// … or the application (the portal's checks).
    pub application_id: Option<i64>,
    /// The ACME account, for ACME checks.
    pub acme_account_id: Option<i64>,
    /// The domain.
    pub domain: String,
    /// The method (`http-01`, `dns-01`, `tls-alpn-01`, `dns-txt`, `http-file`).
    pub method: String,
    /// Whether the quorum of perspectives passed it.
    pub passed: bool,
    /// What was seen (the first failure's detail, or "").
    pub detail: String,
    /// Each perspective's result (JSON).
    pub perspectives: String,
}

/// A recorded domain check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainCheck {
    /// Its id.
    pub id: i64,
    /// The domain.
    pub domain: String,
    /// The method.
    pub method: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was seen.
    pub detail: String,
    /// Each perspective's result (JSON).
    pub perspectives: String,
    /// When.
    pub checked_at: Ts,
    /// The contract's code, if it was an ACME check.
    pub contract_code: Option<String>,
}

impl Store {
    /// How many failed domain checks the ACME account, and its contract, had since `since`.
    pub async fn failed_checks_since(&self, acme_account_id: i64, since: Ts) -> Result<(i64, i64)> {
        let row = sqlx::query("SELECT (SELECT COUNT(*) FROM domain_checks WHERE acme_account_id = $1 AND passed = 0 AND checked_at >= $2) AS mine, (SELECT COUNT(*) FROM domain_checks WHERE contract_id = (SELECT contract_id FROM acme_accounts WHERE id = $1) AND passed = 0 AND checked_at >= $2) AS contract")
            .bind(acme_account_id)
            .bind(since)
            .fetch_one(self.reader())
            .await?;
        Ok((row.try_get("mine")?, row.try_get("contract")?))
    }

    /// Records a domain check of the portal's (確認する, staff, periodic).
    pub async fn record_domain_check(
        &self,
        check: &NewDomainCheck,
        actor: Actor,
        now: Ts,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_check(&mut tx, check, now).await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                actor,
                if check.passed { "domain_check.passed" } else { "domain_check.failed" },
                check
                    .application_id
                    .map_or_else(|| format!("account:{}", check.account_id), |id| format!("application:{id}")),
                serde_json::json!({ "domain": check.domain, "method": check.method, "detail": check.detail, "perspectives": check.perspectives }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest passed ACME check of `domain` on the contract since `since`: (method,
    /// time), for reuse (BR 4.2.1, SC-081 periods).
    pub async fn passed_check(
        &self,
        contract_id: i64,
        domain: &str,
        since: Ts,
    ) -> Result<Option<(String, Ts)>> {
        Ok(sqlx::query_as("SELECT method, checked_at FROM domain_checks WHERE contract_id = $1 AND domain = $2 AND passed = 1 AND checked_at >= $3 ORDER BY checked_at DESC LIMIT 1")
            .bind(contract_id)
            .bind(domain)
            .bind(since)
            .fetch_optional(self.reader())
            .await?)
    }

    /// The recent domain checks of a customer account, newest first; failed ones only
    /// if `failed_only` (the desk).
    pub async fn domain_checks_of(
        &self,
        account_id: i64,
        failed_only: bool,
        limit: i64,
    ) -> Result<Vec<DomainCheck>> {
        let rows = sqlx::query("SELECT d.id, d.domain, d.method, d.passed, d.detail, d.perspectives, d.checked_at, c.code AS contract_code FROM domain_checks d LEFT JOIN contracts c ON c.id = d.contract_id WHERE d.account_id = $1 AND (d.passed = 0 OR $2 = 0) ORDER BY d.checked_at DESC, d.id DESC LIMIT $3")
            .bind(account_id)
            .bind(i64::from(failed_only))
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DomainCheck {
                    id: r.try_get("id")?,
                    domain: r.try_get("domain")?,
                    method: r.try_get("method")?,
                    passed: r.try_get::<i64, _>("passed")? != 0,
                    detail: r.try_get("detail")?,
                    perspectives: r.try_get("perspectives")?,
                    checked_at: r.try_get("checked_at")?,
                    contract_code: r.try_get("contract_code")?,
                })
            })
            .collect()
    }

    /// After a failed check: on the third failure in a row for the domain on the
    /// contract within a day, the technical contact is mailed (once per streak).
    pub async fn note_failing_validation(
        &self,
        contract_id: i64,
        domain: &str,
        detail: &str,
        now: Ts,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let recent: Vec<(i64,)> = sqlx::query_as("SELECT passed FROM domain_checks WHERE contract_id = $1 AND domain = $2 AND checked_at >= $3 AND method <> 'caa' ORDER BY checked_at DESC, id DESC LIMIT 3")
            .bind(contract_id)
            .bind(domain)
            .bind(now - 86_400)
            .fetch_all(&mut *tx)
            .await?;
        let earlier_fail: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM domain_checks WHERE contract_id = $1 AND domain = $2 AND checked_at >= $3 AND passed = 0 AND method <> 'caa'")
            .bind(contract_id)
            .bind(domain)
            .bind(now - 86_400)
            .fetch_one(&mut *tx)
            .await?;
        let streak = recent.len() == 3 && recent.iter().all(|(p,)| *p == 0) && earlier_fail == 3;
        if streak {
            let sql = format!(
                "SELECT a.id FROM applications a WHERE a.contract_id = $1 AND a.status = 'completed' AND a.kind IN {} ORDER BY a.id DESC LIMIT 1",
                crate::sql::PORTAL_CERT_KINDS
            );
            let app: Option<i64> = sqlx::query_scalar(&sql)
                .bind(contract_id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(app) = app {
                enqueue(
                    &mut tx,
                    "mail.validation_failing",
                    &serde_json::json!({ "application_id": app, "domain": domain, "detail": detail }),
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(streak)
    }
}

pub(crate) async fn insert_check(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    c: &NewDomainCheck,
    now: Ts,
) -> Result<()> {
    sqlx::query("INSERT INTO domain_checks (account_id, contract_id, application_id, acme_account_id, domain, method, passed, detail, perspectives, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        .bind(c.account_id)
        .bind(c.contract_id)
        .bind(c.application_id)
        .bind(c.acme_account_id)
        .bind(&c.domain)
        .bind(&c.method)
        .bind(i64::from(c.passed))
        .bind(&c.detail)
        .bind(&c.perspectives)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A domain of an application with its random value (the portal's validation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainChallenge {
    /// The domain (a wildcard's base).
    pub domain: String,
    /// The random value.
    pub value: String,
    /// When it stops being usable (BR: 30 days).
    pub expires_at: Ts,
    /// The newest check of the domain for this application: (passed, method, detail, time).
    pub last_check: Option<(bool, String, String, Ts)>,
    /// The newest passed check: (method, time).
    pub passed: Option<(String, Ts)>,
}

impl Store {
    /// Stores random values for the domains that have none (or an expired one), then
    /// returns every domain's value and its latest checks.
    pub async fn domain_challenges(
        &self,
        application_id: i64,
        fresh: &[(String, String)],
        now: Ts,
        lifetime: Ts,
    ) -> Result<Vec<DomainChallenge>> {
        let mut tx = self.begin().await?;
        for (domain, value) in fresh {
            sqlx::query("DELETE FROM domain_challenges WHERE application_id = $1 AND domain = $2 AND expires_at <= $3")
                .bind(application_id)
                .bind(domain)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO domain_challenges (application_id, domain, value, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (application_id, domain) DO NOTHING")
                .bind(application_id)
                .bind(domain)
                .bind(value)
                .bind(now)
                .bind(now + lifetime)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let rows = sqlx::query("SELECT domain, value, expires_at FROM domain_challenges WHERE application_id = $1 ORDER BY id")
            .bind(application_id)
            .fetch_all(self.reader())
            .await?;
        let mut out = Vec::new();
        for r in &rows {
            let domain: String = r.try_get("domain")?;
            let last = sqlx::query("SELECT passed, method, detail, checked_at FROM domain_checks WHERE application_id = $1 AND domain = $2 ORDER BY checked_at DESC, id DESC LIMIT 1")
                .bind(application_id)
                .bind(&domain)
                .fetch_optional(self.reader())
                .await?;
            let last_check = last
                .map(|l| -> Result<_> {
                    Ok((
                        l.try_get::<i64, _>("passed")? != 0,
                        l.try_get("method")?,
                        l.try_get("detail")?,
                        l.try_get("checked_at")?,
                    ))
                })
                .transpose()?;
            let passed: Option<(String, Ts)> = sqlx::query_as("SELECT method, checked_at FROM domain_checks WHERE application_id = $1 AND domain = $2 AND passed = 1 ORDER BY checked_at DESC, id DESC LIMIT 1")
                .bind(application_id)
                .bind(&domain)
                .fetch_optional(self.reader())
                .await?;
            out.push(DomainChallenge {
                value: r.try_get("value")?,
                expires_at: r.try_get("expires_at")?,
                domain,
                last_check,
                passed,
            });
        }
        Ok(out)
    }

    /// The open issuing records with a domain not yet passed and a usable random value
    /// (for the periodic checks), at most `limit`.
    pub async fn applications_awaiting_domain_checks(
        &self,
        now: Ts,
        limit: i64,
    ) -> Result<Vec<i64>> {
        let sql = format!(
            "SELECT DISTINCT d.application_id FROM domain_challenges d JOIN applications a ON a.id = d.application_id \
             WHERE a.status IN {} AND d.expires_at > $1 \
             AND NOT EXISTS (SELECT 1 FROM domain_checks k WHERE k.application_id = d.application_id AND k.domain = d.domain AND k.passed = 1) \
             ORDER BY d.application_id LIMIT $2",
            crate::sql::OPEN
        );
        let rows: Vec<(i64,)> = sqlx::query_as(&sql)
            .bind(now)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

impl Store {
    /// When the validation engine last passed `domain` of the application by `method`
    /// (since `since`).
    pub async fn passed_application_check(
        &self,
        application_id: i64,
        domain: &str,
        method: &str,
        since: Ts,
    ) -> Result<Option<Ts>> {
        Ok(sqlx::query_scalar("SELECT MAX(checked_at) FROM domain_checks WHERE application_id = $1 AND domain = $2 AND method = $3 AND passed = 1 AND checked_at >= $4")
            .bind(application_id)
            .bind(domain)
            .bind(method)
            .bind(since)
            .fetch_one(self.reader())
            .await?)
    }
}
