//! 新規申請 (R-N1, R-A3): choose → terms → input → confirm → submit → done. Each step
//! saves the draft server-side, so back and reload show what was typed, and submit is
//! idempotent per draft (R-A4).

use crate::error::{WebError, WebResult};
use crate::page::{Errors, FieldView, Fieldset, Page};
use crate::session::Authed;
use crate::{Shared, html};
use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use shomei_ca::BusinessCategory;
use shomei_model::{AppKind, ServerType, Service, Term};
use shomei_ra::apply::{ApplicationForm, FieldIssue, check_choice, check_form};
use shomei_store::Draft;

/// The label of a service with its term, e.g. "セコムパスポート for Web SR3.0 1年".
pub fn service_label(t: crate::i18n::Tr, service: &str, term: &str) -> String {
    let name = match Service::from_code(service) {
        Some(s) => t.t(match s {
            Service::Sr30 => "service.sr30",
            Service::Ev20 => "service.ev20",
            Service::Sr20 => "service.sr20",
        }),
        None => "",
    };
    format!("{name} {}", t.t1("term.years", term))
}

#[derive(Template)]
#[template(path = "portal/apply_choose.html")]
struct ChoosePage {
    p: Page,
    action: String,
    lead: &'static str,
    error: String,
    services: Vec<(String, String, bool)>,
    terms: Vec<(String, String, bool)>,
}

fn choose_page(a: &Authed, form: &ApplicationForm, error: &str) -> WebResult<Response> {
    choose_page_for(
        a,
        form,
        error,
        Service::FOR_NEW,
        "/apply",
        ("apply.choose.title", "apply.choose.lead"),
    )
}

/// The choice of service and term among `services`, posted to `action`; `texts` are
/// the title's and the lead's message keys.
pub fn choose_page_for(
    a: &Authed,
    form: &ApplicationForm,
    error: &str,
    services: &[Service],
    action: &str,
    texts: (&'static str, &'static str),
) -> WebResult<Response> {
    let t = a.ctx.tr;
    let services = services
        .iter()
        .map(|s| {
            (
                s.code().to_owned(),
                service_label(t, s.code(), "").trim().to_owned(),
                form.service == s.code(),
            )
        })
        .collect();
    let terms = Term::OFFERED
        .iter()
        .map(|y| {
            let v = y.in_years().to_string();
            let sel = form.term == v;
            (v.clone(), t.t1("term.years", &v), sel)
        })
        .collect();
    html(&ChoosePage {
        p: Page::new(&a.ctx, "portal", texts.0),
        action: action.to_owned(),
        lead: texts.1,
        error: error.to_owned(),
        services,
        terms,
    })
}

/// GET /apply: choose the service and term.
pub async fn choose(a: Authed) -> WebResult<Response> {
    choose_page(
        &a,
        &ApplicationForm {
            term: "1".into(),
            ..Default::default()
        },
        "",
    )
}

/// The choice form.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct ChoiceForm {
    csrf: String,
    service: String,
    term: String,
}

/// POST /apply: starts a draft.
pub async fn start(
    State(st): State<Shared>,
    a: Authed,
    Form(f): Form<ChoiceForm>,
) -> WebResult<Response> {
    a.check_csrf(&f.csrf)?;
    let form = ApplicationForm {
        service: f.service,
        term: f.term,
        ..Default::default()
    };
    if check_choice(&form).is_err() {
        let mut res = choose_page(&a, &form, a.ctx.tr.t("apply.choose.error"))?;
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(res);
    }
    let id = shomei_ra::random_token(16)?;
    let draft = Draft {
        id: id.clone(),
        account_id: a.id(),
        kind: AppKind::New,
        data: to_json(&form)?,
        step: "terms".into(),
        application_id: None,
    };
    st.ra.store.create_draft(&draft, st.ra.now()).await?;
    Ok(Redirect::to(&format!("/apply/{id}/terms")).into_response())
}

fn to_json(f: &ApplicationForm) -> WebResult<String> {
    serde_json::to_string(f).map_err(|e| WebError::Internal(e.to_string()))
}

