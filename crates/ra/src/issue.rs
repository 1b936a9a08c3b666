//! Approval and the single issuance path (docs/issuance-cycle.md). Every flow that
//! issues — new, renewal, reissue, switch, continuation and contract import, and ACME
//! next — goes through [`Ra::issue`].

use crate::cpu_pool::run as cpu;
use crate::{Ra, RaError, Result, SERVER_CA};
use shomei_ca::{
    BusinessCategory, CaError, CheckedCsr, EvSubject, OrgSubject, Serial, ServerOrder,
    check_csr_with,
};
use shomei_model::Actor;
use shomei_model::{AppKind, AppStatus, Service, validity_for};
use shomei_store::Validation;
use shomei_store::certificates::{Completion, LintedCert, NewContract};
use time::{Duration, OffsetDateTime};

/// Organisation validation methods (BR 3.2.2.1; EVG 11).
pub const ORG_METHODS: &[&str] = &["registry", "qualified-database", "attestation-letter"];
/// Domain validation methods (BR 3.2.2.4), by their section numbers' names.
pub const DOMAIN_METHODS: &[&str] = &[
    "dns-change",
    "http-file",
    "email-constructed",
    "email-dns-txt",
    "phone",
    "previous-system",
];

/// The methods the validation engine performs (issue #10): staff may choose one only
/// for a domain whose check passed (the engine's method name beside it).
pub const CHECKED_DOMAIN_METHODS: &[(&str, &str)] =
    &[("dns-change", "dns-txt"), ("http-file", "http-file")];

/// Whether staff must record a note with this method (the system cannot perform it).
pub fn needs_note(method: &str) -> bool {
    DOMAIN_METHODS.contains(&method) && !CHECKED_DOMAIN_METHODS.iter().any(|(m, _)| *m == method)
}

/// What staff attest at approval.
#[derive(Debug, Clone, Default)]
pub struct Approval {
    /// How the organisation was validated.
    pub org_method: String,
    /// How the EV data was validated (EV only).
    pub ev_method: Option<String>,
    /// For each domain of the application, how it was validated.
    pub domain_methods: Vec<(String, String)>,
    /// For each domain validated by a method the system cannot perform (a phone call,
    /// an email), what staff did: required for those methods.
    pub domain_notes: Vec<(String, String)>,
}

/// The result of an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The contract code (R-A2).
    pub contract_code: String,
    /// The certificate's serial, hex.
    pub serial: String,
}

/// The certificate subject of an application's validated data: the organisation, and
/// the EV data for EV services.
pub fn subjects_of(
    service: Service,
    details: &shomei_model::details::ApplicationDetails,
) -> Result<(OrgSubject, Option<EvSubject>)> {
    let org = &details.organisation;
    let ev = match &details.ev {
        Some(ev) if service.is_ev() => Some(EvSubject {
            jurisdiction_country: ev.jurisdiction_country.clone(),
            jurisdiction_state: Some(ev.jurisdiction_state.clone()).filter(|s| !s.is_empty()),
            jurisdiction_locality: Some(ev.jurisdiction_locality.clone()).filter(|s| !s.is_empty()),
            business_category: BusinessCategory::from_text(&ev.business_category)
                .ok_or(RaError::Invalid("err.ev"))?,
            registration_number: ev.registration_number.clone(),
        }),
        None if !service.is_ev() => None,
        _ => return Err(RaError::Invalid("err.ev")),
    };
    Ok((
        OrgSubject {
            organization: org.name.clone(),
            state: org.state.clone(),
            locality: org.locality.clone(),
            country: org.country.clone(),
        },
        ev,
    ))
}

/// The subject text a certificate for these details will carry ("" if they are not
/// complete): shown on the confirmation page and at the desk.
pub fn subject_preview(
    service: Service,
    details: &shomei_model::details::ApplicationDetails,
) -> String {
    subjects_of(service, details)
        .ok()
        .and_then(|(org, ev)| shomei_ca::profile::subject_preview(&org, ev.as_ref()).ok())
        .unwrap_or_default()
}

/// The end of a contract of `years` starting at `start`: the same day `years` later.
pub fn contract_end(start: OffsetDateTime, years: i64) -> OffsetDateTime {
    let y = start.year() + i32::try_from(years).unwrap_or(1);
    start
        .replace_year(y)
        .unwrap_or(start + Duration::days(365 * years))
}

