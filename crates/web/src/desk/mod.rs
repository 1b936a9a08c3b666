//! The staff desk (https, client certificate from the staff CA required): the queue,
//! the review of one application with its decoded CSR, approval (recording what was
//! validated, how and when) and rejection with a reason.

pub mod accounts;
pub mod coupons;
pub mod mass;
pub mod revocation;

use crate::error::{WebError, WebResult};
use crate::form::{fieldsets, server_type_key, service_label};
use crate::page::{Errors, Fieldset, Page, date, datetime};
use crate::session::CsrfPost;
use crate::session::{Authed, Ctx};
use crate::urlform::Form;
use crate::words::{kind_key, status_key, validity};
use crate::{Shared, auth, html};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use shomei_ra::RaError;
use shomei_ra::issue::{Approval, DOMAIN_METHODS, ORG_METHODS};

/// The desk's routes.
pub fn router(state: Shared) -> Router {
    let r = Router::new()
        .route("/", get(root))
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .route(
            "/password",
            get(auth::password_form).post(auth::password_submit),
        )
        .route("/applications/{id}", get(detail))
        .route("/applications/{id}/approve", post(approve))
        .route("/applications/{id}/reject", post(reject))
        .route(
            "/applications/{id}/confirm-revocation",
            post(crate::desk::revocation::confirm_revocation),
        )
        .route(
            "/applications/{id}/documents/{doc}",
            get(crate::desk::revocation::document),
        )
        .route(
            "/applications/{id}/revocation-outcome",
            post(crate::desk::revocation::revocation_outcome),
        )
        .route("/applications/{id}/ari-pull-in", post(ari_pull_in))
        .route("/applications/{id}/domains/check", post(check_domains))
        .route(
            "/applications/{id}/complete-contact-change",
            post(complete_contact_change),
        )
        .route(
            "/applications/{id}/request-documents",
            post(request_documents),
        )
        .route(
            "/applications/{id}/documents-received",
            post(documents_received),
        )
        .route("/accounts", get(crate::desk::accounts::list))
        .route(
            "/accounts/new",
            get(crate::desk::accounts::new_account_form)
                .post(crate::desk::accounts::create_account),
        )
        .route("/accounts/{id}", get(crate::desk::accounts::detail))
        .route(
            "/accounts/{id}/reset-password",
            post(crate::desk::accounts::reset_password),
        )
        .route(
            "/accounts/{id}/login-method",
            post(crate::desk::accounts::set_method),
        )
        .route(
            "/accounts/{id}/new-certificate",
            post(crate::desk::accounts::new_certificate),
        )
        .route(
            "/accounts/{id}/acme/{kid}/disable",
            post(crate::desk::accounts::disable_eab),
        )
        .route(
            "/accounts/{id}/{what}",
            post(crate::desk::accounts::set_disabled),
        )
        .route(
            "/coupons",
            get(crate::desk::coupons::list).post(crate::desk::coupons::issue),
        )
        .route(
            "/revocations/mass",
            get(crate::desk::mass::list)
                .post(crate::desk::mass::draft)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::desk::mass::MASS_BODY_LIMIT,
                )),
        )
        .route("/revocations/mass/{id}", get(crate::desk::mass::detail))
        .route(
            "/revocations/mass/{id}/start",
            post(crate::desk::mass::start),
        )
        .route(
            "/revocations/mass/{id}/cancel",
            post(crate::desk::mass::cancel),
        )
        .route("/lang/{code}", get(auth::set_lang))
        .route("/static/style.css", get(auth::stylesheet))
        .fallback(auth::not_found)
        .with_state(state);
    crate::harden(r)
}

struct Row {
    id: i64,
    date: String,
    service: String,
    kind: String,
    status: String,
    org: String,
    server: String,
    deadline: String,
}

#[derive(Template)]
#[template(path = "desk/queue.html")]
struct QueuePage {
    p: Page,
    rows: Vec<Row>,
}

