//! お申込一覧, お申込情報詳細 and downloads (R-LS2 basic columns, R-LS6 paging, R-A5,
//! R-D1, R-D2). Another account's application is a 404, and the attempt is logged.

use crate::error::{WebError, WebResult};
use crate::form::{fieldsets, server_type_key, service_label};
use crate::page::{Errors, Fieldset, Page};
use crate::session::{Authed, CsrfPost};
use crate::words::{kind_key, status_key, validity};
use crate::{Shared, html};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use shomei_model::{AppKind, AppStatus};
use shomei_ra::apply::ApplicationForm;
use shomei_store::Application;

/// Whether a new application may start from this rejected one (issue #8 item 4).
fn may_reapply(app: &Application) -> bool {
    app.status == AppStatus::Rejected
        && app.kind == AppKind::New
        && shomei_model::Service::FOR_NEW.contains(&app.service)
}

/// The message key of a status's explanation.
pub fn status_help_key(s: AppStatus) -> &'static str {
    match s {
        AppStatus::Received => "status.help.received",
        AppStatus::DocumentsPending => "status.help.documents_pending",
        AppStatus::UnderReview => "status.help.under_review",
        AppStatus::Completed => "status.help.completed",
        AppStatus::Withdrawn => "status.help.withdrawn",
        AppStatus::Rejected => "status.help.rejected",
        AppStatus::PhoneConfirmationPending => "status.help.phone_pending",
    }
}

/// Loads the caller's application, or 404 (and an audit event when it exists but is
/// someone else's).
pub async fn own(st: &Shared, a: &Authed, id: &str) -> WebResult<Application> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    if let Some(app) = st.ra.application_of(a.id(), id).await? {
        return Ok(app);
    }
    if st.ra.application(id).await?.is_some() {
        st.ra.record_access_denied(a.id(), id).await?;
    }
    Err(WebError::NotFound)
}

#[derive(Template)]
#[template(path = "portal/detail.html")]
struct DetailPage {
    p: Page,
    id: i64,
    coverage: Option<crate::portal::coverage::Coverage>,
    /// The domains to validate and how (issue #10), for an open record.
    domains: Vec<crate::domains::DomainRow>,
    /// Lineage (issue #10): the record this one continues, and those continuing it:
    /// (id, kind label).
    predecessor: Option<(i64, String)>,
    successors: Vec<(i64, String)>,
    /// 自動更新（ACME）: the contract's EAB credentials (issue #10).
    acme: Option<crate::portal::acme::AcmeSection>,
    status: String,
    /// A sentence on what the status means (issue #8 item 11).
    status_help: &'static str,
    reject_reason: String,
    can_download: bool,
    date: String,
    kind: String,
    service: String,
    contract: String,
    validity: String,
    names: String,
    key: String,
    server_type: String,
    fieldsets: Vec<Fieldset>,
    actions: Vec<(String, String)>,
    revocation: String,
    message: String,
    documents_note: String,
    can_switch: bool,
    /// While 書類提出待ち: the upload form is shown (issue #8 item 2).
    documents_open: bool,
    /// Documents submitted: (file name, uploaded at).
    documents: Vec<(String, String)>,
    /// Why the last upload was refused, in words.
    upload_error: String,
}

