//! 解約 (cancellation): from the detail page's pull-down → confirmation with the
//! warning → submit (idempotent per draft) → done. Staff confirm it at the desk; the
//! contract ends and its certificate is revoked (cessationOfOperation).

use super::wizard;
use crate::error::{WebError, WebResult};
use crate::page::Page;
use crate::session::Authed;
use crate::session::CsrfPost;
use crate::{Shared, html};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use shomei_model::AppKind;
use shomei_ra::revoke::CancellationForm;
use shomei_store::Application;

/// Starts a cancellation draft for `target`.
pub async fn start(st: &Shared, a: &Authed, target: &Application) -> WebResult<Response> {
    if !st.ra.may_revoke(target).await? {
        return Err(WebError::NotFound);
    }
    let form = CancellationForm { target: target.id };
    let id = st
        .ra
        .start_draft(a.id(), AppKind::Cancellation, &form, "confirm")
        .await?;
    Ok(Redirect::to(&format!("/cancel/{id}")).into_response())
}

type Loaded = wizard::Loaded<CancellationForm>;

async fn open(st: &Shared, a: &Authed, id: &str) -> WebResult<Result<Loaded, Response>> {
    wizard::open_about::<CancellationForm>(st, a, id, |f| f.target).await
}

#[derive(Template)]
#[template(path = "portal/cancel.html")]
struct CancelPage {
    p: Page,
    draft: String,
    target: i64,
    contract: String,
    server: String,
    org: String,
    error: String,
}

fn page(a: &Authed, l: &Loaded, error: &str) -> WebResult<Response> {
    let t = &l.target;
    html(&CancelPage {
        p: Page::new(&a.ctx, "portal", "cancel.title"),
        draft: l.draft.id.clone(),
        target: t.id,
        contract: t.contract_code.clone().unwrap_or_else(|| "-".into()),
        server: t.common_name.clone(),
        org: t.details.organisation.name.clone(),
        error: error.to_owned(),
    })
}

/// GET /cancel/{draft}: the confirmation with the warning.
pub async fn confirm(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let l = wizard::or_return!(open(&st, &a, &id));
    page(&a, &l, "")
}

/// POST /cancel/{draft}/submit
pub async fn submit(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let l = wizard::or_return!(open(&st, &a, &id));
    match st.ra.request_cancellation(a.id(), &l.draft).await? {
        Ok(app) => Ok(wizard::done(app)),
        Err(key) => page(&a, &l, a.ctx.tr.t(key)),
    }
}
