//! Revocation records (R-A1: a revocation is its own record), the phone confirmation
//! that revokes (R-V4), blocked keys. The CRL state lives in [`crate::crls`].

use crate::audit::{AuditEvent, append};
use crate::jobs::enqueue;
use crate::sql::CERT_KINDS;
use crate::{Result, Store, StoreError, Ts};
use shomei_model::Actor;
use sqlx::Row;

pub use crate::crls::{CrlBuildLock, RevokedEntry, StoredCrl};

impl Store {
    /// Whether a revocation of `target_id` is waiting for its phone confirmation.
    pub async fn revocation_pending(&self, target_id: i64) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM applications WHERE target_id = $1 AND kind IN ('revocation', 'cancellation') AND status IN ('phone_pending', 'received')")
            .bind(target_id)
            .fetch_one(self.reader())
            .await?;
        Ok(n > 0)
    }

    /// Staff could not reach the registrant to confirm a revocation request (issue #8
    /// item 7): the attempt and its note are recorded; the request keeps waiting, with
    /// its deadline. Returns whether the request was waiting.
    pub async fn revocation_unreachable(
        &self,
        id: i64,
        staff_id: i64,
        note: &str,
        now: Ts,
    ) -> Result<bool> {
        self.revocation_call(id, staff_id, note, now, false).await
    }

    /// The registrant denies having asked for the revocation (issue #8 item 7): the
    /// request is rejected with the note as its reason and nothing is revoked.
    pub async fn revocation_denied(
        &self,
        id: i64,
        staff_id: i64,
        note: &str,
        now: Ts,
    ) -> Result<bool> {
        self.revocation_call(id, staff_id, note, now, true).await
    }

    /// A phone call about a waiting revocation request that did not confirm it, in one
    /// transaction with its audit event: `denied` rejects the request with the note.
    async fn revocation_call(
        &self,
        id: i64,
        staff_id: i64,
        note: &str,
        now: Ts,
        denied: bool,
    ) -> Result<bool> {
        let (sql, action) = if denied {
            (
                "UPDATE applications SET status = 'rejected', reject_reason = $3, updated_at = $2 WHERE id = $1 AND kind = 'revocation' AND status = 'phone_pending'",
                "revocation.denied",
            )
        } else {
            (
                "UPDATE applications SET updated_at = $2 WHERE id = $1 AND kind = 'revocation' AND status = 'phone_pending' AND $3 <> ''",
                "revocation.unreachable",
            )
        };
        let mut tx = self.begin().await?;
        let n = sqlx::query(sql)
            .bind(id)
            .bind(now)
            .bind(note)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Staff(staff_id),
                action,
                format!("application:{id}"),
                serde_json::json!({ "note": note }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a revocation request (R-V2) as its own record, 電話確認待ち, with its audit
    /// event and the staff notice, in one transaction. Idempotent per draft (R-A4).
    /// The target must be the account's, 完了, with a live certificate and no pending
    /// revocation; otherwise [`StoreError::Conflict`].
    pub async fn submit_revocation(
        &self,
        account_id: i64,
        draft_id: &str,
        target_id: i64,
        reason: &str,
        now: Ts,
    ) -> Result<(i64, bool)> {
        match self
            .try_submit_termination(account_id, draft_id, target_id, "revocation", reason, now)
            .await
        {
            Err(e) if e.is_unique_violation() => {
                let id: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM applications WHERE draft_id = $1 AND account_id = $2",
                )
                .bind(draft_id)
                .bind(account_id)
                .fetch_optional(self.reader())
                .await?;
                id.map(|id| (id, false)).ok_or(e)
            }
            other => other,
        }
    }

    /// Stores a cancellation (解約) request: its own record, 申込受付, ending the contract
    /// and revoking its certificate (cessationOfOperation) once staff confirm it.
    /// Same eligibility and idempotency as a revocation request.
    pub async fn submit_cancellation(
        &self,
        account_id: i64,
        draft_id: &str,
        target_id: i64,
        now: Ts,
    ) -> Result<(i64, bool)> {
        match self
            .try_submit_termination(
                account_id,
                draft_id,
                target_id,
                "cancellation",
                "end_of_service",
                now,
            )
            .await
        {
            Err(e) if e.is_unique_violation() => {
                let id: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM applications WHERE draft_id = $1 AND account_id = $2",
                )
                .bind(draft_id)
                .bind(account_id)
                .fetch_optional(self.reader())
                .await?;
                id.map(|id| (id, false)).ok_or(e)
            }
            other => other,
        }
    }

    #[allow(clippy::too_many_arguments)] // One transaction; each argument is one fact of it.
    async fn try_submit_termination(
        &self,
        account_id: i64,
        draft_id: &str,
        target_id: i64,
        kind: &str,
        reason: &str,
        now: Ts,
    ) -> Result<(i64, bool)> {
        let mut tx = self.begin().await?;
        let existing: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT application_id FROM drafts WHERE id = $1 AND account_id = $2",
        )
        .bind(draft_id)
        .bind(account_id)
        .fetch_optional(&mut *tx)
        .await?;
        match existing {
            None => return Err(StoreError::Conflict("no such draft".into())),
            Some(Some(id)) => return Ok((id, false)),
            Some(None) => {}
        }
        let allowed: i64 = sqlx::query_scalar(&format!(
"SELECT COUNT(*) FROM applications a JOIN certificates c ON c.application_id = a.id AND c.status = 'issued' AND c.revoked_at IS NULL AND c.not_after > $3 \
             WHERE a.id = $1 AND a.account_id = $2 AND a.status = 'completed' AND a.kind IN {CERT_KINDS} \
             AND NOT EXISTS (SELECT 1 FROM applications r WHERE r.target_id = a.id AND r.kind IN ('revocation', 'cancellation') AND r.status IN ('phone_pending', 'received'))"),
        )
        .bind(target_id)
        .bind(account_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        if allowed == 0 {
            return Err(StoreError::Conflict(
                "revocation not allowed for this record".into(),
            ));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO applications (account_id, contract_id, draft_id, kind, service, term_years, contract_type, status, server_type, csr_pem, common_name, names, spki_sha256, key_desc, details, target_id, revocation_reason, created_at, updated_at, org_name, contract_code, contract_ends_at) \
             SELECT account_id, contract_id, $2, $5, service, term_years, contract_type, CASE WHEN $5 = 'revocation' THEN 'phone_pending' ELSE 'received' END, server_type, '', common_name, names, spki_sha256, key_desc, details, id, $3, $4, $4, org_name, contract_code, contract_ends_at FROM applications WHERE id = $1 RETURNING id",
        )
        .bind(target_id)
        .bind(draft_id)
        .bind(reason)
        .bind(now)
        .bind(kind)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE drafts SET application_id = $2, step = 'submitted', updated_at = $3 WHERE id = $1").bind(draft_id).bind(id).bind(now).execute(&mut *tx).await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Customer(account_id),
                &format!("{kind}.requested"),
                format!("application:{id}"),
                serde_json::json!({ "target": target_id, "reason": reason }),
            ),
        )
        .await?;
        enqueue(
            &mut tx,
            "mail.staff_revocation_request",
            &serde_json::json!({ "application_id": id }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((id, true))
    }

    /// Staff record the phone confirmation (R-V4): the certificate is revoked with
    /// `crl_reason`, the record becomes 完了, all in one transaction with the audit
    /// events; the RA re-signs the CRL right after (and `Ra::current_crl` catches up
    /// after a crash). For key compromise (`block_key`), the key is
    /// blocked and every other unexpired certificate with it is revoked too
    /// (CA-RULES "Key compromise"). Returns the revoked serials.
    pub async fn confirm_revocation(
        &self,
        revocation_id: i64,
        staff_id: i64,
        crl_reason: i64,
        block_key: bool,
        now: Ts,
    ) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("UPDATE applications SET status = 'completed', completed_at = $2, updated_at = $2 WHERE id = $1 AND ((kind = 'revocation' AND status = 'phone_pending') OR (kind = 'cancellation' AND status = 'received')) RETURNING target_id, spki_sha256, kind")
            .bind(revocation_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Err(StoreError::Conflict("not waiting for confirmation".into()));
        };
        let target: i64 = row.try_get("target_id")?;
        let spki: String = row.try_get("spki_sha256")?;
        let kind: String = row.try_get("kind")?;
        if kind == "cancellation" {
            // 解約: the contract ends now.
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
                    Actor::Staff(staff_id),
                    "contract.cancelled",
                    format!("application:{target}"),
                    serde_json::json!({ "request": revocation_id }),
                ),
            )
            .await?;
        }
        let actor = Actor::Staff(staff_id);
        let rows = sqlx::query("UPDATE certificates SET revoked_at = $2, revocation_reason = $3 WHERE application_id = $1 AND status = 'issued' AND revoked_at IS NULL RETURNING id, serial, application_id")
            .bind(target)
            .bind(now)
            .bind(crl_reason)
            .fetch_all(&mut *tx)
            .await?;
        let mut revoked: Vec<RevokedCert> = Vec::new();
        for r in &rows {
            revoked.push(RevokedCert {
                id: r.try_get("id")?,
                serial: r.try_get("serial")?,
                application_id: r.try_get("application_id")?,
                reason: crl_reason,
            });
        }
        if block_key {
            let source = format!("application:{revocation_id}");
            revoked.extend(block_compromised_key(&mut tx, &spki, &source, actor, now).await?);
        }
        let request = serde_json::json!({ "request": revocation_id });
        let serials = after_revocation(&mut tx, &revoked, actor, &request, now).await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                actor,
                "revocation.confirmed",
                format!("application:{revocation_id}"),
                serde_json::json!({ "serials": serials }),
            ),
        )
        .await?;
        enqueue(
            &mut tx,
            "mail.revoked",
            &serde_json::json!({ "application_id": revocation_id }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(serials)
    }

    /// Whether a key (SHA-256 of its SPKI) is blocked.
    pub async fn is_key_blocked(&self, spki_sha256: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blocked_keys WHERE spki_sha256 = $1")
            .bind(spki_sha256)
            .fetch_one(self.reader())
            .await?;
        Ok(n > 0)
    }
}