/// Loads the caller's draft; a submitted one sends the browser to its completion page.
async fn load(
    st: &Shared,
    a: &Authed,
    id: &str,
) -> WebResult<Result<(Draft, ApplicationForm), Response>> {
    let d = st
        .ra
        .store
        .draft(a.id(), id)
        .await?
        .filter(|d| d.kind.issues_certificate())
        .ok_or(WebError::NotFound)?;
    if let Some(app) = d.application_id {
        return Ok(Err(
            Redirect::to(&format!("/applications/{app}/done")).into_response()
        ));
    }
    let form: ApplicationForm =
        serde_json::from_str(&d.data).map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(Ok((d, form)))
}

macro_rules! load_or_return {
    ($st:expr, $a:expr, $id:expr) => {
        match load($st, $a, $id).await? {
            Ok(x) => x,
            Err(redirect) => return Ok(redirect),
        }
    };
}

#[derive(Template)]
#[template(path = "portal/apply_terms.html")]
struct TermsPage {
    p: Page,
    draft: String,
    service_label: String,
}

/// GET /apply/{draft}/terms: 申請規約同意.
pub async fn terms(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let (d, form) = load_or_return!(&st, &a, &id);
    html(&TermsPage {
        p: Page::new(&a.ctx, "portal", "terms.page_title"),
        draft: d.id,
        service_label: service_label(a.ctx.tr, &form.service, &form.term),
    })
}

/// POST /apply/{draft}/terms: 同意する.
pub async fn agree(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<crate::auth::CsrfForm>,
) -> WebResult<Response> {
    a.check_csrf(&f.csrf)?;
    let (d, mut form) = load_or_return!(&st, &a, &id);
    form.agreed = true;
    st.ra
        .store
        .update_draft(a.id(), &d.id, &to_json(&form)?, "input", st.ra.now())
        .await?;
    Ok(Redirect::to(&format!("/apply/{id}/input")).into_response())
}

#[derive(Template)]
#[template(path = "portal/apply_input.html")]
struct InputPage {
    p: Page,
    draft: String,
    service_label: String,
    csr: String,
    csr_error: String,
    errors: Errors,
    fieldsets: Vec<Fieldset>,
    is_reissue: bool,
    reissue_revoke: String,
}

fn text(
    name: &'static str,
    label: &'static str,
    value: &str,
    errors: &Errors,
    input: &'static str,
    required: bool,
    maxlength: usize,
) -> FieldView {
    FieldView {
        name,
        label,
        hint: "",
        value: value.to_owned(),
        error: errors.msg(name),
        input,
        required,
        options: vec![],
        maxlength,
    }
}

fn select(
    name: &'static str,
    label: &'static str,
    value: &str,
    errors: &Errors,
    options: Vec<(String, String, bool)>,
) -> FieldView {
    FieldView {
        input: "select",
        options,
        ..text(name, label, value, errors, "select", true, 0)
    }
}

