//! Test support: an RA on a fresh development PKI, with a clock tests can move.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::{Policy, Ra};
use shomei_ca::pki::{ClientCa, DevPki, generate_dev_pki};
use shomei_ca::{CaUrls, IssuingCa};
use shomei_model::FixedClock;
use shomei_store::Store;
use std::sync::Arc;
use time::OffsetDateTime;

/// The public base URL written into test certificates.
pub const BASE: &str = "http://pki.example.jp";

/// Builds an RA on `store` with a new development PKI and a fixed clock at `at`.
pub fn ra(store: Store, at: OffsetDateTime) -> (Ra, FixedClock, DevPki) {
    let clock = FixedClock::new(at);
    let pki =
        generate_dev_pki(at - time::Duration::days(3 * 365), "Shomei Test", BASE).expect("pki");
    let ra = instance(store, &clock, &pki);
    (ra, clock, pki)
}

/// Another RA instance on `store` (e.g. a second process on the same PostgreSQL
/// database, or the same one after a restart) with the PKI and clock of the first.
pub fn instance(store: Store, clock: &FixedClock, pki: &DevPki) -> Ra {
    let server = IssuingCa::from_pem(
        &pki.server_ca.cert_pem,
        &pki.server_ca.key_pem,
        CaUrls::under(BASE, crate::SERVER_CA),
    )
    .expect("server ca");
    let login = ClientCa::from_pem(
        &pki.login_ca.cert_pem,
        &pki.login_ca.key_pem,
        &pki.root.cert_pem,
    )
    .expect("login ca");
    let staff = ClientCa::from_pem(
        &pki.staff_ca.cert_pem,
        &pki.staff_ca.key_pem,
        &pki.root.cert_pem,
    )
    .expect("staff ca");
    Ra::new(
        store,
        Arc::new(clock.clone()),
        server,
        login,
        staff,
        Policy::default(),
    )
    .with_ocsp(
        shomei_ca::ocsp::OcspResponder::from_pem(
            &pki.server_ca.cert_pem,
            &pki.ocsp.cert_pem,
            &pki.ocsp.key_pem,
        )
        .expect("ocsp responder"),
    )
}

/// A complete, valid SR3.0 form for `csr`.
pub fn sr30_form(csr: &str) -> crate::apply::ApplicationForm {
    crate::apply::ApplicationForm {
        service: "SR3.0".into(),
        term: "1".into(),
        agreed: true,
        server_type: "nginx".into(),
        csr: csr.into(),
        org_name: "テスト株式会社".into(),
        org_country: "JP".into(),
        org_state: "Tokyo".into(),
        org_locality: "Shibuya-ku".into(),
        reg_name: "登録 太郎".into(),
        reg_email: "reg@example.jp".into(),
        reg_phone: "03-1234-5678".into(),
        tech_name: "技術 花子".into(),
        tech_email: "tech@example.jp".into(),
        tech_phone: "03-1234-5679".into(),
        admin_name: "事務 次郎".into(),
        admin_email: "admin@example.jp".into(),
        admin_phone: "03-1234-5670".into(),
        // Only the technical contact asked for 更新のご案内メール.
        tech_renewal_mail: "yes".into(),
        reg_renewal_mail: "no".into(),
        ..Default::default()
    }
}

/// A new account with an issued SR3.0 certificate for `csr`, approved by `staff_id`.
/// Returns (account, application id).
pub async fn issued(ra: &Ra, staff_id: i64, csr: &str) -> (crate::accounts::Created, i64) {
    let input = crate::accounts::AccountInput {
        org: "テスト株式会社".into(),
        email: "ops@example.jp".into(),
        dealer_code: None,
    };
    let a = ra
        .create_account(&input, shomei_model::Actor::Cli)
        .await
        .expect("account");
    let id = submit_as(ra, a.id, shomei_model::AppKind::New, &sr30_form(csr))
        .await
        .expect("submit")
        .expect("valid form");
    let app = ra
        .store
        .application(id)
        .await
        .expect("load")
        .expect("exists");
    let approval = approval_for(&app);
    ra.approve(staff_id, id, &approval).await.expect("issued");
    (a, id)
}

