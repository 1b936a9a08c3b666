//! 失効申請 (R-V1–R-V3): from the detail page's pull-down → terms → reason → confirm
//! (which warns that it cannot be taken back) → submit → done. The record then waits
//! for the phone confirmation at the desk (R-V4).

use super::wizard;
use crate::error::{WebError, WebResult};
use crate::page::Page;
use crate::session::Authed;
use crate::session::CsrfPost;
use crate::urlform::Form;
use crate::words::reason_key;
use crate::{Shared, html};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use shomei_model::{AppKind, RevocationReason};
use shomei_ra::revoke::RevocationForm;
use shomei_store::Application;

/// Starts a revocation draft for `target` (called from the detail page's pull-down).
pub async fn start(st: &Shared, a: &Authed, target: &Application) -> WebResult<Response> {
    if !st.ra.may_revoke(target).await? {
        return Err(WebError::NotFound);
    }
    let form = RevocationForm {
        target: target.id,
        ..Default::default()
    };
    wizard::start_record(st, a, AppKind::Revocation, &form).await
}

type Loaded = wizard::Loaded<RevocationForm>;

macro_rules! load_or_return {
    ($st:expr, $a:expr, $id:expr) => {
        wizard::or_return!(wizard::open_record::<RevocationForm>($st, $a, $id))
    };
}

#[derive(Template)]
#[template(path = "portal/revoke_input.html")]
struct InputPage {
    p: Page,
    draft: String,
    error: String,
    contract: String,
    server: String,
    org: String,
    reasons: Vec<(String, String, bool)>,
}

fn input_page(a: &Authed, l: &Loaded, error: &str) -> WebResult<Response> {
    let t = a.ctx.tr;
    let reasons = RevocationReason::ALL
        .iter()
        .map(|r| {
            (
                r.code().to_owned(),
                t.t(reason_key(*r)).to_owned(),
                l.draft.form.reason == r.code(),
            )
        })
        .collect();
    crate::form_page(
        &InputPage {
            p: Page::new(&a.ctx, "portal", "revoke.input.title"),
            draft: l.draft.id.clone(),
            error: error.to_owned(),
            contract: l.target.contract_code.clone().unwrap_or_else(|| "-".into()),
            server: l.target.common_name.clone(),
            org: l.target.details.organisation.name.clone(),
            reasons,
        },
        !error.is_empty(),
    )
}

/// The reason form.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct ReasonForm {
    csrf: String,
    reason: String,
}

/// POST /revoke/{draft}/input
pub async fn input_submit(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<ReasonForm>,
) -> WebResult<Response> {
    a.check_csrf(&f.csrf)?;
    let mut l = load_or_return!(&st, &a, &id);
    if RevocationReason::from_code(&f.reason).is_none() {
        return input_page(&a, &l, a.ctx.tr.t("err.revoke_reason"));
    }
    l.draft.form.reason = f.reason;
    wizard::save(&st, &a, &l.draft, "confirm").await?;
    Ok(Redirect::to(&format!("/revoke/{id}/confirm")).into_response())
}

#[derive(Template)]
#[template(path = "portal/revoke_confirm.html")]
struct ConfirmPage {
    p: Page,
    draft: String,
    contract: String,
    server: String,
    org: String,
    reason: String,
}

/// GET /revoke/{draft}/confirm: 失効申請 入力確認画面, with the warning of R-V3.
pub async fn confirm(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let l = load_or_return!(&st, &a, &id);
    let Some(reason) = RevocationReason::from_code(&l.draft.form.reason) else {
        return Ok(Redirect::to(&format!("/revoke/{id}/input")).into_response());
    };
    html(&ConfirmPage {
        p: Page::new(&a.ctx, "portal", "revoke.confirm.title"),
        draft: l.draft.id.clone(),
        contract: l.target.contract_code.clone().unwrap_or_else(|| "-".into()),
        server: l.target.common_name.clone(),
        org: l.target.details.organisation.name.clone(),
        reason: a.ctx.tr.t(reason_key(reason)).to_owned(),
    })
}

/// POST /revoke/{draft}/submit: 確認 — the request goes to the CA (idempotent per draft).
pub async fn submit(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let l = load_or_return!(&st, &a, &id);
    match st.ra.request_revocation(a.id(), &l.draft).await? {
        Ok(app) => Ok(wizard::done(app)),
        Err(key) => input_page(&a, &l, a.ctx.tr.t(key)),
    }
}

wizard::record_wizard!(RevocationForm, "revoke", 3, |a, l| input_page(a, l, ""));
