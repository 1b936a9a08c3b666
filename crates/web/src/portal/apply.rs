//! 新規申請 (R-N1, R-A3): choose → terms → input → confirm → submit → done. Each step
//! saves the draft server-side, so back and reload show what was typed, and submit is
//! idempotent per draft (R-A4).
use super::multipart::read_multipart;
use super::wizard;
use crate::error::{WebError, WebResult};
use crate::form::{fieldsets, select, service_label, service_options, term_options};
use crate::page::{Errors, FieldView, Fieldset, Page};
use crate::session::Authed;
use crate::session::CsrfPost;
use crate::urlform::Form;
use crate::{Shared, html};
use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use shomei_model::{AppKind, Service};
use shomei_ra::apply::{ApplicationForm, check_choice, check_form};
use shomei_ra::drafts::OpenDraft;
use shomei_ra::field_issue::FieldIssue;
use shomei_ra::form::{CONTACT_PARTS, CONTACTS, TextFields};

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
    let services = service_options(t, services, &form.service);
    let terms = term_options(t, &form.term);
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
    pub(crate) csrf: String,
    pub(crate) service: String,
    pub(crate) term: String,
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
    let id = st
        .ra
        .start_draft(a.id(), AppKind::New, &form, "terms")
        .await?;
    Ok(Redirect::to(&format!("/apply/{id}/terms")).into_response())
}

/// The draft of this wizard.
type Opened = OpenDraft<ApplicationForm>;

macro_rules! load_or_return {
    ($st:expr, $a:expr, $id:expr) => {
        wizard::or_return!(wizard::open::<ApplicationForm>($st, $a, $id))
    };
}

/// The typed fields come from the POST alone (a missing field is missing, not the
/// previous value); the choice and the agreement come from the draft.
fn fresh_form(saved: &ApplicationForm) -> ApplicationForm {
    ApplicationForm {
        service: saved.service.clone(),
        term: saved.term.clone(),
        agreed: saved.agreed,
        target: saved.target,
        ..Default::default()
    }
}