/// Steps 0–1 of an issuance, from what it read: the application (approved, its key not
/// blocked since), its contract's term and the certificate's validity and subject.
struct Plan {
    app: shomei_store::Application,
    /// The contract's term (a new contract's, or the one it stays in).
    start: OffsetDateTime,
    end: OffsetDateTime,
    /// Whether it stays in its existing contract (no new contract is made).
    in_contract: bool,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    org: OrgSubject,
    ev: Option<EvSubject>,
}

impl Plan {
    fn of(read: shomei_store::issuance_read::IssuanceRead, now_dt: OffsetDateTime) -> Result<Plan> {
        let now = now_dt.unix_timestamp();
        let app = read.app;
        // Step 0: the application must be approved (審査中) and its CSR still good.
        if app.status != AppStatus::UnderReview {
            return Err(RaError::WrongState);
        }
        // A key blocked since the application was made (key compromise) is refused;
        // the CSR itself is checked again, with the lint (the application's key is the
        // CSR's, or the check refuses it).
        if read.key_blocked {
            return Err(RaError::Invalid("csr.blocked_key"));
        }
        // Step 1: validity — capped by the CA/B Forum maximum for today and the
        // contract's end. A renewal's term continues from the old contract's end (R-R1),
        // not from today. So does a service switch's (R-R5): no paid time is lost.
        let start = match (app.kind, read.target_contract_ends_at) {
            (AppKind::Renewal | AppKind::Switch, Some(old_end)) if old_end > now => {
                OffsetDateTime::from_unix_timestamp(old_end).unwrap_or(now_dt)
            }
            _ => now_dt,
        };
        // A reissue (and a 継続発行, an ACME 発行) stays in its contract: validity capped
        // by that contract's end.
        let in_contract = matches!(
            app.kind,
            AppKind::Reissue | AppKind::Continuation | AppKind::Acme
        );
        let end = if in_contract {
            let end = read
                .contract_ends_at
                .ok_or(RaError::Invalid("err.no_contract"))?;
            OffsetDateTime::from_unix_timestamp(end)
                .map_err(|_| RaError::Invalid("err.no_contract"))?
        } else {
            contract_end(start, app.term_years)
        };
        let (not_before, not_after) = validity_for(now_dt, end).ok_or(CaError::NoValidity)?;
        let (org, ev) = subjects_of(app.service, &app.details)?;
        Ok(Plan {
            app,
            start,
            end,
            in_contract,
            not_before,
            not_after,
            org,
            ev,
        })
    }
}