/// GET /applications/{id}: お申込情報詳細.
pub async fn detail(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Query(q): Query<MsgQuery>,
) -> WebResult<Response> {
    let app = own(&st, &a, &id).await?;
    let t = a.ctx.tr;
    // R-A5: only what this record and its status allow.
    let mut actions = Vec::new();
    // Issue #8 item 17: a revocation or cancellation in progress shows on the record.
    let revocation_pending =
        app.kind.issues_certificate() && st.ra.revocation_pending(app.id).await?;
    if st.ra.may_revoke(&app).await? {
        actions.push(("revoke".to_owned(), t.t("action.revoke").to_owned()));
    }
    if may_reapply(&app) {
        actions.push(("reapply".to_owned(), t.t("action.reapply").to_owned()));
    }
    if shomei_ra::Ra::may_renew(&app) {
        actions.push(("renew".to_owned(), t.t("action.renew").to_owned()));
    }
    if st.ra.may_continue(&app).await? {
        actions.push(("continue".to_owned(), t.t("action.continue").to_owned()));
    }
    if st.ra.may_reissue(&app).await? {
        actions.push(("reissue".to_owned(), t.t("action.reissue").to_owned()));
    }
    if shomei_ra::Ra::may_change_contacts(&app) {
        actions.push(("contacts".to_owned(), t.t("action.contacts").to_owned()));
    }
    if st.ra.may_revoke(&app).await? {
        actions.push(("cancel".to_owned(), t.t("action.cancel").to_owned()));
    }
    if app.status.allows_withdrawal() && app.kind != AppKind::Revocation {
        actions.push(("withdraw".to_owned(), t.t("action.withdraw").to_owned()));
    }
    let reason = app
        .revocation_reason
        .as_deref()
        .and_then(shomei_model::RevocationReason::from_code);
    let revocation = match (app.kind, reason, app.cert_revoked_at) {
        (AppKind::Revocation, Some(r), _) => t.t(crate::words::reason_key(r)).to_owned(),
        (_, _, Some(at)) => t.t1("detail.revoked_at", &crate::page::datetime(at)),
        _ => String::new(),
    };
    let coverage = if app.kind.issues_certificate() {
        crate::portal::coverage::coverage(&st, t, &app).await?
    } else {
        None
    };
    let acme = crate::portal::acme::section(&st, &a, &app).await?;
    let kind_label = |k: &str| {
        AppKind::from_code(k)
            .map(|k| t.t(crate::words::kind_key(k)).to_owned())
            .unwrap_or_default()
    };
    let predecessor = match app.target_id.filter(|_| app.kind.issues_certificate()) {
        Some(tid) => st
            .ra
            .application_of(a.id(), tid)
            .await?
            .map(|p| (p.id, t.t(crate::words::kind_key(p.kind)).to_owned())),
        None => None,
    };
    let successors = if app.kind.issues_certificate() {
        st.ra
            .successors(app.id)
            .await?
            .into_iter()
            .map(|(id, k)| (id, kind_label(&k)))
            .collect()
    } else {
        Vec::new()
    };
    html(&DetailPage {
        p: Page::new(&a.ctx, "portal", "detail.title"),
        id: app.id,
        coverage,
        predecessor,
        successors,
        domains: crate::domains::rows(&t, &app, &st.ra.domain_challenges(&app).await?),
        acme,
        status: if revocation_pending {
            format!(
                "{}（{}）",
                t.t(status_key(app.status)),
                t.t("status.revocation_pending")
            )
        } else {
            t.t(status_key(app.status)).to_owned()
        },
        status_help: if revocation_pending {
            "status.help.revocation_pending"
        } else {
            status_help_key(app.status)
        },
        reject_reason: app.reject_reason.clone().unwrap_or_default(),
        can_download: app.status.allows_download() && app.cert_not_after.is_some(),
        date: crate::page::datetime(app.created_at),
        kind: t.t(kind_key(app.kind)).to_owned(),
        service: service_label(t, app.service.code(), &app.term_years.to_string()),
        contract: app.contract_code.clone().unwrap_or_else(|| "-".into()),
        validity: validity(&app),
        names: app.names.join(", "),
        key: app.key_desc.clone(),
        server_type: t.t(server_type_key(app.server_type)).to_owned(),
        fieldsets: fieldsets(
            t,
            &ApplicationForm::of_record(&app),
            &Errors::default(),
            false,
        ),
        actions,
        revocation,
        message: match q.m.as_str() {
            "withdrawn" => t.t("withdraw.done").to_owned(),
            "doc_uploaded" => t.t("doc.uploaded").to_owned(),
            "eab_disabled" => t.t("acme.disabled_msg").to_owned(),
            "domains_checked" => t.t("domains.checked_msg").to_owned(),
            _ => String::new(),
        },
        documents_note: app.documents_note.clone().unwrap_or_default(),
        can_switch: st.ra.may_switch(&app).await?,
        documents_open: app.status == AppStatus::DocumentsPending,
        documents: st
            .ra
            .documents_of(app.id)
            .await?
            .into_iter()
            .map(|d| (d.filename, crate::page::datetime(d.uploaded_at)))
            .collect(),
        upload_error: match q.m.as_str() {
            "doc_size" => t.t("err.doc_size").to_owned(),
            "doc_type" => t.t("err.doc_type").to_owned(),
            "doc_empty" => t.t("err.doc_empty").to_owned(),
            "doc_count" => t.t("err.doc_count").to_owned(),
            _ => String::new(),
        },
    })
}

#[derive(Template)]
#[template(path = "portal/apply_done.html")]
struct DonePage {
    p: Page,
    id: i64,
    next: &'static str,
    /// For an application that issues a certificate: what happens next, step by step.
    steps: Vec<&'static str>,
    support: String,
}

/// The pull-down's choice.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct ActionForm {
    csrf: String,
    action: String,
}

