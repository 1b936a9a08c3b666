//! The login page's second entrance (R-L6): ワンタイムパスワードご利用のお客様. Access key
//! and password, then the one-time password (mailed, or from an authenticator app, with
//! its enrolment QR code shown until the first code).

use crate::auth::{OTP_SESSION, start_session};
use crate::error::WebResult;
use crate::page::Page;
use crate::session::Ctx;
use crate::urlform::Form;
use crate::{Shared, html};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use shomei_ra::login::LoginRefusal;
use shomei_ra::otp::OtpRefusal;

#[derive(Template)]
#[template(path = "portal/otp_login.html")]
struct LoginPage {
    p: Page,
    login: String,
    error: &'static str,
}

/// GET /otp-login.
pub async fn form(ctx: Ctx) -> WebResult<Response> {
    html(&LoginPage {
        p: Page::new(&ctx, "portal", "otp.title"),
        login: String::new(),
        error: "",
    })
}

/// The first step's form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    login: String,
    password: String,
}

/// POST /otp-login: access key and password; then the code page.
pub async fn start(
    State(st): State<Shared>,
    ctx: Ctx,
    Form(f): Form<LoginForm>,
) -> WebResult<Response> {
    let login: String = f.login.trim().chars().take(64).collect();
    let keys = crate::throttle::keys(ctx.peer, &login);
    if let Err(secs) = st.throttle.check(&keys, std::time::Instant::now()) {
        return Err(crate::error::WebError::TooManyRequests(secs));
    }
    let result = st.ra.otp_login_start(&login, &f.password).await?;
    if result.is_err() {
        st.throttle.failed(&keys, std::time::Instant::now());
    }
    match result {
        Ok(ch) => Ok(Redirect::to(&format!("/otp-login/{}", ch.token)).into_response()),
        Err(reason) => {
            let mut res = html(&LoginPage {
                p: Page::new(&ctx, "portal", "otp.title"),
                login,
                error: if reason == LoginRefusal::Locked {
                    "login.locked"
                } else {
                    "otp.failed"
                },
            })?;
            *res.status_mut() = StatusCode::UNAUTHORIZED;
            Ok(res)
        }
    }
}

#[derive(Template)]
#[template(path = "portal/otp_code.html")]
struct CodePage {
    p: Page,
    token: String,
    kind: String,
    error: &'static str,
    secret: String,
    qr_svg: String,
    live: bool,
}

async fn code_page(
    st: &Shared,
    ctx: &Ctx,
    token: &str,
    error: &'static str,
) -> WebResult<Response> {
    let kind = st.ra.otp_challenge_kind(token).await?;
    let enrol = st.ra.otp_enrolment(token).await?;
    let qr_svg = enrol
        .as_ref()
        .and_then(|e| qrcode::QrCode::new(e.url.as_bytes()).ok())
        .map(|q| {
            q.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build()
        })
        .unwrap_or_default();
    let mut res = html(&CodePage {
        p: Page::new(ctx, "portal", "otp.code.title"),
        token: token.to_owned(),
        live: kind.is_some(),
        kind: kind.unwrap_or_default(),
        error,
        secret: enrol.map(|e| e.secret).unwrap_or_default(),
        qr_svg,
    })?;
    if !error.is_empty() {
        *res.status_mut() = StatusCode::UNAUTHORIZED;
    }
    Ok(res)
}

/// GET /otp-login/{token}: the code form (and the TOTP enrolment).
pub async fn code_form(
    State(st): State<Shared>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> WebResult<Response> {
    code_page(&st, &ctx, &token, "").await
}

/// The code.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

/// POST /otp-login/{token}: the one-time password; a new session on success.
pub async fn finish(
    State(st): State<Shared>,
    ctx: Ctx,
    Path(token): Path<String>,
    Form(f): Form<CodeForm>,
) -> WebResult<Response> {
    let code: String = f.code.trim().chars().take(16).collect();
    // The code step counts per source address (each challenge allows 5 tries itself).
    let keys = crate::throttle::keys(ctx.peer, "");
    if let Err(secs) = st.throttle.check(&keys, std::time::Instant::now()) {
        return Err(crate::error::WebError::TooManyRequests(secs));
    }
    let result = st.ra.otp_login_finish(&token, &code).await?;
    if result.is_err() {
        st.throttle.failed(&keys, std::time::Instant::now());
    }
    match result {
        Ok(ok) => start_session(&st, &ctx, &ok, OTP_SESSION.to_owned()).await,
        Err(r) => {
            let key = match r {
                OtpRefusal::WrongCode => "otp.wrong",
                OtpRefusal::Replayed => "otp.replayed",
                OtpRefusal::TooManyTries | OtpRefusal::Expired => "otp.expired",
            };
            code_page(&st, &ctx, &token, key).await
        }
    }
}
