//! Sessions (OWASP ASVS V7): server-side, a new random id at every login, bound to the
//! client certificate, idle (30 min) and absolute (8 h) timeouts enforced here, ended
//! by logout. Cookies: `__Host-` prefix, Secure, HttpOnly, SameSite=Strict.

use crate::error::WebError;
use crate::i18n::{Lang, Tr};
use crate::tls::ClientCert;
use crate::{AppState, Shared};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use shomei_ca::client::PresentedCert;
use shomei_store::{Realm, Session};

/// The language cookie.
pub const LANG_COOKIE: &str = "shomei-lang";

fn cookie_name(realm: Realm) -> &'static str {
    match realm {
        Realm::Customer => "__Host-shomei-portal",
        Realm::Staff => "__Host-shomei-desk",
    }
}

/// Reads a cookie.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// SHA-256 of a session token, hex: what the database keeps.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// The `Set-Cookie` value opening a session.
pub fn session_cookie(realm: Realm, token: &str) -> String {
    format!(
        "{}={token}; Path=/; Secure; HttpOnly; SameSite=Strict",
        cookie_name(realm)
    )
}

/// The `Set-Cookie` value ending a session.
pub fn clear_cookie(realm: Realm) -> String {
    format!(
        "{}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
        cookie_name(realm)
    )
}

/// What every handler knows about the request.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The translator.
    pub tr: Tr,
    /// The verified client certificate, if one was presented.
    pub cert: Option<PresentedCert>,
    /// The session, if valid for this realm, certificate and time.
    pub session: Option<Session>,
    /// The request path (for the language switch).
    pub path: String,
    /// The source address, when the request came through a listener (throttling).
    pub peer: Option<crate::throttle::PeerAddr>,
}

impl FromRequestParts<Shared> for Ctx {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let lang = Lang::from_code(cookie(&parts.headers, LANG_COOKIE).unwrap_or("ja"));
        let cert = parts
            .extensions
            .get::<ClientCert>()
            .and_then(|c| c.0.clone());
        let session = match cookie(&parts.headers, cookie_name(state.realm)) {
            Some(token) if !token.is_empty() => load_session(state, token, cert.as_ref()).await?,
            _ => None,
        };
        Ok(Ctx {
            tr: Tr { lang },
            cert,
            session,
            path: parts.uri.path().to_owned(),
            peer: parts.extensions.get::<crate::throttle::PeerAddr>().copied(),
        })
    }
}

async fn load_session(
    state: &AppState,
    token: &str,
    cert: Option<&PresentedCert>,
) -> Result<Option<Session>, WebError> {
    let limits = shomei_ra::sessions::SessionLimits {
        idle: state.cfg.idle_timeout,
        absolute: state.cfg.absolute_timeout,
    };
    Ok(state
        .ra
        .resume_session(
            &token_hash(token),
            state.realm,
            cert.map(|c| c.fingerprint.as_str()),
            limits,
        )
        .await?)
}

/// A logged-in request. Until the initial password is changed (R-L3), only the
/// password page and logout are reachable.
#[derive(Debug, Clone)]
pub struct Authed {
    /// The request context.
    pub ctx: Ctx,
    /// The session.
    pub session: Session,
}

impl Authed {
    /// The principal's id.
    pub fn id(&self) -> i64 {
        self.session.principal_id
    }
    /// Checks the form's CSRF token.
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        let a = self.session.csrf_token.as_bytes();
        let b = token.as_bytes();
        let same =
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
        if same {
            Ok(())
        } else {
            Err(WebError::Forbidden)
        }
    }
}

/// Why a request that needs a login was turned away.
#[derive(Debug)]
pub enum AuthRejection {
    /// Not logged in: to the login page.
    Login,
    /// Must change the initial password first (R-L3).
    ChangePassword,
    /// Something failed.
    Error(WebError),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Login => Redirect::to("/").into_response(),
            AuthRejection::ChangePassword => Redirect::to("/password").into_response(),
            AuthRejection::Error(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<Shared> for Authed {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state)
            .await
            .map_err(AuthRejection::Error)?;
        let Some(session) = ctx.session.clone() else {
            return Err(AuthRejection::Login);
        };
        let path = parts.uri.path();
        if path != "/password" && path != "/logout" {
            let creds = state
                .ra
                .credentials(session.realm, session.principal_id)
                .await
                .map_err(|e| AuthRejection::Error(e.into()))?;
            if creds.is_some_and(|c| c.password_initial) {
                return Err(AuthRejection::ChangePassword);
            }
        }
        Ok(Authed { ctx, session })
    }
}

/// A logged-in POST whose form carries nothing but the CSRF token, checked against the
/// session (OWASP CSRF): the handler gets the principal who sent it. It reads the body,
/// so it comes last among a handler's arguments.
#[derive(Debug, Clone)]
pub struct CsrfPost(pub Authed);

impl axum::extract::FromRequest<Shared> for CsrfPost {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &Shared) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let a = Authed::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = axum::extract::Request::from_parts(parts, body);
        let crate::urlform::Form(f) =
            crate::urlform::Form::<crate::auth::CsrfForm>::from_request(req, state).await?;
        a.check_csrf(&f.csrf).map_err(IntoResponse::into_response)?;
        Ok(CsrfPost(a))
    }
}
