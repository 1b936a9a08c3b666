//! Certificates: the serial and the linted to-be-signed certificate are stored before
//! anything is signed, then the certificate (docs/issuance-cycle.md). Both writes take
//! many certificates at once: concurrent issuances share one transaction (group
//! commit, issue #11: their writes are in issuance.rs).

use crate::audit::{AuditEvent, append};
use crate::{Result, Store, Ts};
use shomei_model::Actor;
use shomei_model::{ContractType, Service};
use sqlx::Row;

/// A certificate row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Id.
    pub id: i64,
    /// Issuing CA slug.
    pub issuer: String,
    /// Serial, hex.
    pub serial: String,
    /// Application.
    pub application_id: i64,
    /// `reserved`, `linted`, `issued`.
    pub status: String,
    /// notBefore.
    pub not_before: Ts,
    /// notAfter.
    pub not_after: Ts,
    /// DER, once issued.
    pub der: Option<Vec<u8>>,
    /// PEM, once issued: made from the DER (rows written before issue #11 also stored
    /// it; those are read as stored).
    pub pem: Option<String>,
}

/// The stored PEM, else one made from the DER.
fn pem_of(stored: Option<String>, der: Option<&Vec<u8>>) -> Option<String> {
    stored
        .filter(|p| !p.is_empty())
        .or_else(|| der.map(|d| shomei_model::pem_encode("CERTIFICATE", d)))
}

/// The contract established by a first issuance.
#[derive(Debug, Clone)]
pub struct NewContract {
    /// Owner.
    pub account_id: i64,
    /// Service.
    pub service: Service,
    /// Term in years.
    pub term_years: i64,
    /// Contract type.
    pub contract_type: ContractType,
    /// Start.
    pub starts_at: Ts,
    /// End.
    pub ends_at: Ts,
}

pub use crate::issuance::{Completion, LintedCert};