/// The form's fields, grouped as the manual groups them (R-AI1).
pub fn fieldsets(
    t: crate::i18n::Tr,
    f: &ApplicationForm,
    e: &Errors,
    with_server_type: bool,
) -> Vec<Fieldset> {
    let mut out = Vec::new();
    if with_server_type {
        let options = ServerType::ALL
            .iter()
            .map(|s| {
                (
                    s.code().to_owned(),
                    t.t(server_type_key(*s)).to_owned(),
                    f.server_type == s.code(),
                )
            })
            .collect();
        out.push(Fieldset {
            legend: t.t("input.basic"),
            fields: vec![select(
                "server_type",
                t.t("field.server_type"),
                &f.server_type,
                e,
                options,
            )],
        });
    }
    out.push(Fieldset {
        legend: t.t("input.org"),
        fields: vec![
            FieldView {
                hint: t.t("field.org_name.hint"),
                ..text(
                    "org_name",
                    t.t("field.org_name"),
                    &f.org_name,
                    e,
                    "text",
                    true,
                    64,
                )
            },
            FieldView {
                hint: t.t("field.org_country.hint"),
                ..text(
                    "org_country",
                    t.t("field.org_country"),
                    &f.org_country,
                    e,
                    "text",
                    true,
                    2,
                )
            },
            text(
                "org_state",
                t.t("field.org_state"),
                &f.org_state,
                e,
                "text",
                true,
                64,
            ),
            text(
                "org_locality",
                t.t("field.org_locality"),
                &f.org_locality,
                e,
                "text",
                true,
                64,
            ),
        ],
    });
    out.extend(contact_fieldsets(t, f, e));
    if Service::from_code(&f.service).is_some_and(Service::is_ev) {
        let cats = BusinessCategory::ALL
            .iter()
            .map(|c| {
                (
                    c.text().to_owned(),
                    t.t(bc_key(*c)).to_owned(),
                    f.ev_business_category == c.text(),
                )
            })
            .collect();
        out.push(Fieldset {
            legend: t.t("input.ev"),
            fields: vec![
                select(
                    "ev_business_category",
                    t.t("field.ev_business_category"),
                    &f.ev_business_category,
                    e,
                    cats,
                ),
                FieldView {
                    hint: t.t("field.org_country.hint"),
                    ..text(
                        "ev_jurisdiction_country",
                        t.t("field.ev_jurisdiction_country"),
                        &f.ev_jurisdiction_country,
                        e,
                        "text",
                        true,
                        2,
                    )
                },
                text(
                    "ev_jurisdiction_state",
                    t.t("field.ev_jurisdiction_state"),
                    &f.ev_jurisdiction_state,
                    e,
                    "text",
                    false,
                    64,
                ),
                text(
                    "ev_jurisdiction_locality",
                    t.t("field.ev_jurisdiction_locality"),
                    &f.ev_jurisdiction_locality,
                    e,
                    "text",
                    false,
                    64,
                ),
                FieldView {
                    hint: t.t("field.ev_registration_number.hint"),
                    ..text(
                        "ev_registration_number",
                        t.t("field.ev_registration_number"),
                        &f.ev_registration_number,
                        e,
                        "text",
                        true,
                        20,
                    )
                },
            ],
        });
    }
    out
}

/// The three contacts of R-AI1 (登録担当者, 技術担当者, 事務担当者).
pub fn contact_fieldsets(t: crate::i18n::Tr, f: &ApplicationForm, e: &Errors) -> Vec<Fieldset> {
    let mut out = Vec::new();
    for (legend, [n, m, p, r], [nv, mv, pv, rv]) in [
        (
            "contact.registrant",
            ["reg_name", "reg_email", "reg_phone", "reg_renewal_mail"],
            [&f.reg_name, &f.reg_email, &f.reg_phone, &f.reg_renewal_mail],
        ),
        (
            "contact.technical",
            ["tech_name", "tech_email", "tech_phone", "tech_renewal_mail"],
            [
                &f.tech_name,
                &f.tech_email,
                &f.tech_phone,
                &f.tech_renewal_mail,
            ],
        ),
        (
            "contact.administrative",
            [
                "admin_name",
                "admin_email",
                "admin_phone",
                "admin_renewal_mail",
            ],
            [
                &f.admin_name,
                &f.admin_email,
                &f.admin_phone,
                &f.admin_renewal_mail,
            ],
        ),
    ] {
        let options = [("yes", "renewal_mail.yes"), ("no", "renewal_mail.no")]
            .iter()
            .map(|(v, k)| ((*v).to_owned(), t.t(k).to_owned(), rv.as_str() == *v))
            .collect();
        out.push(Fieldset {
            legend: t.t(legend),
            fields: vec![
                text(n, t.t("field.contact_name"), nv, e, "text", true, 64),
                text(m, t.t("field.email"), mv, e, "email", true, 254),
                text(p, t.t("field.phone"), pv, e, "tel", true, 20),
                FieldView {
                    required: false,
                    hint: t.t("field.renewal_mail.hint"),
                    ..select(r, t.t("field.renewal_mail"), rv, e, options)
                },
            ],
        });
    }
    out
}

/// The message key of a server type.
pub fn server_type_key(s: ServerType) -> &'static str {
    match s {
        ServerType::Apache => "server_type.apache",
        ServerType::Nginx => "server_type.nginx",
        ServerType::Iis => "server_type.iis",
        ServerType::Appliance => "server_type.appliance",
        ServerType::Other => "server_type.other",
    }
}

fn bc_key(c: BusinessCategory) -> &'static str {
    match c {
        BusinessCategory::PrivateOrganization => "bc.private",
        BusinessCategory::GovernmentEntity => "bc.government",
        BusinessCategory::BusinessEntity => "bc.business",
        BusinessCategory::NonCommercialEntity => "bc.noncommercial",
    }
}

