//! The desk's アカウント管理 (issue #4 account care): find an account, see its login
//! certificate binding, its state and its login history; unlock it by setting a new
//! initial password (R-L4, shown once); disable it (its sessions end at once) or enable
//! it again.

use crate::error::{WebError, WebResult};
use crate::page::{Page, datetime};
use crate::session::Authed;
use crate::{Shared, html};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use shomei_model::Actor;
use shomei_store::Realm;

/// `?q=` (search) and `?m=` (message).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AccountsQuery {
    q: String,
    m: String,
}

struct Row {
    id: i64,
    access_key: String,
    org: String,
    email: String,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "desk/accounts.html")]
struct ListPage {
    p: Page,
    q: String,
    rows: Vec<Row>,
}

fn state_key(c: &shomei_store::principals::Credentials) -> &'static str {
    if c.disabled {
        "account.state.disabled"
    } else if c.locked {
        "account.state.locked"
    } else {
        "account.state.active"
    }
}

/// GET /accounts: the accounts whose access key, organisation or e-mail contains `q`.
pub async fn list(
    State(st): State<Shared>,
    a: Authed,
    Query(q): Query<AccountsQuery>,
) -> WebResult<Response> {
    let text: String = q.q.chars().take(100).collect();
    let rows = st
        .ra
        .find_accounts(&text, 100)
        .await?
        .into_iter()
        .map(|x| Row {
            id: x.id,
            state: state_key(&x.creds),
            access_key: x.access_key,
            org: x.org_name,
            email: x.email,
        })
        .collect();
    html(&ListPage {
        p: Page::new(&a.ctx, "desk", "account.list.title"),
        q: text,
        rows,
    })
}

struct Event {
    at: String,
    action: String,
    detail: String,
}

/// An audit action in words (issue #8 item 14); the code itself if it has none.
fn event_words(t: crate::i18n::Tr, action: &str) -> String {
    match t.t(&format!("event.{action}")) {
        "[?]" => action.to_owned(),
        words => words.to_owned(),
    }
}

/// An audit event's detail in words: known fields named and their values translated
/// (the login refusal reason), the rest as `name: value`.
fn detail_words(t: crate::i18n::Tr, detail: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(detail)
    else {
        return detail.chars().take(300).collect();
    };
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let value = match (k.as_str(), t.t(&format!("event.reason.{value}"))) {
                ("reason", words) if words != "[?]" => words.to_owned(),
                _ => value,
            };
            let name = match t.t(&format!("event.field.{k}")) {
                "[?]" => k.clone(),
                words => words.to_owned(),
            };
            format!("{name}: {value}")
        })
        .collect::<Vec<_>>()
        .join(" / ")
        .chars()
        .take(300)
        .collect()
}

#[derive(Template)]
#[template(path = "desk/account.html")]
struct DetailPage {
    p: Page,
    id: i64,
    access_key: String,
    org: String,
    email: String,
    dealer: String,
    serial: String,
    subject: String,
    fingerprint: String,
    state: &'static str,
    failed: i64,
    disabled: bool,
    initial_expires: String,
    events: Vec<Event>,
    message: &'static str,
    new_password: String,
    method: String,
    otp_email: String,
    error: &'static str,
    /// ACME credentials of the account's contracts (issue #10).
    acme: Vec<AcmeRow>,
    failed_checks: Vec<CheckRow>,
}

/// One ACME credential on the account page.
struct AcmeRow {
    kid: String,
    contract: String,
    created: String,
    state: &'static str,
    enabled: bool,
    /// The ACME account bound with it ("" if none yet) and its last use.
    bound: String,
    last_used: String,
    /// Why ACME cannot issue for the contract now ("" if it can).
    problem: String,
}

struct CheckRow {
    at: String,
    contract: String,
    domain: String,
    method: String,
    detail: String,
}

async fn detail_page(
    st: &Shared,
    a: &Authed,
    id: &str,
    message: &'static str,
    new_password: String,
) -> WebResult<Response> {
    detail_page_with(st, a, id, message, new_password, "").await
}

