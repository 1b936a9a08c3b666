//! 解約 (cancellation): from the detail page's pull-down → confirmation with the
//! warning → submit (idempotent per draft) → done. Staff confirm it at the desk; the
//! contract ends and its certificate is revoked (cessationOfOperation).

use crate::error::{WebError, WebResult};
use crate::page::Page;
use crate::session::Authed;
use crate::urlform::Form;
use crate::{Shared, html};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use shomei_model::AppKind;
use shomei_store::{Application, Draft};

/// Starts a cancellation draft for `target`.
pub async fn start(st: &Shared, a: &Authed, target: &Application) -> WebResult<Response> {
    if !st.ra.may_revoke(target).await? {
        return Err(WebError::NotFound);
    }
    let id = shomei_ra::random_token(16)?;
    let data = serde_json::json!({ "target": target.id }).to_string();
    st.ra
        .store
        .create_draft(
            &Draft {
                id: id.clone(),
                account_id: a.id(),
                kind: AppKind::Cancellation,
                data,
                step: "confirm".into(),
                application_id: None,
            },
            st.ra.now(),
        )
        .await?;
    Ok(Redirect::to(&format!("/cancel/{id}")).into_response())
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

async fn load(
    st: &Shared,
    a: &Authed,
    id: &str,
) -> WebResult<Result<(Draft, Application), Response>> {
    let d = st
        .ra
        .store
        .draft(a.id(), id)
        .await?
        .filter(|d| d.kind == AppKind::Cancellation)
        .ok_or(WebError::NotFound)?;
    if let Some(app) = d.application_id {
        return Ok(Err(
            Redirect::to(&format!("/applications/{app}/done")).into_response()
        ));
    }
    let v: serde_json::Value = serde_json::from_str(&d.data).unwrap_or_default();
    let target = v
        .get("target")
        .and_then(serde_json::Value::as_i64)
        .ok_or(WebError::NotFound)?;
    let app = st
        .ra
        .store
        .application_of(a.id(), target)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(Ok((d, app)))
}

fn page(a: &Authed, d: &Draft, t: &Application, error: &str) -> WebResult<Response> {
    html(&CancelPage {
        p: Page::new(&a.ctx, "portal", "cancel.title"),
        draft: d.id.clone(),
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
    match load(&st, &a, &id).await? {
        Ok((d, t)) => page(&a, &d, &t, ""),
        Err(r) => Ok(r),
    }
}

/// POST /cancel/{draft}/submit
pub async fn submit(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<crate::auth::CsrfForm>,
) -> WebResult<Response> {
    a.check_csrf(&f.csrf)?;
    let (d, t) = match load(&st, &a, &id).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    match st.ra.request_cancellation(a.id(), &id, t.id).await? {
        Ok(app) => Ok(Redirect::to(&format!("/applications/{app}/done")).into_response()),
        Err(key) => page(&a, &d, &t, a.ctx.tr.t(key)),
    }
}