impl Store {
    /// The issued certificate of an application, if any.
    pub async fn issued_certificate(
        &self,
        application_id: i64,
    ) -> Result<Option<CertificateRecord>> {
        let row = sqlx::query("SELECT id, issuer, serial, application_id, status, not_before, not_after, der, pem FROM certificates WHERE application_id = $1 AND status = 'issued' ORDER BY id DESC LIMIT 1")
            .bind(application_id)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| {
            Ok(CertificateRecord {
                id: r.try_get("id")?,
                issuer: r.try_get("issuer")?,
                serial: r.try_get("serial")?,
                application_id: r.try_get("application_id")?,
                status: r.try_get("status")?,
                not_before: r.try_get("not_before")?,
                not_after: r.try_get("not_after")?,
                pem: pem_of(
                    r.try_get("pem")?,
                    r.try_get::<Option<Vec<u8>>, _>("der")?.as_ref(),
                ),
                der: r.try_get("der")?,
            })
        })
        .transpose()
    }

    /// An issued certificate by issuer and serial (hex, lower case), with the time it was
    /// revoked if it was: what a site seal's verification page shows.
    pub async fn issued_by_serial(
        &self,
        issuer: &str,
        serial: &str,
    ) -> Result<Option<(CertificateRecord, Option<Ts>)>> {
        let row = sqlx::query("SELECT id, issuer, serial, application_id, status, not_before, not_after, der, pem, revoked_at FROM certificates WHERE issuer = $1 AND serial = $2 AND status = 'issued'")
            .bind(issuer)
            .bind(serial)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| {
            Ok((
                CertificateRecord {
                    id: r.try_get("id")?,
                    issuer: r.try_get("issuer")?,
                    serial: r.try_get("serial")?,
                    application_id: r.try_get("application_id")?,
                    status: r.try_get("status")?,
                    not_before: r.try_get("not_before")?,
                    not_after: r.try_get("not_after")?,
                    pem: pem_of(
                        r.try_get("pem")?,
                        r.try_get::<Option<Vec<u8>>, _>("der")?.as_ref(),
                    ),
                    der: r.try_get("der")?,
                },
                r.try_get("revoked_at")?,
            ))
        })
        .transpose()
    }

    /// Certificate rows of an application in any state (for the desk and recovery).
    pub async fn certificate_rows(
        &self,
        application_id: i64,
    ) -> Result<Vec<(i64, String, String)>> {
        let rows = sqlx::query(
            "SELECT id, serial, status FROM certificates WHERE application_id = $1 ORDER BY id",
        )
        .bind(application_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("serial")?, r.try_get("status")?)))
            .collect()
    }

    /// Applications approved (審査中 with validations recorded) that have no issued
    /// certificate: issuance was interrupted (process killed, CA error).
    pub async fn interrupted_issuances(&self) -> Result<Vec<i64>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT a.id FROM applications a WHERE a.status = 'under_review' AND EXISTS (SELECT 1 FROM validations v WHERE v.application_id = a.id) AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.application_id = a.id AND c.status = 'issued') ORDER BY a.id",
        )
        .fetch_all(self.reader())
        .await?;
        Ok(ids)
    }

    /// An issuance that failed after approval (issue #7 item 4): in one transaction the
    /// unfinished certificate rows become `failed` (serial and TBS kept, never reused),
    /// the application goes back from 審査中 to 受付 with the reason for staff, and the
    /// audit event is appended. Returns whether the application was 審査中.
    pub async fn issuance_failed(
        &self,
        application_id: i64,
        reason: &str,
        actor: Actor,
        now: Ts,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query("UPDATE certificates SET status = 'failed' WHERE application_id = $1 AND status IN ('reserved', 'linted') RETURNING serial")
            .bind(application_id)
            .fetch_all(&mut *tx)
            .await?;
        let serials: Vec<String> = rows
            .iter()
            .map(|r| r.try_get("serial"))
            .collect::<std::result::Result<_, _>>()?;
        let moved = sqlx::query("UPDATE applications SET status = 'received', issuance_error = $2, updated_at = $3 WHERE id = $1 AND status = 'under_review'")
            .bind(application_id)
            .bind(reason)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                actor,
                "issuance.failed",
                format!("application:{application_id}"),
                serde_json::json!({ "reason": reason, "serials": serials }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(moved)
    }

    /// Marks an application's unfinished certificate rows (`reserved`, `linted`)
    /// abandoned. They stay as a record: the serial and the linted TBS are never reused.
    pub async fn abandon_unfinished_certificates(
        &self,
        application_id: i64,
        actor: Actor,
        now: Ts,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE certificates SET status = 'abandoned' WHERE application_id = $1 AND status IN ('reserved', 'linted')")
            .bind(application_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            append(
                &mut tx,
                &AuditEvent::new(
                    now,
                    actor,
                    "issuance.abandoned",
                    format!("application:{application_id}"),
                    serde_json::json!({ "rows": n }),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Records a download (R-D2; used by search later) with its audit event.
    pub async fn mark_downloaded(
        &self,
        account_id: i64,
        application_id: i64,
        what: &str,
        now: Ts,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE applications SET downloaded_at = COALESCE(downloaded_at, $2) WHERE id = $1",
        )
        .bind(application_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Customer(account_id),
                "certificate.downloaded",
                format!("application:{application_id}"),
                serde_json::json!({ "what": what }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Revokes the issued, unrevoked certificate of `target` as superseded (reason 4),
    /// with audit events and the revocation mail. Idempotent. Returns the serials.
    pub async fn revoke_superseded(&self, target: i64, by: i64, now: Ts) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query("UPDATE certificates SET revoked_at = $2, revocation_reason = 4 WHERE application_id = $1 AND status = 'issued' AND revoked_at IS NULL RETURNING id, serial")
            .bind(target)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
        let mut serials = Vec::new();
        for r in &rows {
            let (id, serial): (i64, String) = (r.try_get("id")?, r.try_get("serial")?);
            sqlx::query("DELETE FROM ocsp_responses WHERE cert_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            append(
                &mut tx,
                &AuditEvent::new(
                    now,
                    Actor::System,
                    "certificate.revoked",
                    format!("application:{target}"),
                    serde_json::json!({ "serial": serial, "reason": 4, "superseded_by": by }),
                ),
            )
            .await?;
            serials.push(serial);
        }
        tx.commit().await?;
        Ok(serials)
    }
}
