//! Certificates: the serial is stored before anything is signed, then the linted
//! to-be-signed certificate, then the certificate (docs/issuance-cycle.md).

use crate::audit::{AuditEvent, append};
use crate::jobs::enqueue;
use crate::{Result, Store, StoreError, Ts};
use shomei_model::Actor;
use shomei_model::{ContractCode, ContractType, Service};
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
    /// PEM, once issued.
    pub pem: Option<String>,
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

impl Store {
    /// Step 1: stores a serial for `issuer` before anything is signed with it. A serial
    /// already used by that issuer gives a unique violation ([`StoreError::is_unique_violation`]).
    #[allow(clippy::too_many_arguments)] // One transaction; each argument is one fact of it.
    pub async fn reserve_serial(
        &self,
        issuer: &str,
        serial: &str,
        application_id: i64,
        not_before: Ts,
        not_after: Ts,
        spki_sha256: &str,
        crl_shard: i64,
        actor: Actor,
        now: Ts,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar("INSERT INTO certificates (issuer, serial, application_id, status, not_before, not_after, spki_sha256, created_at, crl_shard) VALUES ($1, $2, $3, 'reserved', $4, $5, $6, $7, $8) RETURNING id")
            .bind(issuer)
            .bind(serial)
            .bind(application_id)
            .bind(not_before)
            .bind(not_after)
            .bind(spki_sha256)
            .bind(now)
            .bind(crl_shard)
            .fetch_one(&mut *tx)
            .await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                actor,
                "serial.reserved",
                format!("application:{application_id}"),
                serde_json::json!({ "issuer": issuer, "serial": serial, "crl_shard": crl_shard }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Step 4: stores the linted to-be-signed certificate before signing.
    pub async fn store_linted(&self, cert_id: i64, tbs: &[u8]) -> Result<()> {
        let n = sqlx::query("UPDATE certificates SET tbs = $2, status = 'linted' WHERE id = $1 AND status = 'reserved'")
            .bind(cert_id)
            .bind(tbs.to_vec())
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "certificate {cert_id} not reserved"
            )))
        }
    }

    /// Step 6: in one transaction, stores the certificate, establishes the contract
    /// (its code, R-A2), marks the application 完了, audits and queues the issuance
    /// notice. Returns the contract code.
    #[allow(clippy::too_many_arguments)] // One transaction; each argument is one fact of it.
    pub async fn complete_issuance(
        &self,
        cert_id: i64,
        application_id: i64,
        der: &[u8],
        pem: &str,
        contract: Option<&NewContract>,
        supersede: Option<(i64, Ts)>,
        actor: Actor,
        now: Ts,
    ) -> Result<String> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE certificates SET der = $2, pem = $3, status = 'issued', issued_at = $4 WHERE id = $1 AND status = 'linted'")
            .bind(cert_id)
            .bind(der.to_vec())
            .bind(pem)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n != 1 {
            return Err(StoreError::Conflict(format!(
                "certificate {cert_id} not linted"
            )));
        }
        // A new contract (new, renewal), or the application's existing one (reissue).
        let (contract_id, code) = match contract {
            Some(contract) => {
                let contract_id: i64 = sqlx::query_scalar("INSERT INTO contracts (account_id, service, term_years, contract_type, starts_at, ends_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
                    .bind(contract.account_id)
                    .bind(contract.service.code())
                    .bind(contract.term_years)
                    .bind(contract.contract_type.code())
                    .bind(contract.starts_at)
                    .bind(contract.ends_at)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                let code = ContractCode::for_sequence(contract_id)
                    .ok_or_else(|| StoreError::Conflict("contract codes exhausted".into()))?;
                sqlx::query("UPDATE contracts SET code = $2 WHERE id = $1")
                    .bind(contract_id)
                    .bind(code.as_str())
                    .execute(&mut *tx)
                    .await?;
                (contract_id, code.as_str().to_owned())
            }
            None => {
                let row = sqlx::query("SELECT c.id, c.code FROM applications a JOIN contracts c ON c.id = a.contract_id WHERE a.id = $1")
                    .bind(application_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::Conflict(format!("application {application_id} has no contract")))?;
                let code: Option<String> = row.try_get("code")?;
                (row.try_get("id")?, code.unwrap_or_default())
            }
        };
        let n = sqlx::query("UPDATE applications SET status = 'completed', contract_id = $2, completed_at = $3, updated_at = $3, contract_code = $4, contract_ends_at = (SELECT ends_at FROM contracts WHERE id = $2), cert_issued_at = $3, cert_not_after = (SELECT not_after FROM certificates WHERE id = $5) WHERE id = $1 AND status = 'under_review'")
            .bind(application_id)
            .bind(contract_id)
            .bind(now)
            .bind(code.as_str())
            .bind(cert_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n != 1 {
            return Err(StoreError::Conflict(format!(
                "application {application_id} not under review"
            )));
        }
        let serial: String = sqlx::query_scalar("SELECT serial FROM certificates WHERE id = $1")
            .bind(cert_id)
            .fetch_one(&mut *tx)
            .await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                actor,
                "certificate.issued",
                format!("application:{application_id}"),
                serde_json::json!({ "serial": serial, "contract_code": code.as_str() }),
            ),
        )
        .await?;
        // Service switch (R-R5): the switched-from contract ends now; its remaining time
        // went into the new contract's end.
        let (kind, target): (String, Option<i64>) = {
            let r = sqlx::query("SELECT kind, target_id FROM applications WHERE id = $1")
                .bind(application_id)
                .fetch_one(&mut *tx)
                .await?;
            (r.try_get("kind")?, r.try_get("target_id")?)
        };
        if let ("switch", Some(target)) = (kind.as_str(), target) {
            sqlx::query("UPDATE contracts SET ends_at = $2 WHERE id = (SELECT contract_id FROM applications WHERE id = $1) AND ends_at > $2")
                .bind(target)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            crate::search::contract_ended(&mut tx, target, now).await?;
            append(
                &mut tx,
                &AuditEvent::new(
                    now,
                    actor,
                    "contract.switched",
                    format!("application:{target}"),
                    serde_json::json!({ "to_application": application_id, "to_contract": code.as_str() }),
                ),
            )
            .await?;
        }
        // Reissue (R-RI4): the old certificate is revoked by a job written here, in the
        // issuance transaction — at once, or 14 days later — so a restart cannot lose it.
        if let Some((target, run_at)) = supersede {
            enqueue(
                &mut tx,
                "revoke.superseded",
                &serde_json::json!({ "target": target, "by": application_id }),
                run_at,
            )
            .await?;
        }
        // Each portal issuance is mailed; ACME issues every few weeks without anyone
        // asking, so only a contract's first ACME certificate is (acme_orders.rs).
        let kind: String = sqlx::query_scalar("SELECT kind FROM applications WHERE id = $1")
            .bind(application_id)
            .fetch_one(&mut *tx)
            .await?;
        if kind != shomei_model::AppKind::Acme.code() {
            enqueue(
                &mut tx,
                "mail.issued",
                &serde_json::json!({ "application_id": application_id }),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(code.as_str().to_owned())
    }

    /// The issued certificate of an application, if any.
    pub async fn issued_certificate(
        &self,
        application_id: i64,
    ) -> Result<Option<CertificateRecord>> {
        let row = sqlx::query("SELECT id, issuer, serial, application_id, status, not_before, not_after, der, pem FROM certificates WHERE application_id = $1 AND status = 'issued' ORDER BY id DESC LIMIT 1")
            .bind(application_id)
            .fetch_optional(&self.pool)
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
                der: r.try_get("der")?,
                pem: r.try_get("pem")?,
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
            .fetch_optional(&self.pool)
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
                    der: r.try_get("der")?,
                    pem: r.try_get("pem")?,
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
        .fetch_all(&self.pool)
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
        .fetch_all(&self.pool)
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
        let rows = sqlx::query("UPDATE certificates SET revoked_at = $2, revocation_reason = 4 WHERE application_id = $1 AND status = 'issued' AND revoked_at IS NULL RETURNING serial")
            .bind(target)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
        let mut serials = Vec::new();
        for r in &rows {
            let serial: String = r.try_get("serial")?;
            sqlx::query("DELETE FROM ocsp_responses WHERE serial = $1")
                .bind(&serial)
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
