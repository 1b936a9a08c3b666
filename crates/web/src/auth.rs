//! Login, logout, password change and the language switch: the same for the portal
//! and the desk, parameterised by the listener's realm.

use crate::error::{WebError, WebResult};
use crate::page::Page;
use crate::session::{Authed, Ctx, LANG_COOKIE, clear_cookie, session_cookie, token_hash};
use crate::urlform::Form;
use crate::{Shared, html};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use shomei_ra::login::LoginRefusal;
use shomei_store::Realm;

/// The login page.
#[derive(Template)]
#[template(path = "shared/login.html")]
pub struct LoginPage {
    /// Frame.
    pub p: Page,
    /// Lead text key.
    pub lead: &'static str,
    /// Label key of the login field.
    pub login_label: &'static str,
    /// The typed login (kept on error).
    pub login: String,
    /// Error message.
    pub error: String,
    /// The presented certificate's subject.
    pub cert_subject: String,
}

/// Renders the login page for the listener's realm.
pub fn login_page(st: &Shared, ctx: &Ctx, login: &str, error: &str) -> WebResult<Response> {
    let (lead, label) = match st.realm {
        Realm::Customer => ("login.lead", "login.access_key"),
        Realm::Staff => ("desk.login.lead", "desk.login.login"),
    };
    let page = LoginPage {
        p: Page::new(ctx, area(st), "login.title"),
        lead,
        login_label: label,
        login: login.chars().take(64).collect(),
        error: error.to_owned(),
        cert_subject: ctx
            .cert
            .as_ref()
            .map(|c| c.subject.clone())
            .unwrap_or_default(),
    };
    html(&page)
}

/// `portal` or `desk`.
pub fn area(st: &Shared) -> &'static str {
    match st.realm {
        Realm::Customer => "portal",
        Realm::Staff => "desk",
    }
}

/// The login form.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    /// Access key or staff login.
    pub login: String,
    /// Password.
    pub password: String,
}

/// POST /login: certificate + login + password (R-L1, R-L2). A new session id on
/// success; a generic message on failure.
pub async fn login(
    State(st): State<Shared>,
    ctx: Ctx,
    Form(f): Form<LoginForm>,
) -> WebResult<Response> {
    if ctx.cert.is_none() && st.realm == Realm::Customer {
        return no_cert(&ctx);
    }
    let login = f.login.trim();
    // Issue #7 item 9: too many failures from this address or for this account stop
    // here, before any password is checked.
    let keys = crate::throttle::keys(ctx.peer, login);
    if let Err(secs) = st.throttle.check(&keys, std::time::Instant::now()) {
        return Err(WebError::TooManyRequests(secs));
    }
    let result = st
        .ra
        .login(st.realm, ctx.cert.as_ref(), login, &f.password)
        .await?;
    if result.is_err() {
        st.throttle.failed(&keys, std::time::Instant::now());
    }
    match result {
        Ok(ok) => {
            let fingerprint = ctx
                .cert
                .as_ref()
                .map(|c| c.fingerprint.clone())
                .unwrap_or_default();
            start_session(&st, &ctx, &ok, fingerprint).await
        }
        Err(reason) => {
            let key = if reason == LoginRefusal::Locked {
                "login.locked"
            } else {
                "login.failed"
            };
            let mut res = login_page(&st, &ctx, login, ctx.tr.t(key))?;
            *res.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            Ok(res)
        }
    }
}

/// A form carrying only the CSRF token.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct CsrfForm {
    /// The token.
    pub csrf: String,
}

/// POST /logout: ends the session.
pub async fn logout(
    State(st): State<Shared>,
    ctx: Ctx,
    Form(f): Form<CsrfForm>,
) -> WebResult<Response> {
    if let Some(s) = &ctx.session {
        if s.csrf_token != f.csrf {
            return Err(WebError::Forbidden);
        }
        st.ra.logout(s).await?;
    }
    Ok((
        [(header::SET_COOKIE, clear_cookie(st.realm))],
        Redirect::to("/"),
    )
        .into_response())
}

/// The password page.
#[derive(Template)]
#[template(path = "shared/password.html")]
pub struct PasswordPage {
    /// Frame.
    pub p: Page,
    /// Whether the initial password must be changed now (R-L3).
    pub forced: bool,
    /// Whether it was just changed.
    pub done: bool,
    /// Error message.
    pub error: String,
    /// The bound certificate's serial (read-only, R-P1).
    pub cert_serial: String,
    /// The bound certificate's DN (read-only, R-P1).
    pub cert_dn: String,
}

