//! The desk's revocation step (R-V4; issue #8 item 7: the call's outcomes) and the
//! documents customers submitted (issue #8 item 2).

use crate::Shared;
use crate::desk::{outcome, record_id};
use crate::error::{WebError, WebResult};
use crate::session::Authed;
use crate::session::CsrfPost;
use crate::urlform::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shomei_ra::RaError;

/// GET /applications/{id}/documents/{doc}: a submitted document, as an attachment with
/// the type its content was recognised as (issue #8 item 2).
pub(crate) async fn document(
    State(st): State<Shared>,
    _a: Authed,
    Path((id, doc)): Path<(String, String)>,
) -> WebResult<Response> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let doc: i64 = doc.parse().map_err(|_| WebError::NotFound)?;
    let (info, data) = st.ra.document(id, doc).await?.ok_or(WebError::NotFound)?;
    let encoded: String = info
        .filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, info.content_type.clone()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"document-{doc}\"; filename*=UTF-8''{encoded}"),
            ),
        ],
        data,
    )
        .into_response())
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(crate) struct OutcomeForm {
    csrf: String,
    outcome: String,
    note: String,
}

/// POST /applications/{id}/revocation-outcome: the phone call did not confirm the
/// request — `unreachable` (recorded; the request waits, deadline kept) or `denied`
/// (the request is rejected, nothing revoked). Issue #8 item 7.
pub(crate) async fn revocation_outcome(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<OutcomeForm>,
) -> WebResult<Response> {
    let app_id = record_id(&a, &f.csrf, &id)?;
    match f.outcome.as_str() {
        "unreachable" => {
            let result = st.ra.revocation_unreachable(a.id(), app_id, &f.note).await;
            outcome(&st, &a, app_id, result, "rev_unreachable").await
        }
        "denied" => {
            let result = st.ra.revocation_denied(a.id(), app_id, &f.note).await;
            outcome(&st, &a, app_id, result, "rev_denied").await
        }
        _ => outcome::<()>(&st, &a, app_id, Err(RaError::Invalid("err.choice")), "").await,
    }
}

/// POST /applications/{id}/confirm-revocation: the phone confirmation is recorded and
/// the certificate revoked at once (R-V4); the CRL is re-signed.
pub(crate) async fn confirm_revocation(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let app_id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let result = st.ra.confirm_revocation(a.id(), app_id).await;
    outcome(&st, &a, app_id, result, "revoked").await
}
