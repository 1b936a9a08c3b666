//! The draft wizard every multi-step form of the portal shares (新規申請 and its kin,
//! 担当者変更, 失効申請, 解約): the draft lives in the RA ([`shomei_ra::drafts`]); a
//! submitted one sends the browser to the record it became (R-A4).

use crate::error::{WebError, WebResult};
use crate::page::Page;
use crate::session::Authed;
use crate::session::CsrfPost;
use crate::{Shared, html};
use askama::Template;
use axum::extract::{Path, State};
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

/// A wizard about one of the customer's records that begins with its own terms
/// (担当者変更, 失効申請): the terms page and its 同意する are the same for each.
pub(crate) trait RecordWizard: DraftForm {
    /// The URL segment (`contacts`, `revoke`) and the prefix of its messages: the terms
    /// page reads `{PATH}.terms.lead`, `.title` and `.1` to `.{CLAUSES}`.
    const PATH: &'static str;
    /// The terms page's title key (`{PATH}.terms.page_title`).
    const TERMS_TITLE: &'static str;
    /// How many clauses its terms have.
    const CLAUSES: usize;
    /// The record it is about.
    fn target(&self) -> i64;
    /// Whether the terms were agreed to.
    fn agreed(&self) -> bool;
    /// Records the agreement.
    fn agree(&mut self);
    /// The input step's page, as first shown.
    fn input_page(a: &Authed, l: &Loaded<Self>) -> WebResult<Response>;
}

/// Starts a record wizard's draft holding `form` and sends the browser to its terms.
pub(crate) async fn start_record<F: RecordWizard>(
    st: &Shared,
    a: &Authed,
    kind: shomei_model::AppKind,
    form: &F,
) -> WebResult<Response> {
    let id = st.ra.start_draft(a.id(), kind, form, "terms").await?;
    Ok(Redirect::to(&format!("/{}/{id}/terms", F::PATH)).into_response())
}

/// Implements [`RecordWizard`] for a form with `target` and `agreed` fields:
/// `record_wizard!(Form, "path", clauses, |a, l| first input page)`.
macro_rules! record_wizard {
    ($form:ty, $path:literal, $clauses:literal, $input:expr) => {
        impl $crate::portal::wizard::RecordWizard for $form {
            const PATH: &'static str = $path;
            const TERMS_TITLE: &'static str = concat!($path, ".terms.page_title");
            const CLAUSES: usize = $clauses;
            fn target(&self) -> i64 {
                self.target
            }
            fn agreed(&self) -> bool {
                self.agreed
            }
            fn agree(&mut self) {
                self.agreed = true;
            }
            fn input_page(
                a: &$crate::session::Authed,
                l: &$crate::portal::wizard::Loaded<Self>,
            ) -> $crate::error::WebResult<axum::response::Response> {
                let first: fn(
                    &$crate::session::Authed,
                    &$crate::portal::wizard::Loaded<Self>,
                ) -> $crate::error::WebResult<axum::response::Response> = $input;
                first(a, l)
            }
        }
    };
}
pub(crate) use record_wizard;

/// Opens a record wizard's draft with its record.
pub(crate) async fn open_record<F: RecordWizard>(
    st: &Shared,
    a: &Authed,
    id: &str,
) -> WebResult<Result<Loaded<F>, Response>> {
    open_about::<F>(st, a, id, F::target).await
}

#[derive(Template)]
#[template(path = "portal/wizard_terms.html")]
struct TermsPage {
    p: Page,
    path: &'static str,
    draft: String,
    target: i64,
    lead: String,
    title: String,
    clauses: Vec<String>,
}

/// GET /{path}/{draft}/terms: the wizard's terms (…申請規約同意).
pub(crate) async fn terms<F: RecordWizard>(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let l = or_return!(open_record::<F>(&st, &a, &id));
    let key = |k: &str| format!("{}.terms.{k}", F::PATH);
    html(&TermsPage {
        p: Page::new(&a.ctx, "portal", F::TERMS_TITLE),
        path: F::PATH,
        draft: l.draft.id,
        target: l.target.id,
        lead: key("lead"),
        title: key("title"),
        clauses: (1..=F::CLAUSES).map(|n| key(&n.to_string())).collect(),
    })
}

/// POST /{path}/{draft}/terms: 同意する, then the input step.
pub(crate) async fn agree<F: RecordWizard>(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let mut l = or_return!(open_record::<F>(&st, &a, &id));
    l.draft.form.agree();
    save(&st, &a, &l.draft, "input").await?;
    Ok(Redirect::to(&format!("/{}/{id}/input", F::PATH)).into_response())
}

/// GET /{path}/{draft}/input: the input step, once the terms are agreed to.
pub(crate) async fn input<F: RecordWizard>(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let l = or_return!(open_record::<F>(&st, &a, &id));
    if !l.draft.form.agreed() {
        return Ok(Redirect::to(&format!("/{}/{id}/terms", F::PATH)).into_response());
    }
    F::input_page(&a, &l)
}