/// R-N2, R-R4: the coupon pull-down of a new, renewal or switch application: the
/// account's unused coupons for this service and term (and the one chosen, if it is no
/// longer usable, so its error shows with the choice kept). `None` when there is nothing
/// to choose.
async fn coupon_fieldset(
    st: &Shared,
    a: &Authed,
    d: &Draft,
    form: &ApplicationForm,
    errors: &Errors,
) -> WebResult<Option<Fieldset>> {
    let t = a.ctx.tr;
    if !matches!(d.kind, AppKind::New | AppKind::Renewal | AppKind::Switch) {
        return Ok(None);
    }
    let (Some(service), Ok(term)) = (Service::from_code(&form.service), form.term.parse::<i64>())
    else {
        return Ok(None);
    };
    let mut options: Vec<(String, String, bool)> = st
        .ra
        .usable_coupons(a.id(), service, term)
        .await?
        .into_iter()
        .map(|c| {
            let label = t.t1("coupon.option", &crate::page::date(c.expires_at));
            let selected = form.coupon == c.number;
            (c.number.clone(), format!("{} {label}", c.number), selected)
        })
        .collect();
    if !form.coupon.is_empty() && !options.iter().any(|o| o.2) {
        options.push((form.coupon.clone(), form.coupon.clone(), true));
    }
    if options.is_empty() {
        return Ok(None);
    }
    Ok(Some(Fieldset {
        legend: t.t("coupon.legend"),
        fields: vec![FieldView {
            required: false,
            hint: t.t("coupon.hint"),
            ..select(
                "coupon",
                t.t("coupon.number"),
                &form.coupon,
                errors,
                options,
            )
        }],
    }))
}

