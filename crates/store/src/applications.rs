//! Drafts and applications (お申込情報, R-A1). A draft holds what the customer typed,
//! server-side, so back, reload and double submit are safe (R-A4); submitting turns it
//! into exactly one application.

use crate::audit::{AuditEvent, append};
use crate::exec::Cols;
use crate::jobs::enqueue;
use crate::sql::{AWAITING_REVIEW, OPEN, REJECTABLE};
use crate::{Result, Store, StoreError, Ts};
use shomei_model::Actor;
use shomei_model::details::ApplicationDetails;
use shomei_model::{AppKind, AppStatus, ContractType, ServerType, Service};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A draft application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// Random id (in URLs).
    pub id: String,
    /// Owner.
    pub account_id: i64,
    /// Kind of application.
    pub kind: AppKind,
    /// The form data as JSON (owned by the web layer).
    pub data: String,
    /// The furthest step reached.
    pub step: String,
    /// Set once submitted.
    pub application_id: Option<i64>,
}

/// An application to store.
#[derive(Debug, Clone)]
pub struct NewApplication {
    /// Owner.
    pub account_id: i64,
    /// The draft it comes from (unique: one application per draft).
    pub draft_id: String,
    /// Kind.
    pub kind: AppKind,
    /// Service.
    pub service: Service,
    /// Term in years.
    pub term_years: i64,
    /// Contract type.
    pub contract_type: ContractType,
    /// サーバタイプ.
    pub server_type: ServerType,
    /// The checked CSR, PEM.
    pub csr_pem: String,
    /// サーバ名 (Common Name, or the first name).
    pub common_name: String,
    /// All DNS names.
    pub names: Vec<String>,
    /// SHA-256 of the CSR's public key.
    pub spki_sha256: String,
    /// "RSA 2048", "ECDSA P-256".
    pub key_desc: String,
    /// Organisation, contacts, EV data.
    pub details: ApplicationDetails,
    /// For a renewal or reissue: the record it continues.
    pub target_id: Option<i64>,
    /// For a reissue: `now` or `later` (R-RI4).
    pub reissue_revoke: Option<String>,
    /// クーポン番号 used (R-N2, R-R4), taken in the submission's transaction.
    pub coupon: Option<String>,
}

/// A stored application, with its contract code and certificate validity if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// Id.
    pub id: i64,
    /// Owner.
    pub account_id: i64,
    /// Kind.
    pub kind: AppKind,
    /// Service.
    pub service: Service,
    /// Term in years.
    pub term_years: i64,
    /// Contract type.
    pub contract_type: ContractType,
    /// Status.
    pub status: AppStatus,
    /// サーバタイプ.
    pub server_type: ServerType,
    /// CSR, PEM.
    pub csr_pem: String,
    /// サーバ名.
    pub common_name: String,
    /// DNS names.
    pub names: Vec<String>,
    /// SHA-256 of the public key.
    pub spki_sha256: String,
    /// Key description.
    pub key_desc: String,
    /// Organisation, contacts, EV data.
    pub details: ApplicationDetails,
    /// Why staff rejected it.
    pub reject_reason: Option<String>,
    /// お申込日.
    pub created_at: Ts,
    /// 更新日.
    pub updated_at: Ts,
    /// When it became 完了.
    pub completed_at: Option<Ts>,
    /// First certificate download.
    pub downloaded_at: Option<Ts>,
    /// 契約コード, once the contract is established (R-A2).
    pub contract_code: Option<String>,
    /// The issued certificate's notBefore.
    pub cert_not_before: Option<Ts>,
    /// The issued certificate's notAfter.
    pub cert_not_after: Option<Ts>,
    /// When the issued certificate was revoked.
    pub cert_revoked_at: Option<Ts>,
    /// For a revocation record: the record whose certificate it revokes.
    pub target_id: Option<i64>,
    /// For a revocation record: the reason code (`RevocationReason::code`).
    pub revocation_reason: Option<String>,
    /// What staff asked for while 書類提出待ち (R-LS3).
    pub documents_note: Option<String>,
    /// For a reissue: when the old certificate is revoked, `now` or `later` (R-RI4).
    pub reissue_revoke: Option<String>,
    /// クーポン番号 used, if any.
    pub coupon: Option<String>,
    /// Why the last issuance after approval failed (issue #7 item 4), until staff
    /// approve again.
    pub issuance_error: Option<String>,
}

