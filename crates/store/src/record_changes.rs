//! Changes to a record after it was submitted: withdrawal (申請取消, R-A5), documents
//! pending (書類提出待ち, R-LS3), and the contact change record (担当者変更, R-C1).

use crate::audit::{AuditEvent, append};
use crate::jobs::enqueue;
use crate::sql::{AWAITING_REVIEW, PORTAL_CERT_KINDS};
use crate::{Result, Store, StoreError, Ts};
use shomei_model::Actor;
use shomei_model::details::ApplicationDetails;
use sqlx::Row;

impl Store {
    /// The customer withdraws (申請取消) an application not yet done. Returns false if
    /// it was not the account's or no longer withdrawable.
    pub async fn withdraw_application(&self, account_id: i64, id: i64, now: Ts) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(&format!("UPDATE applications SET status = 'withdrawn', updated_at = $3 WHERE id = $1 AND account_id = $2 AND status IN {AWAITING_REVIEW}"))
            .bind(id)
            .bind(account_id)
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
                Actor::Customer(account_id),
                "application.withdrawn",
                format!("application:{id}"),
                serde_json::json!({}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Staff mark an application 書類提出待ち with a note of what is missing (R-LS3),
    /// and queue the "documents requested" mail.
    pub async fn request_documents(
        &self,
        id: i64,
        staff_id: i64,
        note: &str,
        now: Ts,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(&format!("UPDATE applications SET status = 'documents_pending', documents_note = $2, updated_at = $3 WHERE id = $1 AND status IN {AWAITING_REVIEW} AND kind <> 'revocation'"))
            .bind(id)
            .bind(note)
            .bind(now)
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
                "documents.requested",
                format!("application:{id}"),
                serde_json::json!({ "note": note }),
            ),
        )
        .await?;
        enqueue(
            &mut tx,
            "mail.documents_requested",
            &serde_json::json!({ "application_id": id }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Staff record that the documents arrived: back to 申込受付 for review.
    pub async fn documents_received(&self, id: i64, staff_id: i64, now: Ts) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE applications SET status = 'received', documents_note = NULL, updated_at = $2 WHERE id = $1 AND status = 'documents_pending'")
            .bind(id)
            .bind(now)
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
                "documents.received",
                format!("application:{id}"),
                serde_json::json!({}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Store {
    /// Stores a contact change request (R-C1) as its own record (R-A1), 申込受付, with
    /// `details` (the target's data with the new contacts), its audit event and the
    /// staff notice. The target must be the account's, an issuing record, 完了, with no
    /// open contact change. Idempotent per draft (R-A4).
    pub async fn submit_contact_change(
        &self,
        account_id: i64,
        draft_id: &str,
        target_id: i64,
        details: &ApplicationDetails,
        now: Ts,
    ) -> Result<(i64, bool)> {
        let details = serde_json::to_string(details).map_err(StoreError::corrupt)?;
        let attempt = async {
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
"SELECT COUNT(*) FROM applications a WHERE a.id = $1 AND a.account_id = $2 AND a.status = 'completed' AND a.kind IN {PORTAL_CERT_KINDS} \
                 AND NOT EXISTS (SELECT 1 FROM applications r WHERE r.target_id = a.id AND r.kind = 'contact_change' AND r.status IN {AWAITING_REVIEW})"),
            )
            .bind(target_id)
            .bind(account_id)
            .fetch_one(&mut *tx)
            .await?;
            if allowed == 0 {
                return Err(StoreError::Conflict(
                    "contact change not allowed for this record".into(),
                ));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO applications (account_id, contract_id, draft_id, kind, service, term_years, contract_type, status, server_type, csr_pem, common_name, names, spki_sha256, key_desc, details, target_id, created_at, updated_at, org_name, contract_code, contract_ends_at) \
                 SELECT account_id, contract_id, $2, 'contact_change', service, term_years, contract_type, 'received', server_type, '', common_name, names, spki_sha256, key_desc, $3, id, $4, $4, org_name, contract_code, contract_ends_at FROM applications WHERE id = $1 RETURNING id",
            )
            .bind(target_id)
            .bind(draft_id)
            .bind(&details)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("UPDATE drafts SET application_id = $2, step = 'submitted', updated_at = $3 WHERE id = $1").bind(draft_id).bind(id).bind(now).execute(&mut *tx).await?;
            append(
                &mut tx,
                &AuditEvent::new(
                    now,
                    Actor::Customer(account_id),
                    "contacts.change_requested",
                    format!("application:{id}"),
                    serde_json::json!({ "target": target_id }),
                ),
            )
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
        };
        match attempt.await {
            Err(e) if e.is_unique_violation() => {
                let id: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM applications WHERE draft_id = $1 AND account_id = $2",
                )
                .bind(draft_id)
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
                id.map(|id| (id, false)).ok_or(e)
            }
            other => other,
        }
    }

    /// Staff complete a contact change (R-C1): the record becomes 完了 and the contract's
    /// record takes the new contacts, in one transaction with the audit event.
    pub async fn complete_contact_change(&self, id: i64, staff_id: i64, now: Ts) -> Result<bool> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!("UPDATE applications SET status = 'completed', completed_at = $2, updated_at = $2 WHERE id = $1 AND kind = 'contact_change' AND status IN {AWAITING_REVIEW} RETURNING target_id, details"))
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(false) };
        let target: i64 = row.try_get("target_id")?;
        let details: String = row.try_get("details")?;
        sqlx::query("UPDATE applications SET details = $2, updated_at = $3 WHERE id = $1")
            .bind(target)
            .bind(&details)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Staff(staff_id),
                "contacts.changed",
                format!("application:{target}"),
                serde_json::json!({ "request": id }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a document the customer submitted for an application of theirs that is
    /// 書類提出待ち, with its audit event, in one transaction. The same file twice is
    /// stored once. Returns the document's id, or `None` if the application is not the
    /// account's or not waiting for documents.
    #[allow(clippy::too_many_arguments)] // Each argument is one column of the record.
    pub async fn add_document(
        &self,
        account_id: i64,
        application_id: i64,
        filename: &str,
        content_type: &str,
        sha256: &str,
        data: &[u8],
        now: Ts,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin().await?;
        let waiting: Option<i64> = sqlx::query_scalar("SELECT id FROM applications WHERE id = $1 AND account_id = $2 AND status = 'documents_pending'")
            .bind(application_id)
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
        if waiting.is_none() {
            return Ok(None);
        }
        if let Some(id) = sqlx::query_scalar::<_, i64>(
            "SELECT id FROM documents WHERE application_id = $1 AND sha256 = $2",
        )
        .bind(application_id)
        .bind(sha256)
        .fetch_optional(&mut *tx)
        .await?
        {
            return Ok(Some(id));
        }
        let id: i64 = sqlx::query_scalar("INSERT INTO documents (application_id, account_id, filename, content_type, size, sha256, data, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
            .bind(application_id)
            .bind(account_id)
            .bind(filename)
            .bind(content_type)
            .bind(i64::try_from(data.len()).unwrap_or(i64::MAX))
            .bind(sha256)
            .bind(data)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("UPDATE applications SET updated_at = $2 WHERE id = $1")
            .bind(application_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Customer(account_id),
                "documents.uploaded",
                format!("application:{application_id}"),
                serde_json::json!({ "document": id, "filename": filename, "content_type": content_type, "size": data.len(), "sha256": sha256 }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// The documents of an application: (id, filename, content type, size, uploaded at).
    pub async fn documents_of(&self, application_id: i64) -> Result<Vec<DocumentInfo>> {
        let rows = sqlx::query("SELECT id, filename, content_type, size, uploaded_at FROM documents WHERE application_id = $1 ORDER BY id")
            .bind(application_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(document_info).collect()
    }

    /// One document's content type and bytes.
    pub async fn document(
        &self,
        application_id: i64,
        id: i64,
    ) -> Result<Option<(DocumentInfo, Vec<u8>)>> {
        let row = sqlx::query("SELECT id, filename, content_type, size, uploaded_at, data FROM documents WHERE application_id = $1 AND id = $2")
            .bind(application_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((document_info(&r)?, r.try_get("data")?)))
            .transpose()
    }
}

fn document_info(r: &sqlx::any::AnyRow) -> Result<DocumentInfo> {
    Ok(DocumentInfo {
        id: r.try_get("id")?,
        filename: r.try_get("filename")?,
        content_type: r.try_get("content_type")?,
        size: r.try_get("size")?,
        uploaded_at: r.try_get("uploaded_at")?,
    })
}

/// A submitted document, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInfo {
    /// Id.
    pub id: i64,
    /// The file name the customer gave (sanitised).
    pub filename: String,
    /// `application/pdf`, `image/png` or `image/jpeg`.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// When.
    pub uploaded_at: Ts,
}