async fn input_page(
    st: &Shared,
    a: &Authed,
    d: &Draft,
    form: &ApplicationForm,
    issues: &[FieldIssue],
) -> WebResult<Response> {
    let t = a.ctx.tr;
    let errors = Errors::from_issues(t, issues);
    let mut sets = fieldsets(t, form, &errors, true);
    sets.extend(coupon_fieldset(st, a, d, form, &errors).await?);
    let page = InputPage {
        p: Page::new(&a.ctx, "portal", "input.title"),
        draft: d.id.clone(),
        service_label: service_label(t, &form.service, &form.term),
        csr: form.csr.clone(),
        csr_error: errors.msg("csr"),
        fieldsets: sets,
        errors,
        is_reissue: d.kind == AppKind::Reissue,
        reissue_revoke: form.reissue_revoke.clone(),
    };
    let mut res = html(&page)?;
    if !issues.is_empty() {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(res)
}

/// GET /apply/{draft}/input: 基本情報入力, with whatever was typed before.
pub async fn input(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let (d, form) = load_or_return!(&st, &a, &id);
    if !form.agreed {
        return Ok(Redirect::to(&format!("/apply/{id}/terms")).into_response());
    }
    input_page(&st, &a, &d, &form, &[]).await
}

/// Reads the multipart form. Problems with the bytes themselves (invalid UTF-8, an
/// oversized file, a broken upload) become field issues, never a 500.
async fn read_multipart(
    mut mp: Multipart,
    form: &mut ApplicationForm,
) -> (String, Vec<FieldIssue>) {
    let mut csrf = String::new();
    let mut issues = Vec::new();
    let mut file: Option<Vec<u8>> = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                issues.push(FieldIssue {
                    field: "csr",
                    key: "err.upload",
                    detail: None,
                });
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(_) => {
                issues.push(FieldIssue {
                    field: "csr",
                    key: "err.upload",
                    detail: None,
                });
                break;
            }
        };
        if name == "csr_file" {
            if !bytes.is_empty() {
                file = Some(bytes.to_vec());
            }
            continue;
        }
        let Ok(value) = String::from_utf8(bytes.to_vec()) else {
            let field: &'static str = FIELD_NAMES
                .iter()
                .find(|n| **n == name)
                .copied()
                .unwrap_or("csr");
            issues.push(FieldIssue {
                field,
                key: "err.utf8",
                detail: None,
            });
            continue;
        };
        match name.as_str() {
            "csrf" => csrf = value,
            "csr" => form.csr = value,
            "server_type" => form.server_type = value,
            "org_name" => form.org_name = value,
            "org_country" => form.org_country = value,
            "org_state" => form.org_state = value,
            "org_locality" => form.org_locality = value,
            "reg_name" => form.reg_name = value,
            "reg_email" => form.reg_email = value,
            "reg_phone" => form.reg_phone = value,
            "tech_name" => form.tech_name = value,
            "tech_email" => form.tech_email = value,
            "tech_phone" => form.tech_phone = value,
            "admin_name" => form.admin_name = value,
            "admin_email" => form.admin_email = value,
            "admin_phone" => form.admin_phone = value,
            "reg_renewal_mail" => form.reg_renewal_mail = value,
            "tech_renewal_mail" => form.tech_renewal_mail = value,
            "admin_renewal_mail" => form.admin_renewal_mail = value,
            "ev_jurisdiction_country" => form.ev_jurisdiction_country = value,
            "ev_jurisdiction_state" => form.ev_jurisdiction_state = value,
            "ev_jurisdiction_locality" => form.ev_jurisdiction_locality = value,
            "ev_business_category" => form.ev_business_category = value,
            "ev_registration_number" => form.ev_registration_number = value,
            "reissue_revoke" => form.reissue_revoke = value,
            "coupon" => form.coupon = value,
            _ => {}
        }
    }
    if let Some(bytes) = file {
        // An uploaded file wins over the text area. DER is kept as PEM text.
        if bytes.len() > shomei_ca::csr::MAX_CSR_BYTES {
            issues.push(FieldIssue {
                field: "csr",
                key: "csr.too_large",
                detail: None,
            });
        } else if bytes.first() == Some(&0x30) {
            form.csr = shomei_ca::csr::pem_encode("CERTIFICATE REQUEST", &bytes);
        } else {
            match String::from_utf8(bytes) {
                Ok(s) => form.csr = s,
                Err(_) => issues.push(FieldIssue {
                    field: "csr",
                    key: "csr.not_pem",
                    detail: None,
                }),
            }
        }
    }
    // Keep the draft small: a CSR text area over the limit is refused, not stored.
    if form.csr.len() > shomei_ca::csr::MAX_CSR_BYTES {
        form.csr.clear();
        issues.push(FieldIssue {
            field: "csr",
            key: "csr.too_large",
            detail: None,
        });
    }
    for f in [
        &mut form.org_name,
        &mut form.org_state,
        &mut form.org_locality,
        &mut form.reg_name,
        &mut form.tech_name,
        &mut form.admin_name,
    ] {
        if f.chars().count() > 1000 {
            *f = f.chars().take(1000).collect();
        }
    }
    (csrf, issues)
}

const FIELD_NAMES: &[&str] = &[
    "server_type",
    "org_name",
    "org_country",
    "org_state",
    "org_locality",
    "reg_name",
    "reg_email",
    "reg_phone",
    "tech_name",
    "tech_email",
    "tech_phone",
    "admin_name",
    "admin_email",
    "admin_phone",
    "reg_renewal_mail",
    "tech_renewal_mail",
    "admin_renewal_mail",
    "coupon",
    "ev_jurisdiction_country",
    "ev_jurisdiction_state",
    "ev_jurisdiction_locality",
    "ev_business_category",
    "ev_registration_number",
];

/// POST /apply/{draft}/input: saves what was typed (always), checks it, and moves on
/// to the confirmation screen or shows each problem on the form.
pub async fn input_submit(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    mp: Multipart,
) -> WebResult<Response> {
    let (d, saved) = load_or_return!(&st, &a, &id);
    // The typed fields come from this POST alone (a missing field is missing, not the
    // previous value); the choice and the agreement come from the draft.
    let mut form = ApplicationForm {
        service: saved.service,
        term: saved.term,
        agreed: saved.agreed,
        target: saved.target,
        ..Default::default()
    };
    let is_reissue = d.kind == AppKind::Reissue;
    let (csrf, mut issues) = read_multipart(mp, &mut form).await;
    a.check_csrf(&csrf)?;
    if !form.agreed {
        return Ok(Redirect::to(&format!("/apply/{id}/terms")).into_response());
    }
    if let Err(more) = check_form(&form) {
        issues.extend(more);
    }
    if is_reissue && !matches!(form.reissue_revoke.as_str(), "now" | "later") {
        issues.push(FieldIssue {
            field: "reissue_revoke",
            key: "err.choice",
            detail: None,
        });
    }
    let step = if issues.is_empty() {
        "confirm"
    } else {
        "input"
    };
    st.ra
        .store
        .update_draft(a.id(), &d.id, &to_json(&form)?, step, st.ra.now())
        .await?;
    if !issues.is_empty() {
        return input_page(&st, &a, &d, &form, &issues).await;
    }
    Ok(Redirect::to(&format!("/apply/{id}/confirm")).into_response())
}