async fn root(State(st): State<Shared>, ctx: Ctx) -> WebResult<Response> {
    let Some(s) = &ctx.session else {
        return auth::login_page(&st, &ctx, "", "");
    };
    if st
        .ra
        .credentials(st.realm, s.principal_id)
        .await?
        .is_some_and(|c| c.password_initial)
    {
        return Ok(Redirect::to("/password").into_response());
    }
    let t = ctx.tr;
    let rows = st
        .ra
        .open_applications(200)
        .await?
        .into_iter()
        .map(|a| Row {
            id: a.id,
            date: date(a.created_at),
            service: service_label(t, a.service.code(), &a.term_years.to_string()),
            kind: t.t(kind_key(a.kind)).to_owned(),
            status: t.t(status_key(a.status)).to_owned(),
            org: a.details.organisation.name.clone(),
            server: a.common_name.clone(),
            deadline: shomei_ra::Ra::revocation_deadline(&a)
                .map(datetime)
                .unwrap_or_default(),
        })
        .collect();
    html(&QueuePage {
        p: Page::new(&ctx, "desk", "desk.queue"),
        rows,
    })
}

#[derive(Template)]
#[template(path = "desk/detail.html")]
struct DetailPage {
    p: Page,
    /// Why the last issuance failed (issue #7 item 4), in words.
    issuance_error: String,
    /// The subject the certificate carries or will carry (issue #8 item 1).
    cert_subject: String,
    /// Documents the customer submitted: (id, file name, type, size, when).
    documents: Vec<(i64, String, String, String, String)>,
    message: String,
    message_class: &'static str,
    id: i64,
    account: String,
    status: String,
    date: String,
    kind: String,
    service: String,
    contract: String,
    validity: String,
    server_type: String,
    csr_subject: String,
    names: String,
    key: String,
    spki: String,
    csr_pem: String,
    fieldsets: Vec<Fieldset>,
    validations: Vec<(String, String, String, String)>,
    open: bool,
    is_ev: bool,
    org: String,
    domains: Vec<String>,
    /// The validation engine's view of the record's domains (issue #10).
    domain_checks: Vec<crate::domains::DomainRow>,
    org_methods: Vec<(String, String)>,
    domain_methods: Vec<(String, String)>,
    is_revocation: bool,
    is_cancellation: bool,
    rev_open: bool,
    rev_reason: String,
    rev_target: i64,
    rev_serial: String,
    rev_deadline: String,
    rev_left: String,
    rev_registrant: String,
    /// Calls that did not reach the registrant: (when, note).
    rev_attempts: Vec<(String, String)>,
    docs_possible: bool,
    documents_note: String,
    contact_change_open: bool,
    /// A 完了 record of a contract: staff may pull its certificates' ACME renewal
    /// window in (ARI, issue #10).
    ari_possible: bool,
}

/// "残り 3時間12分" / "期限切れ 2時間" in the page's language.
fn time_left(t: crate::i18n::Tr, deadline: i64, now: i64) -> String {
    let d = deadline - now;
    // Issue #8 item 7: hours and minutes with their units.
    let hm = |s: i64| {
        t.t("desk.rev.hm")
            .replace("{h}", &(s / 3600).to_string())
            .replace("{m}", &((s % 3600) / 60).to_string())
    };
    if d >= 0 {
        t.t1("desk.rev.left", &hm(d))
    } else {
        t.t1("desk.rev.overdue", &hm(-d))
    }
}

/// `?m=issued|rejected|...`
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct MsgQuery {
    m: String,
}

