//! New applications (R-N1, R-A3, R-S2): the form, its validation, and submission.
//! The same validation runs when the customer moves to the confirmation screen and
//! again at submission, so nothing unchecked is ever stored.

use crate::drafts::OpenDraft;
use crate::field_issue::{Checked, FieldIssue};
use crate::{Ra, Result};
use serde::{Deserialize, Serialize};
use shomei_ca::{BusinessCategory, CheckedCsr, KeyPolicy, check_csr_with};
use shomei_model::details::{ApplicationDetails, EvDetails, Organisation};
use shomei_model::validate::{self, FieldError};
use shomei_model::{AppKind, ContractType, ServerType, Service, Term};
use shomei_store::NewApplication;

crate::form::text_form! {
    /// The raw form as typed (kept in the draft so back and reload show it again).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(default)]
    pub struct ApplicationForm {
        /// Whether the terms (申請規約) were agreed to.
        pub agreed: bool,
        /// For a renewal (更新) or reissue (再発行): the record continued; 0 for a new one.
        pub target: i64,
        ;
        /// Service code (SR3.0, EV2.0).
        service,
        /// Term in years, as text.
        term,
        /// For a reissue (R-RI4): `now` (再発行と同時に失効する) or `later` (後日失効する).
        reissue_revoke,
        /// サーバタイプ code.
        server_type,
        /// The CSR as pasted or uploaded (PEM text).
        csr,
        /// 申請組織名
        org_name,
        /// 国
        org_country,
        /// 都道府県
        org_state,
        /// 市区町村
        org_locality,
        /// 法人名カナ (optional)
        org_kana,
        /// 登記番号 (optional; OV — EV has its own, required)
        org_registration_number,
        /// 登記住所の郵便番号 (optional)
        org_postal,
        /// 登記住所 (optional)
        org_address,
        /// 現住所の郵便番号 (optional)
        org_current_postal,
        /// 現住所 (optional)
        org_current_address,
        /// クーポン番号 (R-N2, R-R4): empty for none.
        coupon,
        /// EV: jurisdictionCountryName
        ev_jurisdiction_country,
        /// EV: jurisdictionStateOrProvinceName
        ev_jurisdiction_state,
        /// EV: jurisdictionLocalityName
        ev_jurisdiction_locality,
        /// EV: businessCategory
        ev_business_category,
        /// EV: 登記番号
        ev_registration_number,
        ..contacts
    }
}

impl ApplicationForm {
    /// A record's organisation, contacts and EV data as a form (shown read-only, and
    /// the start of a renewal, reissue, switch or "apply again").
    pub fn of_record(app: &shomei_store::Application) -> ApplicationForm {
        let d = &app.details;
        let o = &d.organisation;
        let ev = d.ev.clone().unwrap_or_default();
        let mut f = ApplicationForm {
            service: app.service.code().into(),
            org_name: o.name.clone(),
            org_country: o.country.clone(),
            org_state: o.state.clone(),
            org_locality: o.locality.clone(),
            org_kana: o.kana.clone(),
            org_registration_number: o.registration_number.clone(),
            org_postal: o.postal.clone(),
            org_address: o.address.clone(),
            org_current_postal: o.current_postal.clone(),
            org_current_address: o.current_address.clone(),
            ev_jurisdiction_country: ev.jurisdiction_country,
            ev_jurisdiction_state: ev.jurisdiction_state,
            ev_jurisdiction_locality: ev.jurisdiction_locality,
            ev_business_category: ev.business_category,
            ev_registration_number: ev.registration_number,
            ..Default::default()
        };
        let c = &d.contacts;
        crate::form::put_contacts(&mut f, c);
        f
    }
}

/// A validated application.
#[derive(Debug, Clone)]
pub struct ValidApplication {
    /// Service.
    pub service: Service,
    /// Term.
    pub term: Term,
    /// サーバタイプ.
    pub server_type: ServerType,
    /// The checked CSR.
    pub csr: CheckedCsr,
    /// Organisation, contacts, EV data.
    pub details: ApplicationDetails,
}