/// Blocks a compromised key from now on (refused at submission and issuance), audited
/// on `source`.
pub(crate) async fn block_key(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    spki: &str,
    source: &str,
    actor: Actor,
    now: Ts,
) -> Result<()> {
    sqlx::query("INSERT INTO blocked_keys (spki_sha256, reason, source, blocked_at) VALUES ($1, 'keyCompromise', $2, $3) ON CONFLICT (spki_sha256) DO NOTHING")
        .bind(spki)
        .bind(source)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    append(
        tx,
        &AuditEvent::new(
            now,
            actor,
            "key.blocked",
            source,
            serde_json::json!({ "spki_sha256": spki }),
        ),
    )
    .await
}

/// Blocks a compromised key and revokes every other live certificate with it
/// (CA-RULES "Key compromise"), audited. Returns those it revoked.
pub(crate) async fn block_compromised_key(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    spki: &str,
    source: &str,
    actor: Actor,
    now: Ts,
) -> Result<Vec<RevokedCert>> {
    block_key(tx, spki, source, actor, now).await?;
    let more = sqlx::query("UPDATE certificates SET revoked_at = $2, revocation_reason = 1 WHERE spki_sha256 = $1 AND status = 'issued' AND revoked_at IS NULL AND not_after > $2 RETURNING id, serial, application_id")
        .bind(spki)
        .bind(now)
        .fetch_all(&mut **tx)
        .await?;
    more.iter()
        .map(|r| {
            Ok(RevokedCert {
                id: r.try_get("id")?,
                serial: r.try_get("serial")?,
                application_id: r.try_get("application_id")?,
                reason: 1,
            })
        })
        .collect()
}

