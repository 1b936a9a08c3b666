//! The draft wizard every multi-step form of the portal shares (新規申請 and its kin,
//! 担当者変更, 失効申請, 解約): the draft lives in the RA ([`shomei_ra::drafts`]); a
//! submitted one sends the browser to the record it became (R-A4).

use crate::Shared;
use crate::error::{WebError, WebResult};
use crate::session::Authed;
use axum::response::{IntoResponse, Redirect, Response};
use shomei_ra::drafts::{DraftForm, OpenDraft, Opened};
use shomei_store::Application;

/// The completion page of a submitted record.
pub(crate) fn done(app: i64) -> Response {
    Redirect::to(&format!("/applications/{app}/done")).into_response()
}

/// Opens the caller's draft holding `F`, or the redirect to the record it became.
pub(crate) async fn open<F: DraftForm>(
    st: &Shared,
    a: &Authed,
    id: &str,
) -> WebResult<Result<OpenDraft<F>, Response>> {
    Ok(match st.ra.open_draft::<F>(a.id(), id).await? {
        Opened::Open(d) => Ok(d),
        Opened::Submitted(app) => Err(done(app)),
    })
}

/// A draft about one of the customer's records, with that record.
pub(crate) struct Loaded<F> {
    /// The draft.
    pub draft: OpenDraft<F>,
    /// The record it is about.
    pub target: Application,
}

/// Opens a draft about a record (`target` reads the record's id from the form).
pub(crate) async fn open_about<F: DraftForm>(
    st: &Shared,
    a: &Authed,
    id: &str,
    target: impl Fn(&F) -> i64,
) -> WebResult<Result<Loaded<F>, Response>> {
    let draft = match open::<F>(st, a, id).await? {
        Ok(d) => d,
        Err(r) => return Ok(Err(r)),
    };
    let target = st
        .ra
        .application_of(a.id(), target(&draft.form))
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(Ok(Loaded { draft, target }))
}

/// Saves the draft at `step`.
pub(crate) async fn save<F: DraftForm>(
    st: &Shared,
    a: &Authed,
    draft: &OpenDraft<F>,
    step: &str,
) -> WebResult<()> {
    Ok(st.ra.save_draft(a.id(), draft, step).await?)
}

/// Unwraps an opened draft, or returns the redirect to the record it became.
macro_rules! or_return {
    ($opened:expr) => {
        match $opened.await? {
            Ok(x) => x,
            Err(redirect) => return Ok(redirect),
        }
    };
}
pub(crate) use or_return;