/// POST /applications/{id}/action: starts the chosen procedure (R-A5).
pub async fn action(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    crate::urlform::Form(f): crate::urlform::Form<ActionForm>,
) -> WebResult<Response> {
    a.check_csrf(&f.csrf)?;
    let app = own(&st, &a, &id).await?;
    match f.action.as_str() {
        "revoke" => crate::portal::revoke::start(&st, &a, &app).await,
        "contacts" => crate::portal::contacts::start(&st, &a, &app).await,
        "cancel" => crate::portal::cancel::start(&st, &a, &app).await,
        "renew" if shomei_ra::Ra::may_renew(&app) => {
            crate::portal::apply::start_continuation(&st, &a, &app, AppKind::Renewal).await
        }
        "continue" if st.ra.may_continue(&app).await? => {
            crate::portal::apply::start_continuation(&st, &a, &app, AppKind::Continuation).await
        }
        "reissue" if st.ra.may_reissue(&app).await? => {
            crate::portal::apply::start_continuation(&st, &a, &app, AppKind::Reissue).await
        }
        "withdraw" if app.status.allows_withdrawal() && app.kind != AppKind::Revocation => {
            html(&WithdrawPage {
                p: Page::new(&a.ctx, "portal", "withdraw.title"),
                id: app.id,
                server: app.common_name.clone(),
            })
        }
        // Issue #8 item 4: a new application prefilled from a rejected one.
        "reapply" if may_reapply(&app) => {
            let mut form = ApplicationForm::of_record(&app);
            form.term = app.term_years.to_string();
            form.server_type = app.server_type.code().to_owned();
            form.csr = app.csr_pem.clone();
            crate::portal::apply::start_draft(&st, &a, AppKind::New, &form).await
        }
        // Nothing chosen (the pull-down starts on 「---選択してください---」): back.
        "" => {
            Ok(axum::response::Redirect::to(&format!("/applications/{}", app.id)).into_response())
        }
        _ => Err(WebError::NotFound),
    }
}

/// GET /applications/{id}/done: the completion screen (only after the commit).
pub async fn done(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let app = own(&st, &a, &id).await?;
    let (title, next) = match app.kind {
        AppKind::Revocation => ("revoke.done.title", "revoke.done.next"),
        AppKind::ContactChange => ("contacts.done.title", "contacts.done.next"),
        AppKind::Cancellation => ("cancel.done.title", "cancel.done.next"),
        _ => ("done.title", "done.next"),
    };
    // Issue #8 item 11: what happens next, what EV needs, how domains are checked, how
    // long it takes and whom to ask.
    let steps = if app.kind.issues_certificate() {
        let mut s = vec!["done.step.review", "done.step.domain"];
        if app.service.is_ev() {
            s.push("done.step.ev");
        }
        s.extend(["done.step.documents", "done.step.time", "done.step.issued"]);
        s
    } else {
        Vec::new()
    };
    html(&DonePage {
        p: Page::new(&a.ctx, "portal", title),
        id: app.id,
        next,
        steps,
        support: st.cfg.support_email.clone(),
    })
}

#[derive(Template)]
#[template(path = "portal/download.html")]
struct DownloadPage {
    p: Page,
    id: i64,
    contract: String,
    server: String,
    serial: String,
    validity: String,
    seal_url: String,
    /// HTML that shows the sticker and links it to the seal page (issue #8 item 19).
    embed: String,
}