impl ValidApplication {
    /// Writes the checked, normalised values of the fields that go into the certificate
    /// back into the form (issue #8 item 1: ﾃﾞﾓ is shown and stored as デモ, jp as JP),
    /// so that the confirmation page shows exactly what will be issued.
    pub fn normalise_into(&self, form: &mut ApplicationForm) {
        let o = &self.details.organisation;
        form.org_name = o.name.clone();
        form.org_country = o.country.clone();
        form.org_state = o.state.clone();
        form.org_locality = o.locality.clone();
        form.org_kana = o.kana.clone();
        form.org_postal = o.postal.clone();
        form.org_address = o.address.clone();
        form.org_registration_number = o.registration_number.clone();
        form.org_current_address = o.current_address.clone();
        form.org_current_postal = o.current_postal.clone();
        // 更新のご案内メール left unselected means 希望しない: said so everywhere (item 16);
        // every contact field as checked (kana, postal codes normalised).
        let c = &self.details.contacts;
        crate::form::put_contacts(form, c);
        if let Some(ev) = &self.details.ev {
            form.ev_jurisdiction_country = ev.jurisdiction_country.clone();
            form.ev_jurisdiction_state = ev.jurisdiction_state.clone();
            form.ev_jurisdiction_locality = ev.jurisdiction_locality.clone();
            form.ev_registration_number = ev.registration_number.clone();
        }
    }

    /// The subject the certificate will carry, as text (issue #8 item 1).
    pub fn subject(&self) -> String {
        crate::issue::subject_preview(self.service, &self.details)
    }
}

/// Field limits.
const ORG_MAX: usize = 64;

/// Validates the service choice (step 1 of R-N1) among the services sold today.
pub fn check_choice(form: &ApplicationForm) -> Checked<(Service, Term)> {
    check_choice_in(form, Service::FOR_NEW)
}

/// Validates the service choice among `services`.
pub fn check_choice_in(form: &ApplicationForm, services: &[Service]) -> Checked<(Service, Term)> {
    let mut issues = Vec::new();
    let service = Service::from_code(&form.service).filter(|s| services.contains(s));
    if service.is_none() {
        issues.push(FieldIssue::new("service", "err.choice"));
    }
    let term = form.term.parse::<u8>().ok().and_then(Term::years);
    if term.is_none() {
        issues.push(FieldIssue::new("term", "err.choice"));
    }
    match (service, term) {
        (Some(s), Some(t)) if issues.is_empty() => Ok((s, t)),
        _ => Err(issues),
    }
}

/// Validates the whole form: the choice, the CSR (R-S2), the organisation and the
/// contacts (R-AI1), and for EV the EV data. Returns every issue at once.
pub fn check_form(form: &ApplicationForm, keys: &KeyPolicy) -> Checked<ValidApplication> {
    check_form_in(form, Service::FOR_NEW, keys)
}

