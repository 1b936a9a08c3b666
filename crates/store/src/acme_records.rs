//! Finalize's writes (issue #10; grouped for issue #11): the ACME 発行 record made from an
//! order, and the order's end.

use crate::acme_orders::{AcmeOrder, NewAcmeRecord};
use crate::audit::{AuditEvent, append};
use crate::exec::{Exec, Work};
use crate::jobs::enqueue;
use crate::{Result, Store, StoreError, Ts};
use shomei_model::{Actor, AppKind, AppStatus};

impl Store {
    /// Finalize: the ACME 発行 record under the order's contract, 審査中 at once with the
    /// validations it rests on, and the order `processing`, in one transaction with the
    /// audit event. `Conflict` if the order is not `ready`.
    pub async fn create_acme_record(
        &self,
        order: &AcmeOrder,
        r: &NewAcmeRecord,
        now: Ts,
    ) -> Result<i64> {
        let mut ids = self
            .create_acme_records(&[(order.clone(), r.clone(), now)])
            .await?;
        ids.pop()
            .ok_or_else(|| StoreError::corrupt("no record made"))
    }

    /// [`Store::create_acme_record`] for several finalizes in one transaction (a group
    /// commit of concurrent finalizes, issue #11 item 4): all or none; a `Conflict` of
    /// any fails the whole group (the caller writes each alone then).
    pub async fn create_acme_records(
        &self,
        items: &[(AcmeOrder, NewAcmeRecord, Ts)],
    ) -> Result<Vec<i64>> {
        self.write(AcmeRecords(items.to_vec())).await
    }
}

/// [`Store::create_acme_records`]' work.
struct AcmeRecords(Vec<(AcmeOrder, NewAcmeRecord, Ts)>);

impl Work for AcmeRecords {
    type Out = Vec<i64>;
    async fn run<E: Exec>(self, tx: &mut E) -> Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(self.0.len());
        for (order, r, now) in &self.0 {
            ids.push(create_acme_record_in(tx, order, r, *now).await?);
        }
        Ok(ids)
    }
}

/// One ACME record, inside `tx` ([`Store::create_acme_records`]).
async fn create_acme_record_in<E: Exec>(
    tx: &mut E,
    order: &AcmeOrder,
    r: &NewAcmeRecord,
    now: Ts,
) -> Result<i64> {
    let n = tx
        .run(
            "UPDATE acme_orders SET status = 'processing' WHERE id = $1 AND status = 'ready'",
            vec![order.id.into()],
        )
        .await?;
    if n != 1 {
        return Err(StoreError::Conflict("order not ready".into()));
    }
    let details = serde_json::to_string(&r.details).map_err(StoreError::corrupt)?;
    let common_name = r.names.first().cloned().unwrap_or_default();
    let id = tx
        .rows(
            "INSERT INTO applications (account_id, kind, service, term_years, contract_type, status, server_type, csr_pem, common_name, names, spki_sha256, key_desc, details, created_at, updated_at, target_id, contract_id, org_name, contract_code, contract_ends_at) \
             SELECT t.account_id, $2, t.service, t.term_years, t.contract_type, $3, t.server_type, $4, $5, $6, $7, $8, $9, $10, $10, t.id, t.contract_id, $11, t.contract_code, t.contract_ends_at FROM applications t WHERE t.id = $1 AND t.contract_id = $12 RETURNING id",
            vec![
                r.target_id.into(),
                AppKind::Acme.code().into(),
                AppStatus::UnderReview.code().into(),
                r.csr_pem.clone().into(),
                common_name.into(),
                r.names.join(" ").into(),
                r.spki_sha256.clone().into(),
                r.key_desc.clone().into(),
                details.into(),
                now.into(),
                r.details.organisation.name.clone().into(),
                order.contract_id.into(),
            ],
        )
        .await?
        .first()
        .map(|row| row.int(0))
        .transpose()?
        .ok_or_else(|| StoreError::Conflict("the contract's record moved".into()))?;
    for (v, staff) in &r.validations {
        tx.run("INSERT INTO validations (application_id, account_id, kind, subject, method, validated_at, staff_id) VALUES ($1, $2, $3, $4, $5, $6, $7)", vec![
            id.into(),
            order.account_id.into(),
            v.kind.clone().into(),
            v.subject.clone().into(),
            v.method.clone().into(),
            v.validated_at.into(),
            (*staff).into(),
        ])
        .await?;
    }
    tx.run(
        "UPDATE acme_orders SET application_id = $2 WHERE id = $1",
        vec![order.id.into(), id.into()],
    )
    .await?;
    append(
        tx,
        &AuditEvent::new(
            now,
            Actor::Acme(order.acme_account_id),
            "acme.order.finalized",
            format!("application:{id}"),
            serde_json::json!({ "order": order.id, "names": r.names, "spki_sha256": r.spki_sha256, "predecessor": r.target_id }),
        ),
    )
    .await?;
    // The first certificate ACME issues for a contract is told to its registration
    // contact (issue #10 "Notices").
    let earlier = tx
        .rows(
            "SELECT COUNT(*) FROM (SELECT 1 FROM applications WHERE contract_id = $1 AND kind = $2 AND id <> $3 LIMIT 1) e",
            vec![order.contract_id.into(), AppKind::Acme.code().into(), id.into()],
        )
        .await?
        .first()
        .map(|row| row.int(0))
        .transpose()?
        .unwrap_or(0);
    if earlier == 0 {
        enqueue(
            tx,
            "mail.acme_first_issuance",
            &serde_json::json!({ "application_id": id }),
            now,
        )
        .await?;
    }
    Ok(id)
}

impl Store {
    /// Ends an order: `valid` once its certificate is issued, or `invalid` with the
    /// problem (JSON) if issuance failed.
    pub async fn end_order(&self, order_id: i64, error: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE acme_orders SET status = $2, error = $3 WHERE id = $1 AND status = 'processing'")
            .bind(order_id)
            .bind(if error.is_some() { "invalid" } else { "valid" })
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