/// POST /apply/{draft}/fill/{block}: R-N3 — keeps what was typed and fills one block
/// (`org`, `registrant`, `technical`, `administrative`) from the account information,
/// field by field where it has a value; then back to the input page.
pub async fn fill(
    State(st): State<Shared>,
    a: Authed,
    Path((id, block)): Path<(String, String)>,
    mp: Multipart,
) -> WebResult<Response> {
    let (d, saved) = load_or_return!(&st, &a, &id);
    let mut form = ApplicationForm {
        service: saved.service,
        term: saved.term,
        agreed: saved.agreed,
        target: saved.target,
        ..Default::default()
    };
    let (csrf, _) = read_multipart(mp, &mut form).await;
    a.check_csrf(&csrf)?;
    let (info, _) = st.ra.account_info(a.id()).await?;
    let get = |k: &str| info.get(k).cloned().filter(|v| !v.is_empty());
    let set = |slot: &mut String, k: &str| {
        if let Some(v) = get(k) {
            *slot = v;
        }
    };
    match block.as_str() {
        "org" => set(&mut form.org_name, "corp_name"),
        "registrant" => {
            set(&mut form.reg_name, "registrant_name");
            set(&mut form.reg_email, "registrant_email");
            set(&mut form.reg_phone, "registrant_phone");
            set(&mut form.reg_renewal_mail, "registrant_renewal_mail");
        }
        "technical" => {
            set(&mut form.tech_name, "technical_name");
            set(&mut form.tech_email, "technical_email");
            set(&mut form.tech_phone, "technical_phone");
            set(&mut form.tech_renewal_mail, "technical_renewal_mail");
        }
        "administrative" => {
            set(&mut form.admin_name, "administrative_name");
            set(&mut form.admin_email, "administrative_email");
            set(&mut form.admin_phone, "administrative_phone");
            set(&mut form.admin_renewal_mail, "administrative_renewal_mail");
        }
        _ => return Err(WebError::NotFound),
    }
    st.ra
        .store
        .update_draft(a.id(), &d.id, &to_json(&form)?, "input", st.ra.now())
        .await?;
    Ok(Redirect::to(&format!("/apply/{id}/input")).into_response())
}

#[derive(Template)]
#[template(path = "portal/apply_confirm.html")]
struct ConfirmPage {
    p: Page,
    draft: String,
    service_label: String,
    names: Vec<String>,
    key: String,
    fieldsets: Vec<Fieldset>,
    kind: &'static str,
    note: &'static str,
    coupon: String,
}

/// GET /apply/{draft}/confirm: 確認 — what will be sent, with the CSR decoded.
pub async fn confirm(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let (d, form) = load_or_return!(&st, &a, &id);
    let Ok(valid) = check_form(&form) else {
        return Ok(Redirect::to(&format!("/apply/{id}/input")).into_response());
    };
    let t = a.ctx.tr;
    html(&ConfirmPage {
        p: Page::new(&a.ctx, "portal", "confirm.title"),
        draft: d.id,
        service_label: service_label(t, &form.service, &form.term),
        names: valid.csr.names.clone(),
        key: valid.csr.key.describe(),
        fieldsets: fieldsets(t, &form, &Errors::default(), true),
        kind: crate::portal::applications::kind_key(d.kind),
        note: match d.kind {
            AppKind::Switch => "switch.confirm_note",
            _ => "",
        },
        coupon: form.coupon.clone(),
    })
}

