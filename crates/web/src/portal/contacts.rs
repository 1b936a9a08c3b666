//! 担当者変更申請 (R-C1): detail pull-down → terms → the contacts only (prefilled) →
//! confirm → submit → done. Staff complete it at the desk.

use super::wizard;
use crate::error::{WebError, WebResult};
use crate::form::contact_fieldsets;
use crate::page::{Errors, Fieldset, Page};
use crate::session::Authed;
use crate::session::CsrfPost;
use crate::urlform::Form;
use crate::{Shared, html};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use shomei_model::AppKind;
use shomei_ra::Ra;
use shomei_ra::apply::ApplicationForm;
use shomei_ra::contacts::{ContactForm, check_contacts};
use shomei_ra::field_issue::FieldIssue;
use shomei_ra::form::TextFields;
use shomei_store::Application;
use std::collections::BTreeMap;

/// Starts a contact change draft for `target`, prefilled with its contacts.
pub async fn start(st: &Shared, a: &Authed, target: &Application) -> WebResult<Response> {
    if !Ra::may_change_contacts(target) {
        return Err(WebError::NotFound);
    }
    wizard::start_record(
        st,
        a,
        AppKind::ContactChange,
        &ContactForm::from_record(target),
    )
    .await
}

type Loaded = wizard::Loaded<ContactForm>;

macro_rules! load_or_return {
    ($st:expr, $a:expr, $id:expr) => {
        wizard::or_return!(wizard::open_record::<ContactForm>($st, $a, $id))
    };
}

fn as_form(f: &ContactForm) -> ApplicationForm {
    f.to_application_form()
}

#[derive(Template)]
#[template(path = "portal/contacts_input.html")]
struct InputPage {
    p: Page,
    draft: String,
    contract: String,
    server: String,
    errors: Errors,
    fieldsets: Vec<Fieldset>,
}

fn input_page(a: &Authed, l: &Loaded, issues: &[FieldIssue]) -> WebResult<Response> {
    let errors = Errors::from_issues(a.ctx.tr, issues);
    crate::form_page(
        &InputPage {
            p: Page::new(&a.ctx, "portal", "contacts.input.title"),
            draft: l.draft.id.clone(),
            contract: l.target.contract_code.clone().unwrap_or_else(|| "-".into()),
            server: l.target.common_name.clone(),
            fieldsets: contact_fieldsets(a.ctx.tr, &as_form(&l.draft.form), &errors),
            errors,
        },
        !issues.is_empty(),
    )
}

/// POST /contacts/{draft}/input: saves what was typed, checks it.
pub async fn input_submit(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<BTreeMap<String, String>>,
) -> WebResult<Response> {
    a.check_csrf(f.get("csrf").map(String::as_str).unwrap_or(""))?;
    let mut l = load_or_return!(&st, &a, &id);
    let mut form = ContactForm {
        target: l.draft.form.target,
        agreed: l.draft.form.agreed,
        ..Default::default()
    };
    for name in ContactForm::TEXT_FIELDS {
        if let (Some(slot), Some(v)) = (form.text_mut(name), f.get(*name)) {
            slot.clone_from(v);
        }
    }
    l.draft.form = form;
    let checked = check_contacts(&l.draft.form);
    let step = if checked.is_ok() { "confirm" } else { "input" };
    wizard::save(&st, &a, &l.draft, step).await?;
    match checked {
        Ok(_) => Ok(Redirect::to(&format!("/contacts/{id}/confirm")).into_response()),
        Err(issues) => input_page(&a, &l, &issues),
    }
}

#[derive(Template)]
#[template(path = "portal/contacts_confirm.html")]
struct ConfirmPage {
    p: Page,
    draft: String,
    contract: String,
    server: String,
    /// Each fieldset's legend and its rows.
    rows: Vec<(&'static str, Vec<ChangedRow>)>,
}

/// One confirmed field: its label, the new value, and whether it changed.
type ChangedRow = (&'static str, String, bool);

/// GET /contacts/{draft}/confirm: 担当者変更申請入力確認.
pub async fn confirm(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let l = load_or_return!(&st, &a, &id);
    if check_contacts(&l.draft.form).is_err() {
        return Ok(Redirect::to(&format!("/contacts/{id}/input")).into_response());
    }
    // Issue #8 item 17: what changed against the record is marked.
    let t = a.ctx.tr;
    let before = contact_fieldsets(
        t,
        &ApplicationForm::of_record(&l.target),
        &Errors::default(),
    );
    let after = contact_fieldsets(t, &as_form(&l.draft.form), &Errors::default());
    let rows = after
        .iter()
        .zip(before.iter())
        .map(|(new, old)| {
            let fields = new
                .fields
                .iter()
                .zip(old.fields.iter())
                .map(|(n, o)| (n.label, n.shown(), n.shown() != o.shown()))
                .collect();
            (new.legend, fields)
        })
        .collect();
    html(&ConfirmPage {
        p: Page::new(&a.ctx, "portal", "contacts.confirm.title"),
        draft: l.draft.id.clone(),
        contract: l.target.contract_code.clone().unwrap_or_else(|| "-".into()),
        server: l.target.common_name.clone(),
        rows,
    })
}

/// POST /contacts/{draft}/submit: 申込 (idempotent per draft).
pub async fn submit(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let l = load_or_return!(&st, &a, &id);
    match st.ra.request_contact_change(a.id(), &l.draft).await? {
        Ok(app) => Ok(wizard::done(app)),
        Err(issues) => input_page(&a, &l, &issues),
    }
}

wizard::record_wizard!(ContactForm, "contacts", 2, |a, l| input_page(a, l, &[]));