async fn detail_page_with(
    st: &Shared,
    a: &Authed,
    id: &str,
    message: &'static str,
    new_password: String,
    error: &'static str,
) -> WebResult<Response> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let x = st.ra.account(id).await?.ok_or(WebError::NotFound)?;
    let otp = st.ra.otp_settings(id).await?;
    let events = st
        .ra
        .recent_events_for(&format!("customer:{id}"), 50)
        .await?
        .into_iter()
        .map(|e| Event {
            at: datetime(e.at),
            action: event_words(a.ctx.tr, &e.action),
            detail: detail_words(a.ctx.tr, &e.detail),
        })
        .collect();
    let mut acme = Vec::new();
    for (e, contract) in st.ra.eabs_of_account(id).await? {
        acme.push(AcmeRow {
            created: datetime(e.created_at),
            state: crate::words::eab_state_key(&e, st.ra.now()),
            enabled: e.disabled_at.is_none(),
            bound: e.acme_account.map(|n| format!("#{n}")).unwrap_or_default(),
            last_used: e.acme_last_used.map(datetime).unwrap_or_default(),
            problem: st
                .ra
                .acme_org_problem(e.application_id)
                .await?
                .unwrap_or_default(),
            kid: e.kid,
            contract,
        });
    }
    let failed_checks = st
        .ra
        .domain_checks_of(id, true, 20)
        .await?
        .into_iter()
        .map(|c| CheckRow {
            at: datetime(c.checked_at),
            contract: c.contract_code.unwrap_or_default(),
            domain: c.domain,
            method: c.method,
            detail: c.detail,
        })
        .collect();
    let c = &x.creds;
    html(&DetailPage {
        p: Page::new(&a.ctx, "desk", "account.title"),
        id,
        access_key: x.access_key.clone(),
        org: x.org_name.clone(),
        email: x.email.clone(),
        dealer: x.dealer_code.clone().unwrap_or_default(),
        serial: c.cert_serial.clone().unwrap_or_default(),
        subject: c.cert_subject.clone().unwrap_or_default(),
        fingerprint: c.cert_fingerprint.clone().unwrap_or_default(),
        state: state_key(c),
        failed: c.failed_logins,
        disabled: c.disabled,
        initial_expires: if c.password_initial {
            c.password_expires_at.map(datetime).unwrap_or_default()
        } else {
            String::new()
        },
        events,
        message,
        new_password,
        method: otp
            .as_ref()
            .map(|o| o.method.clone())
            .unwrap_or_else(|| "certificate".into()),
        otp_email: otp.and_then(|o| o.otp_email).unwrap_or_default(),
        error,
        acme,
        failed_checks,
    })
}

/// GET /accounts/{id}.
pub async fn detail(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Query(q): Query<AccountsQuery>,
) -> WebResult<Response> {
    let message = match q.m.as_str() {
        "disabled" => "account.msg.disabled",
        "enabled" => "account.msg.enabled",
        "method" => "account.msg.method",
        _ => "",
    };
    detail_page(&st, &a, &id, message, String::new()).await
}

/// POST /accounts/{id}/reset-password: a new initial password, shown on the page that
/// answers (once; a repeated POST sets, and shows, another).
pub async fn reset_password(
    State(st): State<Shared>,
    Path(id): Path<String>,
    crate::session::CsrfPost(a): crate::session::CsrfPost,
) -> WebResult<Response> {
    let n: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let (password, _) = st
        .ra
        .reset_initial_password(Realm::Customer, n, Actor::Staff(a.id()))
        .await?;
    detail_page(&st, &a, &id, "account.msg.reset", password).await
}

/// POST /accounts/{id}/disable and /enable.
pub async fn set_disabled(
    State(st): State<Shared>,
    Path((id, what)): Path<(String, String)>,
    crate::session::CsrfPost(a): crate::session::CsrfPost,
) -> WebResult<Response> {
    let n: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let disabled = match what.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return Err(WebError::NotFound),
    };
    st.ra
        .set_account_disabled(n, disabled, Actor::Staff(a.id()))
        .await?;
    let m = if disabled { "disabled" } else { "enabled" };
    Ok(Redirect::to(&format!("/accounts/{n}?m={m}")).into_response())
}

/// The login method form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MethodForm {
    csrf: String,
    method: String,
    otp_email: String,
}

/// POST /accounts/{id}/login-method: 証明書, ワンタイムパスワード（メール）or （認証アプリ）
/// (R-L6). Choosing the app starts a new enrolment at the customer's next login.
pub async fn set_method(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    crate::urlform::Form(f): crate::urlform::Form<MethodForm>,
) -> WebResult<Response> {
    a.check_csrf(&f.csrf)?;
    let n: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    match st
        .ra
        .set_login_method(n, &f.method, &f.otp_email, Actor::Staff(a.id()))
        .await?
    {
        Ok(()) => Ok(Redirect::to(&format!("/accounts/{n}?m=method")).into_response()),
        Err(key) => {
            let mut res = detail_page_with(&st, &a, &id, "", String::new(), key).await?;
            *res.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(res)
        }
    }
}

#[derive(Template)]
#[template(path = "desk/new_cert.html")]
struct NewCertPage {
    p: Page,
    id: i64,
    access_key: String,
    p12_data_url: String,
    p12_password: String,
}