/// The heading of a step for the kind of application (issue #8 item 10): a renewal's
/// pages say 更新申請, a reissue's 再発行申請, and so on, not only the step.
fn step_title(kind: AppKind, step: &'static str) -> &'static str {
    match (kind, step) {
        (AppKind::Renewal, "terms.page_title") => "terms.page_title.renewal",
        (AppKind::Renewal, "input.title") => "input.title.renewal",
        (AppKind::Renewal, "confirm.title") => "confirm.title.renewal",
        (AppKind::Reissue, "terms.page_title") => "terms.page_title.reissue",
        (AppKind::Reissue, "input.title") => "input.title.reissue",
        (AppKind::Reissue, "confirm.title") => "confirm.title.reissue",
        (AppKind::Continuation, "terms.page_title") => "terms.page_title.continuation",
        (AppKind::Continuation, "input.title") => "input.title.continuation",
        (AppKind::Continuation, "confirm.title") => "confirm.title.continuation",
        (AppKind::Switch, "terms.page_title") => "terms.page_title.switch",
        (AppKind::Switch, "input.title") => "input.title.switch",
        (AppKind::Switch, "confirm.title") => "confirm.title.switch",
        _ => step,
    }
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
    let d = load_or_return!(&st, &a, &id);
    html(&TermsPage {
        p: Page::new(&a.ctx, "portal", step_title(d.kind, "terms.page_title")),
        service_label: service_label(a.ctx.tr, &d.form.service, &d.form.term),
        draft: d.id,
    })
}

/// POST /apply/{draft}/terms: 同意する.
pub async fn agree(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let mut d = load_or_return!(&st, &a, &id);
    d.form.agreed = true;
    wizard::save(&st, &a, &d, "input").await?;
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

/// R-N2, R-R4: the coupon pull-down of a new, renewal or switch application: the
/// account's unused coupons for this service and term (and the one chosen, if it is no
/// longer usable, so its error shows with the choice kept). `None` when there is nothing
/// to choose.
async fn coupon_fieldset(
    st: &Shared,
    a: &Authed,
    d: &Opened,
    errors: &Errors,
) -> WebResult<Option<Fieldset>> {
    let t = a.ctx.tr;
    let form = &d.form;
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
    d: &Opened,
    issues: &[FieldIssue],
) -> WebResult<Response> {
    let t = a.ctx.tr;
    let form = &d.form;
    let errors = Errors::from_issues(t, issues);
    let mut sets = fieldsets(t, form, &errors, true);
    sets.extend(coupon_fieldset(st, a, d, &errors).await?);
    let page = InputPage {
        p: Page::new(&a.ctx, "portal", step_title(d.kind, "input.title")),
        draft: d.id.clone(),
        service_label: service_label(t, &form.service, &form.term),
        csr: form.csr.clone(),
        csr_error: errors.msg("csr"),
        fieldsets: sets,
        errors,
        is_reissue: d.kind == AppKind::Reissue,
        reissue_revoke: form.reissue_revoke.clone(),
    };
    crate::form_page(&page, !issues.is_empty())
}

/// GET /apply/{draft}/input: 基本情報入力, with whatever was typed before.
pub async fn input(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let d = load_or_return!(&st, &a, &id);
    if !d.form.agreed {
        return Ok(Redirect::to(&format!("/apply/{id}/terms")).into_response());
    }
    input_page(&st, &a, &d, &[]).await
}

/// POST /apply/{draft}/input: saves what was typed (always), checks it, and moves on
/// to the confirmation screen or shows each problem on the form.
pub async fn input_submit(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    mp: Multipart,
) -> WebResult<Response> {
    let mut d = load_or_return!(&st, &a, &id);
    let mut form = fresh_form(&d.form);
    let is_reissue = d.kind == AppKind::Reissue;
    let (csrf, mut issues) = read_multipart(mp, &mut form).await;
    a.check_csrf(&csrf)?;
    if !form.agreed {
        return Ok(Redirect::to(&format!("/apply/{id}/terms")).into_response());
    }
    match check_form(&form, &st.ra.policy.keys) {
        // What goes into the certificate is kept in its normalised form (issue #8 item 1).
        Ok(valid) => valid.normalise_into(&mut form),
        Err(more) => issues.extend(more),
    }
    if is_reissue && !matches!(form.reissue_revoke.as_str(), "now" | "later") {
        issues.push(FieldIssue::new("reissue_revoke", "err.choice"));
    }
    let step = if issues.is_empty() {
        "confirm"
    } else {
        "input"
    };
    d.form = form;
    wizard::save(&st, &a, &d, step).await?;
    if !issues.is_empty() {
        return input_page(&st, &a, &d, &issues).await;
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
    let mut d = load_or_return!(&st, &a, &id);
    let mut form = fresh_form(&d.form);
    let (csrf, _) = read_multipart(mp, &mut form).await;
    a.check_csrf(&csrf)?;
    let (info, _) = st.ra.account_info(a.id()).await?;
    let get = |k: &str| info.get(k).cloned().filter(|v| !v.is_empty());
    // Which form field takes which account-information field.
    let pairs: Vec<(String, String)> = if block == "org" {
        let mut v = vec![
            ("org_name", "corp_name"),
            ("org_country", "corp_country"),
            ("org_state", "corp_state"),
            ("org_locality", "corp_locality"),
            ("org_kana", "corp_kana"),
            ("org_postal", "corp_postal"),
            ("org_address", "corp_address"),
            ("org_current_postal", "current_postal"),
            ("org_current_address", "current_address"),
        ];
        // 登記番号: the OV field, or for EV the one in the EV data.
        v.push(
            if Service::from_code(&form.service).is_some_and(Service::is_ev) {
                ("ev_registration_number", "corp_number")
            } else {
                ("org_registration_number", "corp_number")
            },
        );
        v.into_iter()
            .map(|(f, i)| (f.to_owned(), i.to_owned()))
            .collect()
    } else {
        let who = CONTACTS
            .iter()
            .find(|w| w.info == block)
            .ok_or(WebError::NotFound)?;
        CONTACT_PARTS
            .iter()
            .map(|p| (format!("{}_{p}", who.prefix), format!("{}_{p}", who.info)))
            .collect()
    };
    for (field, key) in &pairs {
        if let (Some(slot), Some(v)) = (form.text_mut(field), get(key)) {
            *slot = v;
        }
    }
    d.form = form;
    wizard::save(&st, &a, &d, "input").await?;
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
    /// The subject the certificate will carry.
    subject: String,
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
    let d = load_or_return!(&st, &a, &id);
    let form = &d.form;
    let Ok(valid) = check_form(form, &st.ra.policy.keys) else {
        return Ok(Redirect::to(&format!("/apply/{id}/input")).into_response());
    };
    let t = a.ctx.tr;
    html(&ConfirmPage {
        p: Page::new(&a.ctx, "portal", step_title(d.kind, "confirm.title")),
        draft: d.id.clone(),
        service_label: service_label(t, &form.service, &form.term),
        names: valid.csr.names.clone(),
        key: valid.csr.key.describe(),
        subject: valid.subject(),
        fieldsets: fieldsets(t, form, &Errors::default(), true),
        kind: crate::words::kind_key(d.kind),
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
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let d = load_or_return!(&st, &a, &id);
    match st.ra.submit(a.id(), &d).await? {
        Ok(app) => Ok(wizard::done(app)),
        Err(issues) => input_page(&st, &a, &d, &issues).await,
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
    let mut form = ApplicationForm::of_record(target);
    form.term = target.term_years.to_string();
    form.server_type = target.server_type.code().to_owned();
    form.target = target.id;
    start_draft(st, a, kind, &form).await
}

/// Stores a new draft of `kind` with `form` and sends the browser to its terms.
pub(crate) async fn start_draft(
    st: &Shared,
    a: &Authed,
    kind: AppKind,
    form: &ApplicationForm,
) -> WebResult<Response> {
    let id = st.ra.start_draft(a.id(), kind, form, "terms").await?;
    Ok(Redirect::to(&format!("/apply/{id}/terms")).into_response())
}
