//! Issuance's writes for many certificates at once (group commit, issue #11 item 4;
//! docs/issuance-cycle.md steps 2–6): the serial with its linted TBS before anything is
//! signed, then the certificate with its contract, 完了, audit, notice and first OCSP
//! response — every issuance queued at that moment in one transaction.

use crate::audit::{AuditEvent, append, append_many};
use crate::certificates::NewContract;
use crate::exec::{Exec, Val, Work};
use crate::jobs::{enqueue, enqueue_many};
use crate::{Result, Store, StoreError, Ts};
use shomei_model::{Actor, ContractCode};
use std::collections::{HashMap, HashSet};

/// A certificate about to be signed (docs/issuance-cycle.md steps 2–4): its serial and
/// its linted to-be-signed certificate.
#[derive(Debug, Clone)]
pub struct LintedCert {
    /// Issuing CA slug.
    pub issuer: String,
    /// Serial, hex.
    pub serial: String,
    /// The application it is issued for.
    pub application_id: i64,
    /// notBefore.
    pub not_before: Ts,
    /// notAfter.
    pub not_after: Ts,
    /// SHA-256 of the subject public key, hex.
    pub spki_sha256: String,
    /// Its CRL shard (-1: the undivided CRL).
    pub crl_shard: i64,
    /// The linted TBSCertificate, DER.
    pub tbs: Vec<u8>,
    /// Who issues.
    pub actor: Actor,
    /// When.
    pub at: Ts,
}

/// A signed certificate to record (step 6).
#[derive(Debug, Clone)]
pub struct Completion {
    /// The certificate's row ([`Store::write_issuances`]).
    pub cert_id: i64,
    /// Issuing CA slug.
    pub issuer: String,
    /// The application.
    pub application_id: i64,
    /// Serial, hex.
    pub serial: String,
    /// The certificate, DER (its PEM is made from it when read: stored once, not
    /// twice — issue #11, a third fewer bytes written per certificate).
    pub der: Vec<u8>,
    /// A new contract (new, renewal, switch), or `None`: the application's own (reissue,
    /// continuation, ACME).
    pub contract: Option<NewContract>,
    /// A reissue's old record and when its certificate is revoked (R-RI4).
    pub supersede: Option<(i64, Ts)>,
    /// The certificate's first OCSP response, stored with it.
    pub ocsp: Option<crate::ocsp::StoredOcsp>,
    /// Who issues.
    pub actor: Actor,
    /// When.
    pub at: Ts,
}

impl Store {
    /// The writes of concurrent issuances in one transaction (a group commit, issue
    /// #11): step 6 for `issued` — each certificate stored (status `issued`) with its
    /// first OCSP response, its contract established (its code, R-A2) or the
    /// application's own kept, the application marked 完了, the `certificate.issued`
    /// audit event, the issuance notice queued (not for ACME), a switched-from contract
    /// ended (R-R5), a reissue's revocation job written (R-RI4) — and steps 2 and 4 for
    /// `linted`: each serial with its linted TBS (status `linted`) and its
    /// `serial.reserved` audit event, stored before anything is signed with it.
    ///
    /// Any item that cannot be written fails the whole group: a serial its issuer
    /// already used (a unique violation, [`StoreError::is_unique_violation`]), a
    /// certificate no longer `linted`, an application no longer 審査中. Returns the
    /// linted rows' ids and the contract codes, each in order.
    pub async fn write_issuances(
        &self,
        linted: &[LintedCert],
        issued: &[Completion],
    ) -> Result<(Vec<i64>, Vec<String>)> {
        self.write(Issuances {
            linted: linted.to_vec(),
            issued: issued.to_vec(),
        })
        .await
    }

    /// Whether SQLite's writer of its own runs the group writes
    /// ([`Store::writer_session`]); otherwise [`Store::write_issuances`] does.
    pub fn has_writer_session(&self) -> bool {
        self.lite.is_some()
    }