/// Starts a revocation draft for `target` with `reason` and submits it.
pub async fn request_revocation(
    ra: &Ra,
    account_id: i64,
    target: i64,
    reason: &str,
) -> std::result::Result<i64, &'static str> {
    let form = crate::revoke::RevocationForm {
        target,
        agreed: true,
        reason: reason.into(),
    };
    ra.request_revocation(
        account_id,
        &open_draft(ra, account_id, shomei_model::AppKind::Revocation, &form)
            .await
            .unwrap_or_else(|e| panic!("draft: {e}")),
    )
    .await
    .expect("request")
}

/// Submits and approves a reissue of `target` for `csr`; `revoke` is `now` or `later`.
/// Returns the reissue's application id.
pub async fn reissued(
    ra: &Ra,
    staff_id: i64,
    account_id: i64,
    target: i64,
    csr: &str,
    revoke: &str,
) -> std::result::Result<i64, String> {
    let t = ra
        .store
        .application(target)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no target")?;
    let mut form = sr30_form(csr);
    form.service = t.service.code().to_owned();
    form.target = target;
    form.reissue_revoke = revoke.to_owned();
    if let Some(ev) = &t.details.ev {
        form.ev_business_category = ev.business_category.clone();
        form.ev_jurisdiction_country = ev.jurisdiction_country.clone();
        form.ev_registration_number = ev.registration_number.clone();
    }
    submit_and_approve(
        ra,
        staff_id,
        account_id,
        shomei_model::AppKind::Reissue,
        &form,
    )
    .await
}

/// Submits `form` through a draft of `kind` and approves it as staff (registry and
/// dns-change). Returns the application id.
pub async fn submit_and_approve(
    ra: &Ra,
    staff_id: i64,
    account_id: i64,
    kind: shomei_model::AppKind,
    form: &crate::apply::ApplicationForm,
) -> std::result::Result<i64, String> {
    let app_id = submit_as(ra, account_id, kind, form)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|i| format!("{i:?}"))?;
    let app = ra
        .store
        .application(app_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no record")?;
    ra.approve(staff_id, app_id, &approval_for(&app))
        .await
        .map_err(|e| e.to_string())?;
    Ok(app_id)
}

/// What staff attest in tests: registry for the organisation (and EV data), dns-change
/// for every domain.
pub fn approval_for(app: &shomei_store::Application) -> crate::issue::Approval {
    crate::issue::Approval {
        org_method: "registry".into(),
        ev_method: app.service.is_ev().then(|| "registry".to_string()),
        domain_methods: app
            .names
            .iter()
            .map(|n| (n.clone(), "phone".to_string()))
            .collect(),
        domain_notes: app
            .names
            .iter()
            .map(|n| (n.clone(), "登録担当者に電話で確認".to_string()))
            .collect(),
    }
}

/// Submits and approves a service switch (R-R5) of `target` to `service` for `csr`.
pub async fn switched(
    ra: &Ra,
    staff_id: i64,
    account_id: i64,
    target: i64,
    service: &str,
    csr: &str,
) -> std::result::Result<i64, String> {
    let mut form = sr30_form(csr);
    form.service = service.to_owned();
    form.target = target;
    if service == "EV2.0" {
        form.ev_business_category = "Private Organization".into();
        form.ev_jurisdiction_country = "JP".into();
        form.ev_registration_number = "0110-01-012345".into();
    }
    submit_and_approve(
        ra,
        staff_id,
        account_id,
        shomei_model::AppKind::Switch,
        &form,
    )
    .await
}

