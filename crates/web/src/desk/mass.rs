//! The desk's 一括失効 (mass revocation, issue #11 item 3): staff paste serials or name a
//! compromised key, see what it would revoke, and confirm; the worker revokes it in the
//! background while this page shows its progress. Post/redirect/get throughout: a
//! reload or a second click starts nothing twice.

use crate::Shared;
use crate::error::{WebError, WebResult};
use crate::page::{Errors, FieldView, Fieldset, Page, datetime};
use crate::session::Authed;
use crate::session::CsrfPost;
use crate::urlform::Form;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use shomei_ra::field_issue::FieldIssue;
use shomei_ra::mass_revoke::{MASS_REASONS, MassForm};
use shomei_store::mass_revocations::{MassPreview, MassRevocation};

/// The largest body the form takes: 200,000 serials written with colons and url-encoded.
pub const MASS_BODY_LIMIT: usize = 32 * 1024 * 1024;

struct Row {
    id: i64,
    created: String,
    status: String,
    total: i64,
    revoked: i64,
}

#[derive(Template)]
#[template(path = "desk/mass.html")]
struct MassPage {
    p: Page,
    fieldsets: Vec<Fieldset>,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "desk/mass_detail.html")]
struct MassDetailPage {
    p: Page,
    id: i64,
    status: String,
    draft: bool,
    running: bool,
    by_key: String,
    reason: String,
    note: String,
    total: i64,
    position: i64,
    revoked: i64,
    created: String,
    finished: String,
    preview: Option<MassPreview>,
}

fn reason_key(code: i64) -> &'static str {
    match code {
        1 => "mass.reason.1",
        3 => "mass.reason.3",
        4 => "mass.reason.4",
        5 => "mass.reason.5",
        9 => "mass.reason.9",
        _ => "mass.reason.0",
    }
}

fn status_key(status: &str) -> &'static str {
    match status {
        "draft" => "mass.status.draft",
        "running" => "mass.status.running",
        "done" => "mass.status.done",
        _ => "mass.status.cancelled",
    }
}

fn field(
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    value: &str,
    input: &'static str,
    options: Vec<(String, String, bool)>,
    required: bool,
) -> FieldView {
    FieldView {
        name,
        label,
        hint,
        value: value.to_owned(),
        error: String::new(),
        input,
        required,
        options,
        maxlength: if input == "text" { 100 } else { 0 },
    }
}

async fn form_page(
    st: &Shared,
    a: &Authed,
    f: &MassForm,
    issues: &[FieldIssue],
) -> WebResult<Response> {
    let t = a.ctx.tr;
    let e = Errors::from_issues(t, issues);
    let modes = ["serials", "key"]
        .iter()
        .map(|m| {
            (
                (*m).to_owned(),
                t.t(if *m == "serials" {
                    "mass.mode.serials"
                } else {
                    "mass.mode.key"
                })
                .to_owned(),
                f.mode == *m,
            )
        })
        .collect();
    let reasons = MASS_REASONS
        .iter()
        .map(|r| {
            (
                r.to_string(),
                t.t(reason_key(*r)).to_owned(),
                f.reason == r.to_string(),
            )
        })
        .collect();
    let mut fieldsets = vec![Fieldset {
        legend: t.t("mass.form"),
        fields: vec![
            field("mode", t.t("mass.mode"), "", &f.mode, "select", modes, true),
            field(
                "serials",
                t.t("mass.serials"),
                t.t("mass.serials.hint"),
                &f.serials,
                "textarea",
                vec![],
                false,
            ),
            field(
                "key",
                t.t("mass.key"),
                t.t("mass.key.hint"),
                &f.key,
                "text",
                vec![],
                false,
            ),
            field(
                "reason",
                t.t("mass.reason"),
                "",
                &f.reason,
                "select",
                reasons,
                true,
            ),
            field(
                "note",
                t.t("mass.note"),
                t.t("mass.note.hint"),
                &f.note,
                "textarea",
                vec![],
                true,
            ),
        ],
    }];
    for f in &mut fieldsets[0].fields {
        f.error = e.msg(f.name);
    }
    let rows = st
        .ra
        .recent_mass_revocations(50)
        .await?
        .into_iter()
        .map(|m| Row {
            id: m.id,
            created: datetime(m.created_at),
            status: t.t(status_key(&m.status)).to_owned(),
            total: m.total,
            revoked: m.revoked,
        })
        .collect();
    crate::form_page(
        &MassPage {
            p: Page::new(&a.ctx, "desk", "mass.title"),
            fieldsets,
            rows,
        },
        !issues.is_empty(),
    )
}

/// GET /revocations/mass: the form and the latest mass revocations.
pub async fn list(State(st): State<Shared>, a: Authed) -> WebResult<Response> {
    form_page(
        &st,
        &a,
        &MassForm {
            mode: "serials".into(),
            ..MassForm::default()
        },
        &[],
    )
    .await
}

/// The form as posted.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Posted {
    csrf: String,
    #[serde(flatten)]
    form: MassForm,
}

/// POST /revocations/mass: stores the draft and shows what it would revoke.
pub async fn draft(
    State(st): State<Shared>,
    a: Authed,
    Form(f): Form<Posted>,
) -> WebResult<Response> {
    a.check_csrf(&f.csrf)?;
    match st.ra.draft_mass_revocation(a.id(), &f.form).await? {
        Ok(id) => Ok(Redirect::to(&format!("/revocations/mass/{id}")).into_response()),
        Err(issues) => form_page(&st, &a, &f.form, &issues).await,
    }
}

fn mass_id(id: &str) -> WebResult<i64> {
    id.parse().map_err(|_| WebError::NotFound)
}

/// GET /revocations/mass/{id}: a draft with what it would revoke (confirm or cancel),
/// or the progress of a running one, or its outcome.
pub async fn detail(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let id = mass_id(&id)?;
    let (m, preview): (MassRevocation, _) =
        st.ra.mass_revocation(id).await?.ok_or(WebError::NotFound)?;
    let t = a.ctx.tr;
    crate::html(&MassDetailPage {
        p: Page::new(&a.ctx, "desk", "mass.detail"),
        id: m.id,
        status: t.t(status_key(&m.status)).to_owned(),
        draft: m.status == "draft",
        running: m.status == "running",
        by_key: m.spki_sha256.clone().unwrap_or_default(),
        reason: t.t(reason_key(m.crl_reason)).to_owned(),
        note: m.note.clone(),
        total: m.total,
        position: m.position,
        revoked: m.revoked,
        created: datetime(m.created_at),
        finished: m.finished_at.map(datetime).unwrap_or_default(),
        preview,
    })
}

/// POST /revocations/mass/{id}/start: staff confirm; the worker takes it from here.
pub async fn start(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let id = mass_id(&id)?;
    st.ra.start_mass_revocation(a.id(), id).await?;
    Ok(Redirect::to(&format!("/revocations/mass/{id}")).into_response())
}

/// POST /revocations/mass/{id}/cancel: staff drop a draft.
pub async fn cancel(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let id = mass_id(&id)?;
    st.ra.cancel_mass_revocation(a.id(), id).await?;
    Ok(Redirect::to(&format!("/revocations/mass/{id}")).into_response())
}
