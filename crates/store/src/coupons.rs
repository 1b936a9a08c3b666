//! Coupons (クーポン, R-CP1): issued by staff for a dealer (特約店コード), listed to the
//! accounts with that dealer code, and used once by one new or renewal application —
//! atomically, in the transaction that stores the application.

use crate::audit::{AuditEvent, append};
use crate::{Result, Store, StoreError, Ts};
use shomei_model::Actor;
use shomei_model::Service;
use sqlx::Row;

/// A coupon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    /// Id.
    pub id: i64,
    /// クーポン番号.
    pub number: String,
    /// The service it pays for.
    pub service: Service,
    /// The term it pays for, in years.
    pub term_years: i64,
    /// 特約店コード.
    pub dealer_code: String,
    /// Usable until.
    pub expires_at: Ts,
    /// Issued at.
    pub created_at: Ts,
    /// The application that used it.
    pub used_by: Option<i64>,
    /// When.
    pub used_at: Option<Ts>,
}

/// What staff issue.
#[derive(Debug, Clone)]
pub struct NewCoupons {
    /// The numbers (already checked and unique among themselves).
    pub numbers: Vec<String>,
    /// Service.
    pub service: Service,
    /// Term in years.
    pub term_years: i64,
    /// 特約店コード.
    pub dealer_code: String,
    /// Usable until.
    pub expires_at: Ts,
    /// The issuing form's one-time token: the same batch is issued once (double submit).
    pub batch: String,
}

const COLS: &str = "id, number, service, term_years, dealer_code, expires_at, created_at, used_by_application, used_at";

fn coupon(r: &sqlx::any::AnyRow) -> Result<Coupon> {
    let service: String = r.try_get("service")?;
    Ok(Coupon {
        id: r.try_get("id")?,
        number: r.try_get("number")?,
        service: Service::from_code(&service).ok_or_else(|| StoreError::corrupt(service))?,
        term_years: r.try_get("term_years")?,
        dealer_code: r.try_get("dealer_code")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
        used_by: r.try_get("used_by_application")?,
        used_at: r.try_get("used_at")?,
    })
}

impl Store {
    /// Issues coupons in one transaction with its audit event and returns their numbers;
    /// a batch already issued returns its numbers instead (a repeated form). A number
    /// already taken refuses the whole batch ([`StoreError::is_unique_violation`]).
    pub async fn issue_coupons(
        &self,
        staff_id: i64,
        c: &NewCoupons,
        now: Ts,
    ) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        let done: Vec<String> =
            sqlx::query_scalar("SELECT number FROM coupons WHERE batch = $1 ORDER BY id")
                .bind(&c.batch)
                .fetch_all(&mut *tx)
                .await?;
        if !done.is_empty() {
            return Ok(done);
        }
        for n in &c.numbers {
            sqlx::query("INSERT INTO coupons (number, service, term_years, dealer_code, expires_at, created_at, created_by, batch) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(n)
                .bind(c.service.code())
                .bind(c.term_years)
                .bind(&c.dealer_code)
                .bind(c.expires_at)
                .bind(now)
                .bind(staff_id)
                .bind(&c.batch)
                .execute(&mut *tx)
                .await?;
        }
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Staff(staff_id),
                "coupons.issued",
                format!("dealer:{}", c.dealer_code),
                serde_json::json!({ "numbers": c.numbers, "service": c.service.code(), "term_years": c.term_years, "expires_at": c.expires_at }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(c.numbers.clone())
    }

    /// The coupons of a dealer code, newest first (クーポン管理).
    pub async fn coupons_of_dealer(&self, dealer_code: &str) -> Result<Vec<Coupon>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM coupons WHERE dealer_code = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(dealer_code)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(coupon).collect()
    }

    /// Whether any account has this dealer code (issue #8 item 5).
    pub async fn dealer_code_in_use(&self, dealer_code: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE dealer_code = $1")
            .bind(dealer_code)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// The latest batch this staff member issued since `since` with the same service,
    /// term, dealer code and last day, if any (issue #8 item 5: a repeated press).
    pub async fn recent_same_batch(
        &self,
        staff_id: i64,
        c: &NewCoupons,
        since: Ts,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT batch FROM coupons WHERE created_by = $1 AND service = $2 AND term_years = $3 AND dealer_code = $4 AND expires_at = $5 AND created_at >= $6 AND batch <> $7 ORDER BY id DESC LIMIT 1")
            .bind(staff_id)
            .bind(c.service.code())
            .bind(c.term_years)
            .bind(&c.dealer_code)
            .bind(c.expires_at)
            .bind(since)
            .bind(&c.batch)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The numbers of a batch.
    pub async fn coupon_batch(&self, batch: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT number FROM coupons WHERE batch = $1 ORDER BY id")
                .bind(batch)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The most recently issued coupons (the desk's list).
    pub async fn recent_coupons(&self, limit: i64) -> Result<Vec<Coupon>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM coupons ORDER BY id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(coupon).collect()
    }

    /// Unused, unexpired coupons of a dealer for a service and term (the pull-down of
    /// R-N2 / R-R4).
    pub async fn usable_coupons(
        &self,
        dealer_code: &str,
        service: Service,
        term_years: i64,
        now: Ts,
    ) -> Result<Vec<Coupon>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM coupons WHERE dealer_code = $1 AND service = $2 AND term_years = $3 AND expires_at > $4 AND used_by_application IS NULL ORDER BY expires_at, number"
        ))
        .bind(dealer_code)
        .bind(service.code())
        .bind(term_years)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(coupon).collect()
    }
}

/// Inside the submission's transaction: takes coupon `number` for `application_id` if
/// it is unused, unexpired and matches the account's dealer code, the service and the
/// term; otherwise [`StoreError::CouponUnavailable`] (and the caller rolls back). One
/// conditional UPDATE: of concurrent submissions, exactly one gets it.
pub(crate) async fn take(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    number: &str,
    application_id: i64,
    account_id: i64,
    service: Service,
    term_years: i64,
    now: Ts,
) -> Result<()> {
    let n = sqlx::query("UPDATE coupons SET used_by_application = $2, used_at = $3 WHERE number = $1 AND used_by_application IS NULL AND expires_at > $3 AND service = $4 AND term_years = $5 AND dealer_code = (SELECT dealer_code FROM accounts WHERE id = $6)")
        .bind(number)
        .bind(application_id)
        .bind(now)
        .bind(service.code())
        .bind(term_years)
        .bind(account_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::CouponUnavailable)
    }
}

/// Inside a withdrawal's or rejection's transaction: the coupon becomes usable again.
pub(crate) async fn release(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    application_id: i64,
) -> Result<()> {
    sqlx::query("UPDATE coupons SET used_by_application = NULL, used_at = NULL WHERE used_by_application = $1")
        .bind(application_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