/// [`check_form`] with the service among `services` (an import may bring SR2.0).
pub fn check_form_in(
    form: &ApplicationForm,
    services: &[Service],
    keys: &KeyPolicy,
) -> Checked<ValidApplication> {
    let mut issues = Vec::new();
    let choice = check_choice_in(form, services)
        .map_err(|e| issues.extend(e))
        .ok();
    let contacts = crate::contacts::check_contact_fields(form, &mut issues);
    let mut field = |name: &'static str, r: std::result::Result<String, FieldError>| {
        crate::form::field_value(&mut issues, name, r)
    };
    let organisation = Organisation {
        name: field("org_name", validate::subject_text(&form.org_name, ORG_MAX)),
        country: field("org_country", validate::country(&form.org_country)),
        state: field("org_state", validate::subject_text(&form.org_state, 64)),
        locality: field(
            "org_locality",
            validate::subject_text(&form.org_locality, 64),
        ),
        // Issue #8 item 20: as account information carries them (R-AI2), optional.
        kana: field(
            "org_kana",
            validate::optional(&form.org_kana, |v| validate::katakana(v, 100)),
        ),
        postal: field(
            "org_postal",
            validate::optional(&form.org_postal, validate::postal_code),
        ),
        address: field(
            "org_address",
            validate::optional(&form.org_address, |v| validate::full_width(v, 200)),
        ),
        current_postal: field(
            "org_current_postal",
            validate::optional(&form.org_current_postal, validate::postal_code),
        ),
        current_address: field(
            "org_current_address",
            validate::optional(&form.org_current_address, |v| validate::full_width(v, 200)),
        ),
        registration_number: field(
            "org_registration_number",
            validate::optional(&form.org_registration_number, validate::corporate_number),
        ),
    };
    let is_ev = choice.is_some_and(|(s, _)| s.is_ev());
    let ev = if is_ev {
        let bc = BusinessCategory::from_text(&form.ev_business_category);
        let ev = EvDetails {
            jurisdiction_country: field(
                "ev_jurisdiction_country",
                validate::country(&form.ev_jurisdiction_country),
            ),
            jurisdiction_state: field(
                "ev_jurisdiction_state",
                validate::optional_subject_text(&form.ev_jurisdiction_state, 64),
            ),
            jurisdiction_locality: field(
                "ev_jurisdiction_locality",
                validate::optional_subject_text(&form.ev_jurisdiction_locality, 64),
            ),
            business_category: bc.map(|b| b.text().to_owned()).unwrap_or_default(),
            registration_number: field(
                "ev_registration_number",
                validate::registration_number(&form.ev_registration_number),
            ),
        };
        if bc.is_none() {
            issues.push(FieldIssue::new("ev_business_category", "err.choice"));
        }
        Some(ev)
    } else {
        None
    };
    let server_type = ServerType::from_code(&form.server_type);
    if server_type.is_none() {
        issues.push(FieldIssue::new("server_type", "err.choice"));
    }
    let csr = if form.csr.trim().is_empty() {
        issues.push(FieldIssue::new("csr", "err.required"));
        None
    } else {
        match check_csr_with(form.csr.as_bytes(), keys) {
            // EV Guidelines 9.8.1: no wildcard in an EV certificate.
            Ok(c)
                if choice.is_some_and(|(s, _)| s.is_ev())
                    && c.names.iter().any(|n| n.starts_with("*.")) =>
            {
                issues.push(FieldIssue::with_detail(
                    "csr",
                    "csr.ev_wildcard",
                    c.names.iter().find(|n| n.starts_with("*.")).cloned(),
                ));
                None
            }
            Ok(c) => Some(c),
            Err(e) => {
                issues.push(FieldIssue::with_detail("csr", e.key(), e.detail()));
                None
            }
        }
    };
    match (choice, server_type, csr) {
        (Some((service, term)), Some(server_type), Some(csr)) if issues.is_empty() => {
            Ok(ValidApplication {
                service,
                term,
                server_type,
                csr,
                details: ApplicationDetails {
                    organisation,
                    contacts,
                    ev,
                },
            })
        }
        _ => Err(issues),
    }
}

impl Ra {
    /// Submits a draft (R-A3 "confirm → submit"): validates once more and stores the
    /// application with its audit event and staff notice in one transaction. Idempotent
    /// per draft (R-A4). Returns the application id.
    pub async fn submit(
        &self,
        account_id: i64,
        draft: &OpenDraft<ApplicationForm>,
    ) -> Result<Checked<i64>> {
        self.submit_in(account_id, draft, Service::FOR_NEW, ContractType::FixedTerm)
            .await
    }