async fn render_detail(
    st: &Shared,
    a: &Authed,
    id: &str,
    message: &str,
    status: StatusCode,
) -> WebResult<Response> {
    let good = status.is_success();
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let app = st.ra.application(id).await?.ok_or(WebError::NotFound)?;
    let t = a.ctx.tr;
    let account = st
        .ra
        .account(app.account_id)
        .await?
        .map(|x| format!("{} ({})", x.org_name, x.access_key))
        .unwrap_or_default();
    let csr = shomei_ca::check_csr(app.csr_pem.as_bytes()).ok();
    let validations = st
        .ra
        .validations_of(id)
        .await?
        .into_iter()
        .map(|v| {
            (
                t.t(&format!("desk.v.kind.{}", v.kind)).to_owned(),
                v.subject,
                t.t(&format!("method.{}", v.method)).to_owned(),
                datetime(v.validated_at),
            )
        })
        .collect();
    let reason = app
        .revocation_reason
        .as_deref()
        .and_then(shomei_model::RevocationReason::from_code);
    let deadline = shomei_ra::Ra::revocation_deadline(&app);
    let rev_serial = match app.target_id {
        Some(tid) => st
            .ra
            .certificate_rows(tid)
            .await?
            .into_iter()
            .find(|r| r.2 == "issued")
            .map(|r| r.1)
            .unwrap_or_default(),
        None => String::new(),
    };
    let reg = &app.details.contacts.registrant;
    let methods = |list: &[&str]| {
        list.iter()
            .map(|m| ((*m).to_owned(), t.t(&format!("method.{m}")).to_owned()))
            .collect()
    };
    let rev_attempts = if app.kind == shomei_model::AppKind::Revocation {
        st.ra
            .audit_events_for(&format!("application:{id}"))
            .await?
            .into_iter()
            .filter(|e| e.action == "revocation.unreachable")
            .map(|e| {
                let note = serde_json::from_str::<serde_json::Value>(&e.detail)
                    .ok()
                    .and_then(|v| v["note"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                (datetime(e.at), note)
            })
            .collect()
    } else {
        Vec::new()
    };
    let issuance_error = app
        .issuance_error
        .as_deref()
        .map(|e| match t.t(e) {
            "[?]" => e.to_owned(),
            text => text.to_owned(),
        })
        .unwrap_or_default();
    let page = html(&DetailPage {
        issuance_error,
        cert_subject: shomei_ra::issue::subject_preview(app.service, &app.details),
        documents: st
            .ra
            .documents_of(id)
            .await?
            .into_iter()
            .map(|d| {
                (
                    d.id,
                    d.filename,
                    d.content_type,
                    format!("{} KB", (d.size + 1023) / 1024),
                    datetime(d.uploaded_at),
                )
            })
            .collect(),
        p: Page::new(&a.ctx, "desk", "desk.detail.title"),
        message: message.to_owned(),
        message_class: if good { "ok" } else { "error" },
        id,
        account,
        status: t.t(status_key(app.status)).to_owned(),
        date: datetime(app.created_at),
        kind: t.t(kind_key(app.kind)).to_owned(),
        service: service_label(t, app.service.code(), &app.term_years.to_string()),
        contract: app.contract_code.clone().unwrap_or_else(|| "-".into()),
        validity: validity(&app),
        server_type: t.t(server_type_key(app.server_type)).to_owned(),
        csr_subject: csr
            .as_ref()
            .map(|c| c.subject_text.clone())
            .unwrap_or_default(),
        names: app.names.join(", "),
        key: app.key_desc.clone(),
        spki: app.spki_sha256.clone(),
        csr_pem: app.csr_pem.clone(),
        fieldsets: fieldsets(
            t,
            &shomei_ra::apply::ApplicationForm::of_record(&app),
            &Errors::default(),
            false,
        ),
        validations,
        open: matches!(
            app.status,
            shomei_model::AppStatus::Received | shomei_model::AppStatus::DocumentsPending
        ) && app.kind.issues_certificate(),
        ari_possible: app.kind.issues_certificate()
            && app.status == shomei_model::AppStatus::Completed
            && app.contract_code.is_some(),
        contact_change_open: app.kind == shomei_model::AppKind::ContactChange
            && matches!(
                app.status,
                shomei_model::AppStatus::Received | shomei_model::AppStatus::DocumentsPending
            ),
        is_ev: app.service.is_ev(),
        org: app.details.organisation.name.clone(),
        domains: app.names.clone(),
        domain_checks: crate::domains::rows(&a.ctx.tr, &app, &st.ra.domain_challenges(&app).await?),
        org_methods: methods(ORG_METHODS),
        domain_methods: methods(DOMAIN_METHODS),
        is_revocation: matches!(
            app.kind,
            shomei_model::AppKind::Revocation | shomei_model::AppKind::Cancellation
        ),
        is_cancellation: app.kind == shomei_model::AppKind::Cancellation,
        rev_open: matches!(
            (app.kind, app.status),
            (
                shomei_model::AppKind::Revocation,
                shomei_model::AppStatus::PhoneConfirmationPending
            ) | (
                shomei_model::AppKind::Cancellation,
                shomei_model::AppStatus::Received
            )
        ),
        rev_reason: reason
            .map(|r| t.t(crate::words::reason_key(r)).to_owned())
            .unwrap_or_default(),
        rev_target: app.target_id.unwrap_or_default(),
        rev_serial,
        rev_deadline: deadline.map(datetime).unwrap_or_default(),
        rev_left: deadline
            .map(|d| time_left(t, d, st.ra.now()))
            .unwrap_or_default(),
        rev_registrant: format!("{} / {} / {}", reg.name, reg.phone, reg.email),
        rev_attempts,
        docs_possible: app.kind != shomei_model::AppKind::Revocation
            && matches!(
                app.status,
                shomei_model::AppStatus::Received | shomei_model::AppStatus::DocumentsPending
            ),
        documents_note: app.documents_note.clone().unwrap_or_default(),
    })?;
    Ok((status, page).into_response())
}

async fn detail(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Query(q): Query<MsgQuery>,
) -> WebResult<Response> {
    let (msg, good) = match q.m.as_str() {
        "issued" => (a.ctx.tr.t("desk.msg.issued"), true),
        "rejected" => (a.ctx.tr.t("desk.msg.rejected"), true),
        "revoked" => (a.ctx.tr.t("desk.msg.revoked"), true),
        "docs_requested" => (a.ctx.tr.t("desk.msg.docs_requested"), true),
        "docs_received" => (a.ctx.tr.t("desk.msg.docs_received"), true),
        "contacts_changed" => (a.ctx.tr.t("desk.msg.contacts_changed"), true),
        "rev_unreachable" => (a.ctx.tr.t("desk.msg.rev_unreachable"), true),
        "rev_denied" => (a.ctx.tr.t("desk.msg.rev_denied"), true),
        "ari_pulled_in" => (a.ctx.tr.t("desk.msg.ari_pulled_in"), true),
        "domains_checked" => (a.ctx.tr.t("domains.checked_msg"), true),
        _ => ("", true),
    };
    let status = if good {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render_detail(&st, &a, &id, msg, status).await
}

/// POST /applications/{id}/approve. The form repeats `domain`/`method` pairs.
async fn approve(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    a.check_csrf(&get("csrf"))?;
    let domains: Vec<String> = pairs
        .iter()
        .filter(|(n, _)| n == "domain")
        .map(|(_, v)| v.clone())
        .collect();
    let methods: Vec<String> = pairs
        .iter()
        .filter(|(n, _)| n == "method")
        .map(|(_, v)| v.clone())
        .collect();
    let notes: Vec<String> = pairs
        .iter()
        .filter(|(n, _)| n == "note")
        .map(|(_, v)| v.clone())
        .collect();
    let approval = Approval {
        org_method: get("org_method"),
        ev_method: Some(get("ev_method")).filter(|m| !m.is_empty()),
        domain_notes: domains.iter().cloned().zip(notes).collect(),
        domain_methods: domains.into_iter().zip(methods).collect(),
    };
    let app_id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let result = st.ra.approve(a.id(), app_id, &approval).await;
    outcome(&st, &a, app_id, result, "issued").await
}

/// The page after a desk action on application `app_id`: its detail page with `done`'s
/// message on success; otherwise the detail page with the reason — 422 for refused
/// input or a failed issuance, 409 for a record no longer in the right state.
pub(crate) async fn outcome<T>(
    st: &Shared,
    a: &Authed,
    app_id: i64,
    result: Result<T, RaError>,
    done: &str,
) -> WebResult<Response> {
    let (message, status) = match result {
        Ok(_) => {
            return Ok(Redirect::to(&format!("/applications/{app_id}?m={done}")).into_response());
        }
        Err(RaError::Invalid(key)) => (a.ctx.tr.t(key), StatusCode::UNPROCESSABLE_ENTITY),
        Err(RaError::WrongState) => (a.ctx.tr.t("err.wrong_state"), StatusCode::CONFLICT),
        Err(RaError::Ca(e)) => {
            tracing::error!(application = app_id, "issuance failed: {e}");
            (
                a.ctx.tr.t("err.issuance_failed"),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(e) => return Err(e.into()),
    };
    render_detail(st, a, &app_id.to_string(), message, status).await
}

/// A staff action on one record: checks the form's CSRF token and reads the record's
/// id from the path.
pub(crate) fn record_id(a: &Authed, csrf: &str, id: &str) -> WebResult<i64> {
    a.check_csrf(csrf)?;
    id.parse().map_err(|_| WebError::NotFound)
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RejectForm {
    csrf: String,
    reason: String,
}

async fn reject(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<RejectForm>,
) -> WebResult<Response> {
    let app_id = record_id(&a, &f.csrf, &id)?;
    let result = st.ra.reject(a.id(), app_id, &f.reason).await;
    outcome(&st, &a, app_id, result, "rejected").await
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct NoteForm {
    csrf: String,
    note: String,
}

/// POST /applications/{id}/request-documents: 書類提出待ち with a note (R-LS3).
async fn request_documents(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<NoteForm>,
) -> WebResult<Response> {
    let app_id = record_id(&a, &f.csrf, &id)?;
    let result = st.ra.request_documents(a.id(), app_id, &f.note).await;
    outcome(&st, &a, app_id, result, "docs_requested").await
}

/// POST /applications/{id}/documents-received: back to review.
async fn documents_received(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let app_id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let result = st.ra.documents_received(a.id(), app_id).await;
    outcome(&st, &a, app_id, result, "docs_received").await
}

/// POST /applications/{id}/ari-pull-in: ACME clients are asked to renew every
/// certificate of this record's contract issued so far (ARI, RFC 9773; issue #10).
async fn ari_pull_in(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let app_id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let app = st.ra.application(app_id).await?.ok_or(WebError::NotFound)?;
    let code = app.contract_code.ok_or(WebError::NotFound)?;
    let result = match st
        .ra
        .ari_pull_in(Some(&code), shomei_model::Actor::Staff(a.id()))
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(RaError::WrongState),
        Err(e) => Err(e),
    };
    outcome(&st, &a, app_id, result, "ari_pulled_in").await
}

/// POST /applications/{id}/domains/check: staff have the validation engine check the
/// record's domains now (issue #10).
async fn check_domains(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let app_id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let app = st.ra.application(app_id).await?.ok_or(WebError::NotFound)?;
    let result = st
        .ra
        .check_domains(&app, shomei_model::Actor::Staff(a.id()))
        .await
        .map(|_| ());
    outcome(&st, &a, app_id, result, "domains_checked").await
}

/// POST /applications/{id}/complete-contact-change: 担当者変更 completed (R-C1).
async fn complete_contact_change(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let app_id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let result = st.ra.complete_contact_change(a.id(), app_id).await;
    outcome(&st, &a, app_id, result, "contacts_changed").await
}