/// POST /apply/{draft}/submit: sends the application to the CA. The completion screen
/// follows only after the commit; a second submit lands on the same completion screen.
pub async fn submit(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<crate::auth::CsrfForm>,
) -> WebResult<Response> {
    a.check_csrf(&f.csrf)?;
    let d = st
        .ra
        .store
        .draft(a.id(), &id)
        .await?
        .filter(|d| d.kind.issues_certificate())
        .ok_or(WebError::NotFound)?;
    if let Some(app) = d.application_id {
        return Ok(Redirect::to(&format!("/applications/{app}/done")).into_response());
    }
    let form: ApplicationForm =
        serde_json::from_str(&d.data).map_err(|e| WebError::Internal(e.to_string()))?;
    match st.ra.submit(a.id(), &id, &form).await? {
        Ok(app) => Ok(Redirect::to(&format!("/applications/{app}/done")).into_response()),
        Err(issues) => input_page(&st, &a, &d, &form, &issues).await,
    }
}

/// 更新申請 (R-R1, R-R3) and 再発行申請 (R-RI1, R-RI5): a draft prefilled with the
/// previous application's data (organisation, contacts, server type, EV data); only the
/// CSR is new (R-S2).
pub async fn start_continuation(
    st: &Shared,
    a: &Authed,
    target: &shomei_store::Application,
    kind: AppKind,
) -> WebResult<Response> {
    let mut form = crate::portal::applications::details_form(target);
    form.term = target.term_years.to_string();
    form.server_type = target.server_type.code().to_owned();
    form.target = target.id;
    start_draft(st, a, kind, &form).await
}

/// GET /applications/{id}/switch: 別サービスへ切り替えて申請 (R-R5), choose the new
/// service and term.
pub async fn switch_choose(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let target = switchable(&st, &a, &id).await?;
    let form = ApplicationForm {
        term: "1".into(),
        ..Default::default()
    };
    switch_page(&a, &target, &form, "")
}

fn switch_page(
    a: &Authed,
    target: &shomei_store::Application,
    form: &ApplicationForm,
    error: &str,
) -> WebResult<Response> {
    choose_page_for(
        a,
        form,
        error,
        &shomei_ra::Ra::switch_targets(target.service),
        &format!("/applications/{}/switch", target.id),
        ("switch.title", "switch.lead"),
    )
}

async fn switchable(st: &Shared, a: &Authed, id: &str) -> WebResult<shomei_store::Application> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let target = st
        .ra
        .store
        .application_of(a.id(), id)
        .await?
        .ok_or(WebError::NotFound)?;
    if !st.ra.may_switch(&target).await? {
        return Err(WebError::NotFound);
    }
    Ok(target)
}

/// POST /applications/{id}/switch: starts the switch's draft, filled from the record
/// (R-R5 keeps the contract's data), then terms → input → confirm → submit.
pub async fn switch_start(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<ChoiceForm>,
) -> WebResult<Response> {
    a.check_csrf(&f.csrf)?;
    let target = switchable(&st, &a, &id).await?;
    let targets = shomei_ra::Ra::switch_targets(target.service);
    let choice = ApplicationForm {
        service: f.service,
        term: f.term,
        ..Default::default()
    };
    if shomei_ra::apply::check_choice_in(&choice, &targets).is_err() {
        let mut res = switch_page(&a, &target, &choice, a.ctx.tr.t("apply.choose.error"))?;
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(res);
    }
    let mut form = crate::portal::applications::details_form(&target);
    form.service = choice.service;
    form.term = choice.term;
    form.server_type = target.server_type.code().to_owned();
    form.target = target.id;
    start_draft(&st, &a, AppKind::Switch, &form).await
}

/// Stores a new draft of `kind` with `form` and sends the browser to its terms.
async fn start_draft(
    st: &Shared,
    a: &Authed,
    kind: AppKind,
    form: &ApplicationForm,
) -> WebResult<Response> {
    let id = shomei_ra::random_token(16)?;
    let draft = Draft {
        id: id.clone(),
        account_id: a.id(),
        kind,
        data: to_json(form)?,
        step: "terms".into(),
        application_id: None,
    };
    st.ra.store.create_draft(&draft, st.ra.now()).await?;
    Ok(Redirect::to(&format!("/apply/{id}/terms")).into_response())
}