    /// [`Ra::submit`] with the services allowed and the contract type given (an import
    /// of an existing contract may bring SR2.0 and 自動契約更新タイプ).
    pub(crate) async fn submit_in(
        &self,
        account_id: i64,
        draft: &OpenDraft<ApplicationForm>,
        services: &[Service],
        contract_type: ContractType,
    ) -> Result<Checked<i64>> {
        let form = &draft.form;
        if !form.agreed {
            return Ok(FieldIssue::refuse("agreed", "err.terms"));
        }
        let v = match check_form_in(form, services, &self.policy.keys) {
            Ok(v) => v,
            Err(issues) => return Ok(Err(issues)),
        };
        // A key reported compromised is refused on every path (CA-RULES "Key compromise").
        if self.store.is_key_blocked(&v.csr.spki_sha256).await? {
            return Ok(FieldIssue::refuse("csr", "csr.blocked_key"));
        }
        let target = match draft.kind {
            AppKind::New => None,
            kind => match self.submission_target(account_id, kind, form, &v).await? {
                Ok(t) => Some(t),
                Err(issues) => return Ok(Err(issues)),
            },
        };
        // R-N2, R-R4: a coupon pays for a new term (new, renewal, switch), not for a
        // certificate within a paid one.
        let coupon = form.coupon.trim();
        if !coupon.is_empty()
            && !matches!(
                draft.kind,
                AppKind::New | AppKind::Renewal | AppKind::Switch
            )
        {
            return Ok(FieldIssue::refuse("coupon", "err.coupon"));
        }
        let app = NewApplication {
            account_id,
            draft_id: draft.id.clone(),
            kind: draft.kind,
            target_id: target,
            reissue_revoke: (draft.kind == AppKind::Reissue).then(|| form.reissue_revoke.clone()),
            service: v.service,
            term_years: i64::from(v.term.in_years()),
            contract_type,
            server_type: v.server_type,
            common_name: v
                .csr
                .common_name
                .clone()
                .or_else(|| v.csr.names.first().cloned())
                .unwrap_or_default(),
            names: v.csr.names.clone(),
            spki_sha256: v.csr.spki_sha256.clone(),
            key_desc: v.csr.key.describe(),
            csr_pem: v.csr.pem.clone(),
            details: v.details,
            coupon: (!coupon.is_empty()).then(|| coupon.to_owned()),
        };
        let (id, created) = match self.store.submit_application(&app, self.now()).await {
            Ok(r) => r,
            Err(shomei_store::StoreError::CouponUnavailable) => {
                return Ok(FieldIssue::refuse("coupon", "err.coupon"));
            }
            Err(e) => return Err(e.into()),
        };
        if created && draft.kind == AppKind::Continuation {
            // Fresh validations: issued without the desk (a failure leaves it for staff).
            if let Err(e) = self.continue_if_fresh(id).await {
                tracing::warn!(
                    application = id,
                    "continuation not issued automatically: {e}"
                );
            }
        }
        Ok(Ok(id))
    }

    /// The record a renewal, reissue, switch or continuation continues, if this account
    /// may do that with it now, with the service asked for.
    async fn submission_target(
        &self,
        account_id: i64,
        kind: AppKind,
        form: &ApplicationForm,
        v: &ValidApplication,
    ) -> Result<Checked<i64>> {
        let target = self
            .store
            .application_of(account_id, form.target)
            .await?
            .ok_or(crate::RaError::NotFound)?;
        let (allowed, refusal) = match kind {
            // 継続発行: the same service, while the contract allows it.
            AppKind::Continuation => (
                self.may_continue(&target).await? && target.service == v.service,
                "err.continue_not_allowed",
            ),
            // 再発行 (R-RI1–R-RI5): the same service.
            AppKind::Reissue => (
                self.may_reissue(&target).await? && target.service == v.service,
                "err.reissue_not_allowed",
            ),
            // サービス切替 (R-R5): to a service the old one may switch to.
            AppKind::Switch => (
                self.may_switch(&target).await?
                    && Ra::switch_targets(target.service).contains(&v.service),
                "err.switch_not_allowed",
            ),
            // 更新 (R-R1, R-R2): from a 完了 issuing record, the same service.
            AppKind::Renewal => (
                Ra::may_renew(&target) && target.service == v.service,
                "err.renew_not_allowed",
            ),
            _ => (false, "err.choice"),
        };
        if !allowed {
            return Ok(FieldIssue::refuse("service", refusal));
        }
        if kind == AppKind::Reissue && !matches!(form.reissue_revoke.as_str(), "now" | "later") {
            return Ok(FieldIssue::refuse("reissue_revoke", "err.choice"));
        }
        Ok(Ok(target.id))
    }
}