/// One page of applications.
#[derive(Debug, Clone)]
pub struct ApplicationList {
    /// The rows.
    pub items: Vec<Application>,
    /// How many match in all.
    pub total: i64,
}

/// One validation recorded at approval: what was checked, how, when, by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// `organization`, `ev` or `domain`.
    pub kind: String,
    /// The organisation name or the domain.
    pub subject: String,
    /// The method (e.g. `registry`, `dns-txt`, `http-file`, `email-constructed`).
    pub method: String,
    /// When it was validated.
    pub validated_at: Ts,
}

pub(crate) const APP_COLS: &str = "a.id, a.account_id, a.kind, a.service, a.term_years, a.contract_type, a.status, a.server_type, a.csr_pem, a.common_name, a.names, a.spki_sha256, a.key_desc, a.details, a.reject_reason, a.created_at, a.updated_at, a.completed_at, a.downloaded_at, c.code AS contract_code, ce.not_before AS cert_not_before, ce.not_after AS cert_not_after, ce.revoked_at AS cert_revoked_at, a.target_id, a.revocation_reason, a.documents_note, a.reissue_revoke, a.coupon, a.issuance_error";
pub(crate) const APP_FROM: &str = "applications a LEFT JOIN contracts c ON c.id = a.contract_id LEFT JOIN certificates ce ON ce.application_id = a.id AND ce.status = 'issued'";

fn parse<T>(v: String, f: impl Fn(&str) -> Option<T>) -> Result<T> {
    f(&v).ok_or_else(|| StoreError::corrupt(v))
}

/// An application from a row with [`APP_COLS`], read through sqlx or rusqlite.
pub(crate) fn app_of<R: Cols>(r: &R) -> Result<Application> {
    let names: String = r.col("names")?;
    let details: String = r.col("details")?;
    Ok(Application {
        id: r.col("id")?,
        account_id: r.col("account_id")?,
        kind: parse(r.col("kind")?, AppKind::from_code)?,
        service: parse(r.col("service")?, Service::from_code)?,
        term_years: r.col("term_years")?,
        contract_type: parse(r.col("contract_type")?, ContractType::from_code)?,
        status: parse(r.col("status")?, AppStatus::from_code)?,
        server_type: parse(r.col("server_type")?, ServerType::from_code)?,
        csr_pem: r.col("csr_pem")?,
        common_name: r.col("common_name")?,
        names: names
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        spki_sha256: r.col("spki_sha256")?,
        key_desc: r.col("key_desc")?,
        details: serde_json::from_str(&details).map_err(StoreError::corrupt)?,
        reject_reason: r.col("reject_reason")?,
        created_at: r.col("created_at")?,
        updated_at: r.col("updated_at")?,
        completed_at: r.col("completed_at")?,
        downloaded_at: r.col("downloaded_at")?,
        contract_code: r.col("contract_code")?,
        cert_not_before: r.col("cert_not_before")?,
        cert_not_after: r.col("cert_not_after")?,
        cert_revoked_at: r.col("cert_revoked_at")?,
        target_id: r.col("target_id")?,
        revocation_reason: r.col("revocation_reason")?,
        documents_note: r.col("documents_note")?,
        reissue_revoke: r.col("reissue_revoke")?,
        coupon: r.col("coupon")?,
        issuance_error: r.col("issuance_error")?,
    })
}

fn draft_of(r: &AnyRow) -> Result<Draft> {
    Ok(Draft {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        kind: parse(r.try_get("kind")?, AppKind::from_code)?,
        data: r.try_get("data")?,
        step: r.try_get("step")?,
        application_id: r.try_get("application_id")?,
    })
}