/// An account with an SR2.0 自動契約更新タイプ contract imported by staff.
pub async fn imported_sr20(ra: &Ra, staff_id: i64, csr: &str) -> (crate::accounts::Created, i64) {
    let input = crate::accounts::AccountInput {
        org: "テスト株式会社".into(),
        email: "ops@example.jp".into(),
        dealer_code: None,
    };
    let a = ra
        .create_account(&input, shomei_model::Actor::Cli)
        .await
        .expect("account");
    let mut form = sr30_form(csr);
    form.service = "SR2.0".into();
    let names = shomei_ca::check_csr(csr.as_bytes()).expect("csr").names;
    let approval = crate::issue::Approval {
        org_method: "registry".into(),
        ev_method: None,
        domain_methods: names
            .iter()
            .map(|n| (n.clone(), "previous-system".to_string()))
            .collect(),
        domain_notes: Vec::new(),
    };
    let (id, _) = ra
        .import_contract(
            staff_id,
            a.id,
            &form,
            shomei_model::ContractType::AutoRenew,
            &approval,
        )
        .await
        .expect("import")
        .expect("valid form");
    (a, id)
}

/// Like [`issued`] but for EV2.0.
pub async fn issued_ev(ra: &Ra, staff_id: i64, csr: &str) -> (crate::accounts::Created, i64) {
    let input = crate::accounts::AccountInput {
        org: "テスト株式会社".into(),
        email: "ops@example.jp".into(),
        dealer_code: None,
    };
    let a = ra
        .create_account(&input, shomei_model::Actor::Cli)
        .await
        .expect("account");
    let mut form = sr30_form(csr);
    form.service = "EV2.0".into();
    form.ev_business_category = "Private Organization".into();
    form.ev_jurisdiction_country = "JP".into();
    form.ev_registration_number = "0110-01-012345".into();
    let id = submit_as(ra, a.id, shomei_model::AppKind::New, &form)
        .await
        .expect("submit")
        .expect("valid form");
    let app = ra
        .store
        .application(id)
        .await
        .expect("load")
        .expect("exists");
    let approval = approval_for(&app);
    ra.approve(staff_id, id, &approval).await.expect("issued");
    (a, id)
}

/// Submits a 継続発行 of `target` for `csr` (no approval). Returns the application id.
pub async fn continued(
    ra: &Ra,
    account_id: i64,
    target: i64,
    csr: &str,
) -> std::result::Result<i64, String> {
    let mut form = sr30_form(csr);
    form.target = target;
    ra.submit(
        account_id,
        &open_draft(ra, account_id, shomei_model::AppKind::Continuation, &form)
            .await
            .unwrap_or_else(|e| panic!("draft: {e}")),
    )
    .await
    .map_err(|e| e.to_string())?
    .map_err(|i| format!("{i:?}"))
}

/// Mail settings that write every mail into `dir` (the outbox), for tests.
pub fn outbox_mail(dir: &std::path::Path) -> crate::mail::MailSettings {
    crate::mail::MailSettings::new(
        "Shomei <noreply@example.jp>",
        "staff@example.jp",
        "https://portal.example.jp",
        None,
        dir.to_path_buf(),
    )
    .expect("mail settings")
}

/// A customer account of organisation `org` (e-mail ops@example.jp, no dealer code).
pub async fn account(ra: &Ra, org: &str) -> crate::accounts::Created {
    ra.create_account(
        &crate::accounts::AccountInput {
            org: org.into(),
            email: "ops@example.jp".into(),
            dealer_code: None,
        },
        shomei_model::Actor::Cli,
    )
    .await
    .expect("account")
}

/// Starts a draft of `kind` holding `form`, as a front end does, and opens it.
pub async fn open_draft<F: crate::drafts::DraftForm>(
    ra: &Ra,
    account_id: i64,
    kind: shomei_model::AppKind,
    form: &F,
) -> crate::Result<crate::drafts::OpenDraft<F>> {
    let id = ra.start_draft(account_id, kind, form, "confirm").await?;
    match ra.open_draft::<F>(account_id, &id).await? {
        crate::drafts::Opened::Open(d) => Ok(d),
        crate::drafts::Opened::Submitted(_) => Err(crate::RaError::WrongState),
    }
}

/// Submits `form` through a fresh draft of `kind`, as the portal does.
pub async fn submit_as(
    ra: &Ra,
    account_id: i64,
    kind: shomei_model::AppKind,
    form: &crate::apply::ApplicationForm,
) -> crate::Result<crate::field_issue::Checked<i64>> {
    let d = open_draft(ra, account_id, kind, form).await?;
    ra.submit(account_id, &d).await
}
