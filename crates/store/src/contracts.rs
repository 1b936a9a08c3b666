//! What later flows ask of a contract: its period, whether it was switched or reissued,
//! and validations reused from earlier approvals (継続発行, BR 4.2.1).

use crate::applications::Validation;
use crate::audit::{AuditEvent, append};
use crate::sql::VOID;
use crate::{Result, Store, Ts};
use shomei_model::Actor;
use sqlx::Row;

impl Store {
    /// The contract (start, end) of an application, if it has one.
    pub async fn contract_period(&self, application_id: i64) -> Result<Option<(Ts, Ts)>> {
        let row = sqlx::query("SELECT c.starts_at, c.ends_at FROM applications a JOIN contracts c ON c.id = a.contract_id WHERE a.id = $1")
            .bind(application_id)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| Ok((r.try_get("starts_at")?, r.try_get("ends_at")?)))
            .transpose()
    }
}

/// One certificate of a contract (issue #8 item 9: the coverage timeline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractCert {
    /// The record that issued it.
    pub application_id: i64,
    /// Its kind code (new, renewal, reissue, continuation, switch).
    pub kind: String,
    /// Serial, hex.
    pub serial: String,
    /// notBefore.
    pub not_before: Ts,
    /// notAfter.
    pub not_after: Ts,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Ts>,
}

impl Store {
    /// Every issued certificate of the contract of `application_id`, oldest first.
    pub async fn contract_certificates(&self, application_id: i64) -> Result<Vec<ContractCert>> {
        let rows = sqlx::query("SELECT a.id, a.kind, ce.serial, ce.not_before, ce.not_after, ce.revoked_at FROM applications a JOIN certificates ce ON ce.application_id = a.id AND ce.status = 'issued' WHERE a.contract_id = (SELECT contract_id FROM applications WHERE id = $1) ORDER BY ce.not_before, ce.id")
            .bind(application_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ContractCert {
                    application_id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    serial: r.try_get("serial")?,
                    not_before: r.try_get("not_before")?,
                    not_after: r.try_get("not_after")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// R-R5: whether a service switch of the contract of `record` is under way or done
    /// (a contract is switched once; its time moves to the new contract).
    pub async fn has_switch(&self, record: i64) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM applications s JOIN applications t ON t.id = s.target_id WHERE s.kind = 'switch' AND s.status NOT IN {VOID} AND t.contract_id = (SELECT contract_id FROM applications WHERE id = $1)"))
            .bind(record)
            .fetch_one(self.reader())
            .await?;
        Ok(n > 0)
    }

    /// Reissues in the contract of `contract_target` that were not withdrawn or
    /// rejected: R-RI3 allows one for EV.
    pub async fn reissue_count(&self, contract_target: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(&format!("SELECT COUNT(*) FROM applications WHERE kind = 'reissue' AND status NOT IN {VOID} AND contract_id = (SELECT contract_id FROM applications WHERE id = $1)"))
            .bind(contract_target)
            .fetch_one(self.reader())
            .await?)
    }
}

/// A validation reused from an earlier approval (BR 4.2.1): original date and staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReusedValidation {
    /// The validation, with its original `validated_at`.
    pub validation: Validation,
    /// Who validated it then (`None`: the validation engine checked it).
    pub staff_id: Option<i64>,
}

impl Store {
    /// Approves without staff by reusing earlier validations (継続発行): records them with
    /// their original dates and staff, moves the application to 審査中 for issuance, and
    /// audits it as the system's decision. Returns false if it was not waiting.
    pub async fn approve_by_reuse(
        &self,
        id: i64,
        reused: &[ReusedValidation],
        now: Ts,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("UPDATE applications SET status = 'under_review', updated_at = $2 WHERE id = $1 AND status = 'received' RETURNING account_id")
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(false) };
        let account_id: i64 = row.try_get("account_id")?;
        for r in reused {
            let v = &r.validation;
            sqlx::query("INSERT INTO validations (application_id, account_id, kind, subject, method, validated_at, staff_id) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(id)
                .bind(account_id)
                .bind(&v.kind)
                .bind(&v.subject)
                .bind(&v.method)
                .bind(v.validated_at)
                .bind(r.staff_id)
                .execute(&mut *tx)
                .await?;
        }
        let detail: Vec<_> = reused.iter().map(|r| serde_json::json!({"kind": r.validation.kind, "subject": r.validation.subject, "validated_at": r.validation.validated_at})).collect();
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::System,
                "application.approved_by_reuse",
                format!("application:{id}"),
                serde_json::json!({ "reused": detail }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The latest validation of `subject` as `kind` for this account, with its staff.
    pub async fn latest_validation_with_staff(
        &self,
        account_id: i64,
        kind: &str,
        subject: &str,
    ) -> Result<Option<ReusedValidation>> {
        let row = sqlx::query("SELECT validated_at, method, staff_id FROM validations WHERE account_id = $1 AND kind = $2 AND subject = $3 ORDER BY validated_at DESC LIMIT 1")
            .bind(account_id)
            .bind(kind)
            .bind(subject)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| {
            Ok(ReusedValidation {
                validation: Validation {
                    kind: kind.to_owned(),
                    subject: subject.to_owned(),
                    method: r.try_get("method")?,
                    validated_at: r.try_get("validated_at")?,
                },
                staff_id: r.try_get("staff_id")?,
            })
        })
        .transpose()
    }
}