impl Store {
    /// Creates a draft.
    pub async fn create_draft(&self, d: &Draft, now: Ts) -> Result<()> {
        sqlx::query("INSERT INTO drafts (id, account_id, kind, data, step, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)")
            .bind(&d.id)
            .bind(d.account_id)
            .bind(d.kind.code())
            .bind(&d.data)
            .bind(&d.step)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The draft `id` of `account_id` (another account's draft is not found).
    pub async fn draft(&self, account_id: i64, id: &str) -> Result<Option<Draft>> {
        sqlx::query("SELECT id, account_id, kind, data, step, application_id FROM drafts WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(draft_of)
            .transpose()
    }

    /// Saves a draft's data and step, unless it was already submitted. Returns whether
    /// it was saved.
    pub async fn update_draft(
        &self,
        account_id: i64,
        id: &str,
        data: &str,
        step: &str,
        now: Ts,
    ) -> Result<bool> {
        let n = sqlx::query("UPDATE drafts SET data = $3, step = $4, updated_at = $5 WHERE id = $1 AND account_id = $2 AND application_id IS NULL")
            .bind(id)
            .bind(account_id)
            .bind(data)
            .bind(step)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Submits: stores the application, its audit event and the staff notice job in one
    /// transaction. Idempotent per draft (R-A4): a second submit of the same draft, even
    /// concurrent, returns the first application's id and `false`.
    pub async fn submit_application(&self, a: &NewApplication, now: Ts) -> Result<(i64, bool)> {
        match self.try_submit(a, now).await {
            Ok(r) => Ok(r),
            Err(e) if e.is_unique_violation() => {
                let id: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM applications WHERE draft_id = $1 AND account_id = $2",
                )
                .bind(&a.draft_id)
                .bind(a.account_id)
                .fetch_optional(self.reader())
                .await?;
                id.map(|id| (id, false)).ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    async fn try_submit(&self, a: &NewApplication, now: Ts) -> Result<(i64, bool)> {
        let mut tx = self.begin().await?;
        let existing: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT application_id FROM drafts WHERE id = $1 AND account_id = $2",
        )
        .bind(&a.draft_id)
        .bind(a.account_id)
        .fetch_optional(&mut *tx)
        .await?;
        match existing {
            None => return Err(StoreError::Conflict("no such draft".into())),
            Some(Some(id)) => return Ok((id, false)),
            Some(None) => {}
        }
        let details = serde_json::to_string(&a.details).map_err(StoreError::corrupt)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO applications (account_id, draft_id, kind, service, term_years, contract_type, status, server_type, csr_pem, common_name, names, spki_sha256, key_desc, details, created_at, updated_at, target_id, reissue_revoke, contract_id, org_name, contract_code, contract_ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17, (SELECT contract_id FROM applications WHERE id = $18 AND $19 IN ('reissue', 'continuation')), $20, (SELECT contract_code FROM applications WHERE id = $18 AND $19 IN ('reissue', 'continuation')), (SELECT contract_ends_at FROM applications WHERE id = $18 AND $19 IN ('reissue', 'continuation'))) RETURNING id",
        )
        .bind(a.account_id)
        .bind(&a.draft_id)
        .bind(a.kind.code())
        .bind(a.service.code())
        .bind(a.term_years)
        .bind(a.contract_type.code())
        .bind(AppStatus::Received.code())
        .bind(a.server_type.code())
        .bind(&a.csr_pem)
        .bind(&a.common_name)
        .bind(a.names.join(" "))
        .bind(&a.spki_sha256)
        .bind(&a.key_desc)
        .bind(details)
        .bind(now)
        .bind(a.target_id)
        .bind(&a.reissue_revoke)
        .bind(a.target_id)
        .bind(a.kind.code())
        .bind(&a.details.organisation.name)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(number) = &a.coupon {
            crate::coupons::take(
                &mut tx,
                number,
                id,
                a.account_id,
                a.service,
                a.term_years,
                now,
            )
            .await?;
            sqlx::query("UPDATE applications SET coupon = $2 WHERE id = $1")
                .bind(id)
                .bind(number)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE drafts SET application_id = $2, step = 'submitted', updated_at = $3 WHERE id = $1")
            .bind(&a.draft_id)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let subject = format!("application:{id}");
        append(&mut tx, &AuditEvent::new(now, Actor::Customer(a.account_id), "application.submitted", &subject, serde_json::json!({
            "kind": a.kind.code(), "service": a.service.code(), "names": a.names, "spki_sha256": a.spki_sha256,
        })))
        .await?;
        enqueue(
            &mut tx,
            "mail.staff_new_application",
            &serde_json::json!({ "application_id": id }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((id, true))
    }

    /// The application `id` if it belongs to `account_id`.
    pub async fn application_of(&self, account_id: i64, id: i64) -> Result<Option<Application>> {
        let sql =
            format!("SELECT {APP_COLS} FROM {APP_FROM} WHERE a.id = $1 AND a.account_id = $2");
        sqlx::query(&sql)
            .bind(id)
            .bind(account_id)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(app_of)
            .transpose()
    }

    /// The application `id` (staff).
    pub async fn application(&self, id: i64) -> Result<Option<Application>> {
        let sql = format!("SELECT {APP_COLS} FROM {APP_FROM} WHERE a.id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(app_of)
            .transpose()
    }

    /// An account's applications, newest first, one page.
    pub async fn applications_of(
        &self,
        account_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<ApplicationList> {
        let sql = format!(
            "SELECT {APP_COLS} FROM {APP_FROM} WHERE a.account_id = $1 ORDER BY a.created_at DESC, a.id DESC LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(self.reader())
            .await?;
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM applications WHERE account_id = $1")
                .bind(account_id)
                .fetch_one(self.reader())
                .await?;
        Ok(ApplicationList {
            items: rows.iter().map(app_of).collect::<Result<_>>()?,
            total,
        })
    }

    /// Applications waiting for staff, oldest first.
    pub async fn open_applications(&self, limit: i64) -> Result<Vec<Application>> {
        let sql = format!(
            "SELECT {APP_COLS} FROM {APP_FROM} WHERE a.status IN {OPEN} ORDER BY a.created_at, a.id LIMIT $1"
        );
        let rows = sqlx::query(&sql)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(app_of).collect()
    }

    /// Staff reject an open application with a reason. Returns false if it was not open.
    pub async fn reject_application(
        &self,
        id: i64,
        staff_id: i64,
        reason: &str,
        now: Ts,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(&format!("UPDATE applications SET status = 'rejected', reject_reason = $2, updated_at = $3 WHERE id = $1 AND status IN {REJECTABLE}"))
            .bind(id)
            .bind(reason)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        crate::coupons::release(&mut tx, id).await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Staff(staff_id),
                "application.rejected",
                format!("application:{id}"),
                serde_json::json!({ "reason": reason }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Staff approve: records what was validated, how and when, and moves the
    /// application to 審査中 for issuance. Returns false if it was not open.
    pub async fn approve_application(
        &self,
        id: i64,
        staff_id: i64,
        validations: &[Validation],
        now: Ts,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!("UPDATE applications SET status = 'under_review', updated_at = $2, issuance_error = NULL, documents_note = NULL WHERE id = $1 AND status IN {AWAITING_REVIEW} RETURNING account_id"))
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(false) };
        let account_id: i64 = row.try_get("account_id")?;
        for v in validations {
            sqlx::query("INSERT INTO validations (application_id, account_id, kind, subject, method, validated_at, staff_id) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(id)
                .bind(account_id)
                .bind(&v.kind)
                .bind(&v.subject)
                .bind(&v.method)
                .bind(v.validated_at)
                .bind(staff_id)
                .execute(&mut *tx)
                .await?;
        }
        let detail: Vec<_> = validations.iter().map(|v| serde_json::json!({"kind": v.kind, "subject": v.subject, "method": v.method, "at": v.validated_at})).collect();
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Staff(staff_id),
                "application.approved",
                format!("application:{id}"),
                serde_json::json!({ "validations": detail }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The validations recorded for an application.
    pub async fn validations_of(&self, application_id: i64) -> Result<Vec<Validation>> {
        let rows = sqlx::query("SELECT kind, subject, method, validated_at FROM validations WHERE application_id = $1 ORDER BY id")
            .bind(application_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Validation {
                    kind: r.try_get("kind")?,
                    subject: r.try_get("subject")?,
                    method: r.try_get("method")?,
                    validated_at: r.try_get("validated_at")?,
                })
            })
            .collect()
    }
}