async fn password_page(st: &Shared, a: &Authed, done: bool, error: &str) -> WebResult<Response> {
    let creds = st
        .ra
        .credentials(st.realm, a.id())
        .await?
        .ok_or(WebError::NotFound)?;
    let mut p = Page::new(&a.ctx, area(st), "pw.title");
    if creds.password_initial {
        p = p.without_menu();
    }
    html(&PasswordPage {
        p,
        forced: creds.password_initial,
        done,
        error: error.to_owned(),
        cert_serial: creds.cert_serial.unwrap_or_default(),
        cert_dn: creds.cert_subject.unwrap_or_default(),
    })
}

/// `?done=1`
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct DoneQuery {
    /// Set after a change.
    pub done: Option<String>,
}

/// GET /password (R-P1).
pub async fn password_form(
    State(st): State<Shared>,
    a: Authed,
    Query(q): Query<DoneQuery>,
) -> WebResult<Response> {
    password_page(&st, &a, q.done.is_some(), "").await
}

/// The password form.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    /// CSRF token.
    pub csrf: String,
    /// Current password.
    pub current: String,
    /// New password.
    pub new: String,
    /// New password again.
    pub confirm: String,
}

/// POST /password: the new password twice (R-P1). Other sessions end.
pub async fn password_submit(
    State(st): State<Shared>,
    a: Authed,
    Form(f): Form<PasswordForm>,
) -> WebResult<Response> {
    a.check_csrf(&f.csrf)?;
    match st
        .ra
        .change_password(st.realm, a.id(), &f.current, &f.new, &f.confirm)
        .await?
    {
        Ok(()) => {
            st.ra
                .end_other_sessions(st.realm, a.id(), &a.session.token_hash)
                .await?;
            Ok(Redirect::to("/password?done=1").into_response())
        }
        Err(key) => {
            let mut res = password_page(&st, &a, false, a.ctx.tr.t(key)).await?;
            *res.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(res)
        }
    }
}

/// `?back=/path`
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct BackQuery {
    /// Where to go back to.
    pub back: String,
}

/// Whether `back` is a path on this site and nothing else (issue #7 item 10): it starts
/// with one `/`, and holds only visible ASCII without `\\` — browsers drop TAB and line
/// breaks from URLs, so `/<TAB>/evil.example` would become `//evil.example`, another
/// site; and such characters could not go into a `Location` header anyway.
pub fn is_local_path(back: &str) -> bool {
    let b = back.as_bytes();
    b.first() == Some(&b'/')
        && !matches!(b.get(1), Some(b'/' | b'\\'))
        && b.iter().all(|c| c.is_ascii_graphic() && *c != b'\\')
}

/// GET /lang/{code}: switches the language for this browser and goes back.
pub async fn set_lang(Path(code): Path<String>, Query(q): Query<BackQuery>) -> Response {
    let lang = crate::i18n::Lang::from_code(&code);
    let back = if is_local_path(&q.back) {
        q.back
    } else {
        "/".to_owned()
    };
    (
        [(
            header::SET_COOKIE,
            format!(
                "{LANG_COOKIE}={}; Path=/; Secure; SameSite=Lax; Max-Age=31536000",
                lang.code()
            ),
        )],
        Redirect::to(&back),
    )
        .into_response()
}

/// The stylesheet.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/style.css"),
    )
        .into_response()
}

/// Unknown paths.
pub async fn not_found() -> WebError {
    WebError::NotFound
}

/// What an OTP session records instead of a certificate fingerprint (R-L6).
pub use shomei_ra::sessions::OTP_SESSION;

/// A new session after a successful login (a new id; the old session, if any, ends),
/// then the password page (R-L3) or the top page.
pub async fn start_session(
    st: &Shared,
    ctx: &Ctx,
    ok: &shomei_ra::login::LoggedIn,
    cert_fingerprint: String,
) -> WebResult<Response> {
    let token = shomei_ra::random_token(32)?;
    st.ra
        .open_session(
            st.realm,
            ok.id,
            token_hash(&token),
            cert_fingerprint,
            ctx.session.as_ref().map(|s| s.token_hash.as_str()),
        )
        .await?;
    let to = if ok.must_change_password {
        "/password"
    } else {
        "/"
    };
    Ok((
        [(header::SET_COOKIE, session_cookie(st.realm, &token))],
        Redirect::to(to),
    )
        .into_response())
}

/// The page shown to a browser without a login certificate (R-L1): nothing but how to
/// get one.
#[derive(Template)]
#[template(path = "portal/no_cert.html")]
struct NoCertPage {
    p: Page,
}

/// Renders [`NoCertPage`] with status 403.
pub fn no_cert(ctx: &Ctx) -> WebResult<Response> {
    let mut res = html(&NoCertPage {
        p: Page::new(ctx, "portal", "nocert.title"),
    })?;
    *res.status_mut() = axum::http::StatusCode::FORBIDDEN;
    Ok(res)
}