impl Ra {
    /// Staff approve an application: every domain and the organisation (and EV data)
    /// must have a validation method; the validations are recorded with the time, then
    /// the certificate is issued.
    pub async fn approve(
        &self,
        staff_id: i64,
        application_id: i64,
        approval: &Approval,
    ) -> Result<Issued> {
        let now = self.now();
        let app = self
            .store
            .application(application_id)
            .await?
            .ok_or(RaError::NotFound)?;
        if !matches!(
            app.status,
            AppStatus::Received | AppStatus::DocumentsPending
        ) {
            return Err(RaError::WrongState);
        }
        // Only records that ask for a certificate can be approved into issuance.
        if !app.kind.issues_certificate() {
            return Err(RaError::WrongState);
        }
        if !ORG_METHODS.contains(&approval.org_method.as_str()) {
            return Err(RaError::Invalid("err.org_method"));
        }
        let mut validations = vec![Validation {
            kind: "organization".into(),
            subject: app.details.organisation.name.clone(),
            method: approval.org_method.clone(),
            validated_at: now,
        }];
        if app.service.is_ev() {
            let m = approval
                .ev_method
                .clone()
                .filter(|m| ORG_METHODS.contains(&m.as_str()))
                .ok_or(RaError::Invalid("err.ev_method"))?;
            validations.push(Validation {
                kind: "ev".into(),
                subject: app.details.organisation.name.clone(),
                method: m,
                validated_at: now,
            });
        }
        for name in &app.names {
            let method = approval
                .domain_methods
                .iter()
                .find(|(d, _)| d == name)
                .map(|(_, m)| m.clone())
                .filter(|m| DOMAIN_METHODS.contains(&m.as_str()))
                .ok_or(RaError::Invalid("err.domain_method"))?;
            let base = name.strip_prefix("*.").unwrap_or(name);
            let method = if let Some((_, engine)) =
                CHECKED_DOMAIN_METHODS.iter().find(|(m, _)| *m == method)
            {
                // Only on a check the validation engine passed (a wildcard: DNS only),
                // within the random value's 30 days.
                let wildcard_ok = !name.starts_with("*.") || *engine == "dns-txt";
                let passed = self
                    .store
                    .passed_application_check(application_id, base, engine, now - 30 * 86_400)
                    .await?;
                match passed {
                    Some(at) if wildcard_ok => {
                        validations.push(Validation {
                            kind: "domain".into(),
                            subject: name.clone(),
                            method,
                            validated_at: at,
                        });
                        continue;
                    }
                    _ => return Err(RaError::Invalid("err.domain_unchecked")),
                }
            } else {
                let note = approval
                    .domain_notes
                    .iter()
                    .find(|(d, _)| d == name)
                    .map(|(_, n)| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
                    .ok_or(RaError::Invalid("err.domain_note"))?;
                format!("{method}: {}", note.chars().take(500).collect::<String>())
            };
            validations.push(Validation {
                kind: "domain".into(),
                subject: name.clone(),
                method,
                validated_at: now,
            });
        }
        if !self
            .store
            .approve_application(application_id, staff_id, &validations, now)
            .await?
        {
            return Err(RaError::WrongState);
        }
        self.issue(application_id, Actor::Staff(staff_id)).await
    }

    /// Staff reject an application with a reason.
    pub async fn reject(&self, staff_id: i64, application_id: i64, reason: &str) -> Result<()> {
        let reason = shomei_model::validate::required_text(reason, 1000)
            .map_err(|_| RaError::Invalid("err.reason"))?;
        if self
            .store
            .reject_application(application_id, staff_id, &reason, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(RaError::WrongState)
        }
    }

    /// Finishes issuances that a dead process or a failure left half done: their
    /// unfinished certificate rows are marked abandoned (serial and TBS kept on record,
    /// never reused) and issuance runs again through [`Ra::issue`]. Run at start-up.
    /// Returns (application, outcome) for each.
    pub async fn resume_interrupted_issuance(
        &self,
    ) -> Result<Vec<(i64, std::result::Result<Issued, String>)>> {
        let mut out = Vec::new();
        for id in self.store.interrupted_issuances().await? {
            self.store
                .abandon_unfinished_certificates(id, Actor::System, self.now())
                .await?;
            let r = self
                .issue(id, Actor::System)
                .await
                .map_err(|e| e.to_string());
            out.push((id, r));
        }
        Ok(out)
    }

    /// The single issuance path. The steps match docs/issuance-cycle.md. A failure that
    /// is not the store's (a CSR that no longer passes, a lint finding, a signing error)
    /// sends the application back to 受付 with the reason for staff, and any reserved
    /// serial is marked failed, never reused (issue #7 item 4).
    pub async fn issue(&self, application_id: i64, actor: Actor) -> Result<Issued> {
        let started = std::time::Instant::now();
        let result = self.issue_steps(application_id, actor).await;
        self.metrics
            .issuance(actor, started.elapsed(), result.is_ok());
        if let Err(e @ (RaError::Invalid(_) | RaError::Ca(_))) = &result {
            let reason = match e {
                RaError::Invalid(key) => (*key).to_owned(),
                other => other.to_string(),
            };
            if let Err(se) = self
                .store
                .issuance_failed(application_id, &reason, actor, self.now())
                .await
            {
                tracing::error!(application_id, "cannot record the failed issuance: {se}");
            }
            tracing::warn!(application_id, %reason, "issuance failed; back to the desk");
        }
        result
    }

    async fn issue_steps(&self, application_id: i64, actor: Actor) -> Result<Issued> {
        let now_dt = self.clock.now();
        let now = now_dt.unix_timestamp();
        // Step 0's read: on SQLite inside the first CPU job below, on a read-only
        // connection of its own (issue #11 item 4: no hand-over to a reader's thread and
        // back); on PostgreSQL here.
        let mut read = if self.store.reads_in_place() {
            None
        } else {
            Some(
                self.store
                    .issuance_read(application_id)
                    .await?
                    .ok_or(RaError::NotFound)?,
            )
        };
        // Steps 2–4: a random serial; the to-be-signed certificate built from validated
        // data only and linted; both stored before anything is signed (one transaction
        // shared with concurrent issuances). A serial already used is drawn again.
        // The CPU-heavy steps run off the async workers (`cpu_pool.rs`), so the group
        // commit's writer and the pages are never queued behind them: the read, its
        // checks and the CSR and key checks with the TBS build and lint in one job (one
        // hand-over to the pool, not two), the signatures in another.
        let mut planned: Option<std::sync::Arc<Plan>> = None;
        let mut csr: Option<std::sync::Arc<CheckedCsr>> = None;
        let mut stored = None;
        for _ in 0..3 {
            let serial = Serial::random()?;
            let shard = self.crl_shard_for(serial.bytes());
            let (ca, keys, store) = (
                self.server_ca.clone(),
                self.policy.keys.clone(),
                self.store.clone(),
            );
            let (known_plan, known_csr, pre_read) = (planned.clone(), csr.clone(), read.take());
            let (plan, checked, prepared) = cpu(move || -> Result<_> {
                let plan = match known_plan {
                    Some(plan) => plan,
                    None => {
                        let read = match pre_read {
                            Some(read) => read,
                            None => store
                                .issuance_read_now(application_id)?
                                .ok_or(RaError::NotFound)?,
                        };
                        std::sync::Arc::new(Plan::of(read, now_dt)?)
                    }
                };
                let csr = match known_csr {
                    Some(csr) => csr,
                    None => {
                        let app = &plan.app;
                        let csr = check_csr_with(app.csr_pem.as_bytes(), &keys)
                            .map_err(|e| RaError::Invalid(e.key()))?;
                        if csr.spki_sha256 != app.spki_sha256 || csr.names != app.names {
                            return Err(RaError::Invalid("err.csr_changed"));
                        }
                        std::sync::Arc::new(csr)
                    }
                };
                let order = ServerOrder {
                    serial,
                    not_before: plan.not_before,
                    not_after: plan.not_after,
                    names: csr.names.clone(),
                    spki_der: csr.spki_der.clone(),
                    key: csr.key.clone(),
                    org: plan.org.clone(),
                    ev: plan.ev.clone(),
                    crl_shard: Some(shard),
                };
                let prepared = ca.prepare(&order);
                Ok((plan, csr, prepared))
            })
            .await??;
            // Step 0b: CAA (BR 3.2.2.8), from every network perspective, at issuance,
            // before the serial is reserved (an ACME finalize checked it a moment ago,
            // with the account's URL).
            if planned.is_none()
                && plan.app.kind != AppKind::Acme
                && self.validation.is_some()
                && self.caa_refused(&plan.app, actor).await?
            {
                return Err(RaError::Invalid("err.caa"));
            }
            planned = Some(plan.clone());
            csr = Some(checked);
            let record = LintedCert {
                issuer: SERVER_CA.into(),
                serial: serial.hex(),
                application_id,
                not_before: plan.not_before.unix_timestamp(),
                not_after: plan.not_after.unix_timestamp(),
                spki_sha256: plan.app.spki_sha256.clone(),
                crl_shard: i64::from(shard),
                tbs: Vec::new(),
                actor,
                at: now,
            };
            let token = match prepared {
                Ok(t) => t,
                Err(e) => {
                    self.store
                        .record_lint_failure(&record, &e.to_string())
                        .await?;
                    return Err(e.into());
                }
            };
            let record = LintedCert {
                tbs: token.tbs_der().to_vec(),
                ..record
            };
            fail::fail_point!("issue.linted");
            match self.commit_linted(record).await {
                Ok(id) => {
                    stored = Some((id, serial, token));
                    break;
                }
                Err(RaError::Store(e)) if e.is_unique_violation() => continue,
                Err(e) => return Err(e),
            }
        }
        let plan = planned.ok_or(RaError::Invalid("err.serial_collision"))?;
        let (app, start, end) = (&plan.app, plan.start, plan.end);
        let (cert_id, serial, token) = stored.ok_or(RaError::Invalid("err.serial_collision"))?;
        fail::fail_point!("issue.reserved");
        // Step 5: sign (the token is consumed; the signed TBS is checked identical).
        let ra = self.clone();
        let (signed, ocsp) = cpu(move || -> Result<_> {
            let signed = ra.server_ca.sign(token)?;
            Ok((signed, ra.first_ocsp(serial.bytes(), now)?))
        })
        .await??;
        #[cfg(feature = "failpoints")]
        crate::failpoints::evidence("issue.signed", &signed.der);
        fail::fail_point!("issue.signed");
        // Step 6: one transaction (shared with concurrent issuances): certificate and its
        // first OCSP response, contract and its code, 完了, audit, notice.
        let contract = NewContract {
            account_id: app.account_id,
            service: app.service,
            term_years: app.term_years,
            contract_type: app.contract_type,
            starts_at: start.unix_timestamp(),
            ends_at: end.unix_timestamp(),
        };
        // R-RI4: the old certificate is revoked at issuance, or 14 days later.
        let supersede = match (app.kind, app.target_id, app.reissue_revoke.as_deref()) {
            (AppKind::Reissue, Some(t), Some("later")) => Some((t, now + 14 * 86_400)),
            (AppKind::Reissue, Some(t), _) => Some((t, now)),
            // R-R5: the switched-from contract ends now (in the issuance transaction);
            // its certificate stays valid 14 days, for the move to the new one.
            (AppKind::Switch, Some(t), _) => Some((t, now + SWITCH_OVERLAP_DAYS * 86_400)),
            _ => None,
        };
        let code = self
            .commit_issued(Completion {
                cert_id,
                issuer: SERVER_CA.into(),
                application_id,
                serial: serial.hex(),
                der: signed.der,
                contract: (!plan.in_contract).then_some(contract),
                supersede,
                ocsp,
                actor,
                at: now,
            })
            .await?;
        fail::fail_point!("issue.committed");
        if supersede.is_some_and(|(_, at)| at <= now) {
            // 再発行と同時に失効する: done now; the job stays as the durable record.
            if let Some(target) = app.target_id {
                self.revoke_superseded(target, application_id).await?;
            }
        }
        tracing::info!(application_id, serial = %serial.hex(), contract = %code, "certificate issued");
        Ok(Issued {
            contract_code: code,
            serial: serial.hex(),
        })
    }
}

impl Ra {
    /// 申請取消 (R-A5): the customer withdraws an application that is not done yet.
    pub async fn withdraw(&self, account_id: i64, application_id: i64) -> Result<bool> {
        Ok(self
            .store
            .withdraw_application(account_id, application_id, self.now())
            .await?)
    }
}

/// R-R5: days the switched-from certificate stays valid after the switch is issued.
pub const SWITCH_OVERLAP_DAYS: i64 = 14;

/// R-RI2: reissue is offered until 25 days after the certificate was issued.
pub const REISSUE_WINDOW_DAYS: i64 = 25;

impl Ra {
    /// R-RI1–R-RI3: whether a reissue may start from this record now: an issuing record,
    /// 完了, with a live certificate issued at most 25 days ago; for EV2.0 only once.
    pub async fn may_reissue(&self, app: &shomei_store::Application) -> Result<bool> {
        let now = self.now();
        let live = app.cert_revoked_at.is_none() && app.cert_not_after.is_some_and(|t| t > now);
        let in_window = app
            .cert_not_before
            .is_some_and(|nb| (now - nb).div_euclid(86_400) <= REISSUE_WINDOW_DAYS);
        if !(app.kind.portal_certificate()
            && Service::FOR_NEW.contains(&app.service)
            && app.status == AppStatus::Completed
            && live
            && in_window)
        {
            return Ok(false);
        }
        if app.service.is_ev() && self.store.reissue_count(app.id).await? > 0 {
            return Ok(false);
        }
        Ok(true)
    }

    /// Revokes a reissued record's old certificate as superseded, then refreshes the CRL
    /// and OCSP. Idempotent (the job may run after the immediate revocation).
    pub async fn revoke_superseded(&self, target: i64, by: i64) -> Result<Vec<String>> {
        let serials = self.store.revoke_superseded(target, by, self.now()).await?;
        if !serials.is_empty() {
            self.refresh_crl().await?;
            self.prebuild_ocsp(&serials).await?;
        }
        Ok(serials)
    }
}