/// POST /accounts/{id}/new-certificate: R-L5 — a new login certificate for a new person.
/// The old one is revoked (login CA CRL) and the account's sessions end. The answer
/// carries the PKCS#12 file (as a download link) and its password, once (no-store).
pub async fn new_certificate(
    State(st): State<Shared>,
    Path(id): Path<String>,
    crate::session::CsrfPost(a): crate::session::CsrfPost,
) -> WebResult<Response> {
    use base64::Engine;
    let n: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let c = st
        .ra
        .replace_login_certificate(Realm::Customer, n, Actor::Staff(a.id()))
        .await?;
    html(&NewCertPage {
        p: Page::new(&a.ctx, "desk", "account.newcert.title"),
        id: n,
        access_key: c.login.clone(),
        p12_data_url: format!(
            "data:application/x-pkcs12;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&c.p12)
        ),
        p12_password: c.p12_password,
    })
}

#[derive(Template)]
#[template(path = "desk/account_new.html")]
struct NewAccountForm {
    p: Page,
    org: String,
    email: String,
    dealer: String,
    error: String,
    /// The access key of the same account created moments ago (asks to confirm).
    duplicate: String,
}

#[derive(Template)]
#[template(path = "desk/account_created.html")]
struct AccountCreatedPage {
    p: Page,
    id: i64,
    access_key: String,
    initial_password: String,
    p12_data_url: String,
    p12_password: String,
}

/// The form of a new customer account.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewAccount {
    csrf: String,
    org: String,
    email: String,
    dealer_code: String,
    confirm: String,
}

/// GET /accounts/new: 新規アカウント作成 (issue #8 item 6).
pub async fn new_account_form(a: Authed) -> WebResult<Response> {
    html(&NewAccountForm {
        p: Page::new(&a.ctx, "desk", "account.new.title"),
        org: String::new(),
        email: String::new(),
        dealer: String::new(),
        error: String::new(),
        duplicate: String::new(),
    })
}

/// POST /accounts/new: creates a customer account with its login certificate and hands
/// over the PKCS#12 file, its password and the initial password once (no-store), as
/// `shomei account create` does. The same organisation and e-mail again within 10
/// minutes (a reload or a second press) is asked about first.
pub async fn create_account(
    State(st): State<Shared>,
    a: Authed,
    crate::urlform::Form(f): crate::urlform::Form<NewAccount>,
) -> WebResult<Response> {
    use base64::Engine;
    a.check_csrf(&f.csrf)?;
    let t = a.ctx.tr;
    let form = |error: String, duplicate: String| NewAccountForm {
        p: Page::new(&a.ctx, "desk", "account.new.title"),
        org: f.org.clone(),
        email: f.email.clone(),
        dealer: f.dealer_code.clone(),
        error,
        duplicate,
    };
    if f.confirm != "1"
        && let Some(key) = st
            .ra
            .recent_account_like(f.org.trim(), f.email.trim(), st.ra.now() - 600)
            .await?
    {
        let mut res = html(&form(String::new(), key))?;
        *res.status_mut() = axum::http::StatusCode::CONFLICT;
        return Ok(res);
    }
    let input = shomei_ra::accounts::AccountInput {
        org: f.org.clone(),
        email: f.email.clone(),
        dealer_code: Some(f.dealer_code.clone()).filter(|d| !d.trim().is_empty()),
    };
    match st.ra.create_account(&input, Actor::Staff(a.id())).await {
        Ok(c) => html(&AccountCreatedPage {
            p: Page::new(&a.ctx, "desk", "account.created.title"),
            id: c.id,
            access_key: c.login.clone(),
            initial_password: c.initial_password.clone(),
            p12_data_url: format!(
                "data:application/x-pkcs12;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(&c.p12)
            ),
            p12_password: c.p12_password,
        }),
        Err(shomei_ra::RaError::Invalid(key)) => {
            let mut res = html(&form(t.t(key).to_owned(), String::new()))?;
            *res.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /accounts/{id}/acme/{kid}/disable: staff disable a customer's ACME credential
/// (and so the ACME account bound with it), with its audit event.
pub async fn disable_eab(
    State(st): State<Shared>,
    Path((id, kid)): Path<(String, String)>,
    crate::session::CsrfPost(a): crate::session::CsrfPost,
) -> WebResult<Response> {
    let n: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let belongs = st
        .ra
        .eabs_of_account(n)
        .await?
        .iter()
        .any(|(e, _)| e.kid == kid);
    if !belongs {
        return Err(WebError::NotFound);
    }
    st.ra.disable_eab(&kid, Actor::Staff(a.id())).await?;
    detail_page(&st, &a, &id, "account.msg.eab_disabled", String::new()).await
}