async fn issued(
    st: &Shared,
    a: &Authed,
    id: &str,
) -> WebResult<(Application, shomei_store::CertificateRecord)> {
    let app = own(st, a, id).await?;
    // R-D2: downloads only while 完了.
    if !app.status.allows_download() {
        return Err(WebError::NotFound);
    }
    let cert = st
        .ra
        .issued_certificate(app.id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok((app, cert))
}

/// GET /applications/{id}/download: 証明書ダウンロード (R-D1).
pub async fn download_page(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let (app, cert) = issued(&st, &a, &id).await?;
    let seal_url = format!(
        "{}/seal/{}",
        st.cfg.public_url.trim_end_matches('/'),
        cert.serial
    );
    let embed = format!(
        "<a href=\"{seal_url}\" target=\"_blank\" rel=\"noopener\"><img src=\"sticker-small.png\" width=\"180\" height=\"72\" alt=\"{} {}\"></a>",
        a.ctx.tr.t("dl.sticker_alt"),
        app.common_name
    );
    html(&DownloadPage {
        embed,
        p: Page::new(&a.ctx, "portal", "dl.title"),
        id: app.id,
        contract: app.contract_code.clone().unwrap_or_default(),
        server: app.common_name.clone(),
        serial: cert.serial.clone(),
        validity: validity(&app),
        seal_url,
    })
}

/// GET /applications/{id}/{certificate,chain,fullchain}.pem — marks the record as downloaded.
pub async fn download_file(
    State(st): State<Shared>,
    a: Authed,
    Path((id, file)): Path<(String, String)>,
) -> WebResult<Response> {
    let (app, cert) = issued(&st, &a, &id).await?;
    if let Some(sticker) = file.strip_prefix("sticker-") {
        return sticker_file(&st, &cert, sticker);
    }
    let leaf = cert.pem.clone().ok_or(WebError::NotFound)?;
    let chain = format!("{}{}", st.ra.server_ca_pem(), st.root_pem);
    let (body, content_type): (Vec<u8>, &str) = match file.as_str() {
        "certificate.pem" => (leaf.into_bytes(), "application/x-pem-file"),
        "chain.pem" => (chain.into_bytes(), "application/x-pem-file"),
        "fullchain.pem" => (
            format!("{leaf}{chain}").into_bytes(),
            "application/x-pem-file",
        ),
        "certificate.der" => (
            cert.der.clone().ok_or(WebError::NotFound)?,
            "application/pkix-cert",
        ),
        "certificate.p7b" => {
            let mut ders = vec![cert.der.clone().ok_or(WebError::NotFound)?];
            ders.extend(
                shomei_ca::pki::pem_chain_to_der(&chain)
                    .map_err(|e| WebError::Internal(e.to_string()))?,
            );
            (
                shomei_ca::pkcs7(&ders).map_err(|e| WebError::Internal(e.to_string()))?,
                "application/pkcs7-mime",
            )
        }
        _ => return Err(WebError::NotFound),
    };
    st.ra.record_download(a.id(), app.id, &file).await?;
    let name = format!(
        "{}-{}",
        app.contract_code
            .clone()
            .unwrap_or_else(|| app.id.to_string()),
        file
    );
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// A web sticker (Web ステッカー, R-D1): `small.svg`, `large.png`, … It shows the
/// certificate's domain and the CA's name and links to the public verification page.
fn sticker_file(
    st: &Shared,
    cert: &shomei_store::CertificateRecord,
    file: &str,
) -> WebResult<Response> {
    let (size, ext) = file.split_once('.').ok_or(WebError::NotFound)?;
    let &(_, width, height) = crate::sticker::SIZES
        .iter()
        .find(|(name, _, _)| *name == size)
        .ok_or(WebError::NotFound)?;
    let der = cert.der.as_deref().ok_or(WebError::NotFound)?;
    let facts = shomei_ca::facts::cert_facts(der).map_err(|e| WebError::Internal(e.to_string()))?;
    let url = format!(
        "{}/seal/{}",
        st.cfg.public_url.trim_end_matches('/'),
        cert.serial
    );
    let svg = crate::sticker::svg(&facts.common_name, &st.cfg.ca_name, &url, width, height);
    let (body, content_type) = match ext {
        "svg" => (svg.into_bytes(), "image/svg+xml"),
        "png" => (
            crate::sticker::png(&svg).map_err(|e| WebError::Internal(e.to_string()))?,
            "image/png",
        ),
        _ => return Err(WebError::NotFound),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"seal-{}-{file}\"",
                    facts.common_name.replace('*', "_")
                ),
            ),
        ],
        body,
    )
        .into_response())
}

/// `?m=withdrawn`
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct MsgQuery {
    m: String,
}

#[derive(Template)]
#[template(path = "portal/withdraw.html")]
struct WithdrawPage {
    p: Page,
    id: i64,
    server: String,
}

/// POST /applications/{id}/withdraw: 申請取消 (R-A5). Safe to repeat.
pub async fn withdraw(
    State(st): State<Shared>,
    Path(id): Path<String>,
    crate::session::CsrfPost(a): crate::session::CsrfPost,
) -> WebResult<Response> {
    let app = own(&st, &a, &id).await?;
    let done = st.ra.withdraw(a.id(), app.id).await? || app.status == AppStatus::Withdrawn;
    let to = if done {
        format!("/applications/{}?m=withdrawn", app.id)
    } else {
        format!("/applications/{}", app.id)
    };
    Ok(axum::response::Redirect::to(&to).into_response())
}

/// POST /applications/{id}/domains/check: 確認する (issue #10): the validation engine
/// checks the record's domains now; back to the page (PRG).
pub async fn check_domains(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let app = own(&st, &a, &id).await?;
    st.ra
        .check_domains(&app, shomei_model::Actor::Customer(a.id()))
        .await?;
    Ok(Redirect::to(&format!(
        "/applications/{}?m=domains_checked#domains",
        app.id
    ))
    .into_response())
}