    /// A certificate whose to-be-signed form failed its lint (step 3): its serial is
    /// kept as `failed` (never reused) with the `issuance.lint_failed` audit event.
    pub async fn record_lint_failure(&self, cert: &LintedCert, error: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO certificates (issuer, serial, application_id, status, not_before, not_after, spki_sha256, created_at, crl_shard) VALUES ($1, $2, $3, 'failed', $4, $5, $6, $7, $8)")
            .bind(&cert.issuer)
            .bind(&cert.serial)
            .bind(cert.application_id)
            .bind(cert.not_before)
            .bind(cert.not_after)
            .bind(&cert.spki_sha256)
            .bind(cert.at)
            .bind(cert.crl_shard)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &AuditEvent::new(
                cert.at,
                cert.actor,
                "issuance.lint_failed",
                format!("application:{}", cert.application_id),
                serde_json::json!({ "serial": cert.serial, "error": error }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl crate::exec::WriterSession {
    /// [`Store::write_issuances`] on this session's thread (SQLite's own writer).
    pub fn write_issuances(
        &self,
        linted: Vec<LintedCert>,
        issued: Vec<Completion>,
    ) -> Result<(Vec<i64>, Vec<String>)> {
        self.write(Issuances { linted, issued })
    }
}

/// [`Store::write_issuances`]' work.
struct Issuances {
    linted: Vec<LintedCert>,
    issued: Vec<Completion>,
}

impl Work for Issuances {
    type Out = (Vec<i64>, Vec<String>);
    async fn run<E: Exec>(self, tx: &mut E) -> Result<Self::Out> {
        issuances_in(tx, &self.linted, &self.issued).await
    }
}

/// [`Store::write_issuances`] inside an open transaction: everything but the COMMIT.
async fn issuances_in<E: Exec>(
    tx: &mut E,
    linted: &[LintedCert],
    issued: &[Completion],
) -> Result<(Vec<i64>, Vec<String>)> {
    let mut events = Vec::with_capacity(linted.len() + issued.len());
    let mut codes = Vec::with_capacity(issued.len());
    for chunk in issued.chunks(200) {
        codes.extend(complete_chunk(tx, chunk).await?);
    }
    for (c, code) in issued.iter().zip(&codes) {
        events.push(AuditEvent::new(
            c.at,
            c.actor,
            "certificate.issued",
            format!("application:{}", c.application_id),
            serde_json::json!({ "serial": c.serial, "contract_code": code }),
        ));
    }
    let responses: Vec<(i64, &crate::ocsp::StoredOcsp)> = issued
        .iter()
        .filter_map(|c| Some((c.cert_id, c.ocsp.as_ref()?)))
        .collect();
    crate::ocsp::save_first_ocsp_in(tx, &responses).await?;
    let mut ids = Vec::with_capacity(linted.len());
    for chunk in linted.chunks(500) {
        ids.extend(insert_linted(tx, chunk).await?);
    }
    for c in linted {
        events.push(AuditEvent::new(
            c.at,
            c.actor,
            "serial.reserved",
            format!("application:{}", c.application_id),
            serde_json::json!({ "issuer": c.issuer, "serial": c.serial, "crl_shard": c.crl_shard }),
        ));
    }
    append_many(tx, &events).await?;
    fail::fail_point!("store.issuance.commit");
    Ok((ids, codes))
}

/// Step 6 of [`Store::write_issuances`] for up to 200 items, inside `tx`.
async fn complete_chunk<E: Exec>(tx: &mut E, items: &[Completion]) -> Result<Vec<String>> {
    use crate::sql::placeholders;
    // The certificates: only rows still `linted` become `issued`. The linted TBS is
    // dropped as the DER arrives: the signer checked the DER carries it byte for byte,
    // and keeping both added ~0.9 KB to every issued row (issue #11: fewer pages per
    // commit). A row that is never issued (`abandoned`, `failed`) keeps its TBS.
    let sql = format!(
        "UPDATE certificates SET der = v.column2, tbs = NULL, status = 'issued', issued_at = v.column3 FROM (VALUES {}) AS v WHERE certificates.id = v.column1 AND certificates.status = 'linted' RETURNING certificates.id",
        placeholders(items.len(), 3, 0)
    );
    let mut args = Vec::with_capacity(items.len() * 3);
    for c in items {
        args.extend([c.cert_id.into(), c.der.clone().into(), c.at.into()]);
    }
    let mut done = HashSet::new();
    for r in tx.rows(&sql, args).await? {
        done.insert(r.int(0)?);
    }
    if let Some(c) = items.iter().find(|c| !done.contains(&c.cert_id)) {
        return Err(StoreError::Conflict(format!(
            "certificate {} not linted",
            c.cert_id
        )));
    }
    // New contracts carry a placeholder code naming their application until their id,
    // hence their code, is known.
    let mut contracts: HashMap<i64, (i64, String)> = HashMap::new();
    let new: Vec<(&Completion, &NewContract)> = items
        .iter()
        .filter_map(|c| c.contract.as_ref().map(|k| (c, k)))
        .collect();
    if !new.is_empty() {
        let sql = format!(
            "INSERT INTO contracts (account_id, service, term_years, contract_type, starts_at, ends_at, created_at, code) VALUES {} RETURNING id, code",
            placeholders(new.len(), 8, 0)
        );
        let mut args = Vec::with_capacity(new.len() * 8);
        for (c, k) in &new {
            args.extend([
                k.account_id.into(),
                k.service.code().into(),
                k.term_years.into(),
                k.contract_type.code().into(),
                k.starts_at.into(),
                k.ends_at.into(),
                c.at.into(),
                format!("pending:{}", c.application_id).into(),
            ]);
        }
        let mut codes = Vec::with_capacity(new.len());
        for r in tx.rows(&sql, args).await? {
            let id = r.int(0)?;
            let placeholder = r.text(1)?;
            let app: i64 = placeholder
                .strip_prefix("pending:")
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| StoreError::corrupt(placeholder.clone()))?;
            let code = ContractCode::for_sequence(id)
                .ok_or_else(|| StoreError::Conflict("contract codes exhausted".into()))?;
            codes.push((id, code.as_str().to_owned()));
            contracts.insert(app, (id, code.as_str().to_owned()));
        }
        let sql = format!(
            "UPDATE contracts SET code = v.column2 FROM (VALUES {}) AS v WHERE contracts.id = v.column1",
            placeholders(codes.len(), 2, 0)
        );
        let mut args = Vec::with_capacity(codes.len() * 2);
        for (id, code) in codes {
            args.extend([id.into(), code.into()]);
        }
        tx.run(&sql, args).await?;
    }
    // A reissue, continuation or ACME certificate stays in its application's contract.
    let kept: Vec<Val> = items
        .iter()
        .filter(|c| c.contract.is_none())
        .map(|c| c.application_id.into())
        .collect();
    if !kept.is_empty() {
        let sql = format!(
            "SELECT a.id AS app, c.id, c.code FROM applications a JOIN contracts c ON c.id = a.contract_id WHERE a.id IN ({})",
            placeholders(kept.len(), 1, 0).replace(['(', ')'], "")
        );
        for r in tx.rows(&sql, kept).await? {
            contracts.insert(r.int(0)?, (r.int(1)?, r.opt_text(2)?.unwrap_or_default()));
        }
    }
    let mut rows = Vec::with_capacity(items.len());
    for c in items {
        let (contract_id, code) = contracts.get(&c.application_id).cloned().ok_or_else(|| {
            StoreError::Conflict(format!("application {} has no contract", c.application_id))
        })?;
        rows.push((c, contract_id, code));
    }
    // The applications: only those still 審査中 become 完了.
    let sql = format!(
        "UPDATE applications SET status = 'completed', contract_id = v.column2, completed_at = v.column4, updated_at = v.column4, contract_code = v.column3, contract_ends_at = (SELECT ends_at FROM contracts WHERE id = v.column2), cert_issued_at = v.column4, cert_not_after = (SELECT not_after FROM certificates WHERE id = v.column5) FROM (VALUES {}) AS v WHERE applications.id = v.column1 AND applications.status = 'under_review' RETURNING applications.id, applications.kind, applications.target_id",
        placeholders(rows.len(), 5, 0)
    );
    let mut args = Vec::with_capacity(rows.len() * 5);
    for (c, contract_id, code) in &rows {
        args.extend([
            c.application_id.into(),
            (*contract_id).into(),
            code.clone().into(),
            c.at.into(),
            c.cert_id.into(),
        ]);
    }
    let mut kinds: HashMap<i64, (String, Option<i64>)> = HashMap::new();
    for r in tx.rows(&sql, args).await? {
        kinds.insert(r.int(0)?, (r.text(1)?, r.opt_int(2)?));
    }
    let mut mails: Vec<(Ts, serde_json::Value)> = Vec::new();
    for (c, _, code) in &rows {
        let Some((kind, target)) = kinds.get(&c.application_id) else {
            return Err(StoreError::Conflict(format!(
                "application {} not under review",
                c.application_id
            )));
        };
        // Service switch (R-R5): the switched-from contract ends now; its remaining
        // time went into the new contract's end.
        if let ("switch", Some(target)) = (kind.as_str(), target) {
            tx.run("UPDATE contracts SET ends_at = $2 WHERE id = (SELECT contract_id FROM applications WHERE id = $1) AND ends_at > $2", vec![(*target).into(), c.at.into()])
                .await?;
            crate::search::contract_ended(tx, *target, c.at).await?;
            append(
                tx,
                &AuditEvent::new(
                    c.at,
                    c.actor,
                    "contract.switched",
                    format!("application:{target}"),
                    serde_json::json!({ "to_application": c.application_id, "to_contract": code }),
                ),
            )
            .await?;
        }
        // Reissue (R-RI4): the old certificate is revoked by a job written here, in the
        // issuance transaction — at once, or 14 days later — so a restart cannot lose it.
        if let Some((target, run_at)) = c.supersede {
            enqueue(
                tx,
                "revoke.superseded",
                &serde_json::json!({ "target": target, "by": c.application_id }),
                run_at,
            )
            .await?;
        }
        // Each portal issuance is mailed; ACME issues every few weeks without anyone
        // asking, so only a contract's first ACME certificate is (acme_orders.rs).
        if kind != shomei_model::AppKind::Acme.code() {
            mails.push((
                c.at,
                serde_json::json!({ "application_id": c.application_id }),
            ));
        }
    }
    // An ACME record's order is valid in the transaction that issues its certificate
    // (issue #11 item 4: no commit of its own after issuance, nothing left
    // `processing` by a crash in between).
    let acme: Vec<Val> = kinds
        .iter()
        .filter(|(_, (kind, _))| kind == shomei_model::AppKind::Acme.code())
        .map(|(id, _)| (*id).into())
        .collect();
    if !acme.is_empty() {
        let sql = format!(
            "UPDATE acme_orders SET status = 'valid', error = NULL WHERE status = 'processing' AND application_id IN ({})",
            placeholders(acme.len(), 1, 0).replace(['(', ')'], "")
        );
        tx.run(&sql, acme).await?;
    }
    let mut by_time: std::collections::BTreeMap<Ts, Vec<serde_json::Value>> = Default::default();
    for (at, payload) in mails {
        by_time.entry(at).or_default().push(payload);
    }
    for (at, payloads) in by_time {
        enqueue_many(tx, "mail.issued", &payloads, at).await?;
    }
    Ok(rows.into_iter().map(|(_, _, code)| code).collect())
}

/// Inserts up to 500 linted certificates inside `tx`; returns their ids in order.
async fn insert_linted<E: Exec>(tx: &mut E, certs: &[LintedCert]) -> Result<Vec<i64>> {
    let sql = format!(
        "INSERT INTO certificates (issuer, serial, application_id, status, not_before, not_after, spki_sha256, created_at, crl_shard, tbs) VALUES {} RETURNING id, issuer, serial",
        crate::sql::placeholders(certs.len(), 10, 0)
    );
    let mut args = Vec::with_capacity(certs.len() * 10);
    for c in certs {
        args.extend([
            c.issuer.clone().into(),
            c.serial.clone().into(),
            c.application_id.into(),
            "linted".into(),
            c.not_before.into(),
            c.not_after.into(),
            c.spki_sha256.clone().into(),
            c.at.into(),
            c.crl_shard.into(),
            c.tbs.clone().into(),
        ]);
    }
    let mut stored = HashMap::new();
    for r in tx.rows(&sql, args).await? {
        stored.insert((r.text(1)?, r.text(2)?), r.int(0)?);
    }
    certs
        .iter()
        .map(|c| {
            stored
                .get(&(c.issuer.clone(), c.serial.clone()))
                .copied()
                .ok_or_else(|| StoreError::corrupt(format!("serial {} not stored", c.serial)))
        })
        .collect()
}