/// A certificate just revoked in a transaction.
#[derive(Debug)]
pub(crate) struct RevokedCert {
    /// Its row.
    pub(crate) id: i64,
    /// Its serial, hex.
    pub(crate) serial: String,
    /// Its application.
    pub(crate) application_id: i64,
    /// The CRL reason code.
    pub(crate) reason: i64,
}

/// After certificates were revoked in `tx`: their pre-built OCSP responses are gone at
/// once (the next request or the refresh builds the "revoked" one) and each revocation
/// is audited with `context`. Returns the serials.
pub(crate) async fn after_revocation(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    revoked: &[RevokedCert],
    actor: Actor,
    context: &serde_json::Value,
    now: Ts,
) -> Result<Vec<String>> {
    let mut serials = Vec::new();
    for RevokedCert {
        id,
        serial,
        application_id: app,
        reason,
    } in revoked
    {
        sqlx::query("DELETE FROM ocsp_responses WHERE cert_id = $1")
            .bind(*id)
            .execute(&mut **tx)
            .await?;
        let mut detail = serde_json::json!({ "serial": serial, "reason": reason });
        if let (Some(d), Some(c)) = (detail.as_object_mut(), context.as_object()) {
            d.extend(c.clone());
        }
        append(
            tx,
            &AuditEvent::new(
                now,
                actor,
                "certificate.revoked",
                format!("application:{app}"),
                detail,
            ),
        )
        .await?;
        serials.push(serial.clone());
    }
    Ok(serials)
}

impl Store {
    /// Revokes one issued certificate with `crl_reason` (ACME revokeCert, RFC 8555 7.6;
    /// the operator's `shomei certificate revoke`); on key compromise its key is blocked
    /// and every other certificate with it revoked.
    /// One transaction with the audit events. `None` if it was already revoked.
    pub async fn revoke_certificate(
        &self,
        cert_id: i64,
        crl_reason: i64,
        block_key: bool,
        actor: Actor,
        now: Ts,
    ) -> Result<Option<Vec<String>>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("UPDATE certificates SET revoked_at = $2, revocation_reason = $3 WHERE id = $1 AND status = 'issued' AND revoked_at IS NULL RETURNING id, serial, application_id, spki_sha256")
            .bind(cert_id)
            .bind(now)
            .bind(crl_reason)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let serial: String = row.try_get("serial")?;
        let app: i64 = row.try_get("application_id")?;
        let spki: String = row.try_get("spki_sha256")?;
        let mut revoked = vec![RevokedCert {
            id: cert_id,
            serial,
            application_id: app,
            reason: crl_reason,
        }];
        if block_key {
            let source = format!("application:{app}");
            revoked.extend(block_compromised_key(&mut tx, &spki, &source, actor, now).await?);
        }
        let via = match actor {
            Actor::Acme(_) | Actor::Anonymous => "acme",
            Actor::Cli => "cli",
            Actor::Staff(_) => "desk",
            Actor::Customer(_) => "portal",
            Actor::System => "system",
        };
        let context = serde_json::json!({ "via": via });
        let serials = after_revocation(&mut tx, &revoked, actor, &context, now).await?;
        fail::fail_point!("store.revocation.commit");
        tx.commit().await?;
        Ok(Some(serials))
    }

    /// The ACME account that ordered the certificate of record `application_id`, if an
    /// ACME order made it.
    pub async fn acme_orderer(&self, application_id: i64) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT acme_account_id FROM acme_orders WHERE application_id = $1")
                .bind(application_id)
                .fetch_optional(self.reader())
                .await?,
        )
    }
}
