//! Shomei's web front end: the customer portal, the staff desk and the public listener.
//! Server-rendered HTML that works without JavaScript, in Japanese (default) and
//! English. Handlers read linearly: authenticate → load → authorise → rules (in `ra`)
//! → render. Errors become pages here and only here.
#![deny(missing_docs)]

pub mod auth;
pub mod desk;
pub mod domains;
pub mod error;
pub mod form;
pub mod i18n;
pub mod page;
pub mod portal;
pub mod public;
pub mod security;
pub mod session;
pub mod spread;
pub mod sticker;
pub mod throttle;
pub mod tls;
pub mod urlform;
pub mod watched;
pub mod words;

use shomei_ra::Ra;
use shomei_store::Realm;
use std::sync::Arc;

/// Web settings.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Idle session timeout, seconds (30 min).
    pub idle_timeout: i64,
    /// Absolute session timeout, seconds (8 h).
    pub absolute_timeout: i64,
    /// The portal's URL (shown on pages and mails).
    pub portal_url: String,
    /// The public base URL (as in the certificates' AIA and CRL URLs): where site seals
    /// link to their verification page.
    pub public_url: String,
    /// The CA's name as site seals show it.
    pub ca_name: String,
    /// Where customers write with questions (shown on completion pages).
    pub support_email: String,
    /// The ACME directory URL (shown with external account binding credentials).
    pub acme_directory: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            idle_timeout: 30 * 60,
            absolute_timeout: 8 * 3600,
            portal_url: "https://127.0.0.1:8443".into(),
            public_url: "http://127.0.0.1:8080".into(),
            ca_name: "Shomei Development".into(),
            support_email: "ca-support@shomei.invalid".into(),
            acme_directory: "https://127.0.0.1:8445/acme/directory".into(),
        }
    }
}

/// The state shared by one listener's handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The registration authority.
    pub ra: Ra,
    /// Which realm this listener serves.
    pub realm: Realm,
    /// Settings.
    pub cfg: WebConfig,
    /// The root CA certificate, PEM (the chain's top).
    pub root_pem: String,
    /// The file holding the root's CRL (DER), served at `/crl/root.crl`.
    pub root_crl: Option<std::path::PathBuf>,
    /// Failed-login counters of this listener (issue #7 item 9).
    pub throttle: Arc<throttle::Throttle>,
}

/// Shared state handle.
pub type Shared = Arc<AppState>;

/// Renders a template as an HTML response.
pub fn html<T: askama::Template>(t: &T) -> error::WebResult<axum::response::Response> {
    use axum::response::IntoResponse;
    Ok(axum::response::Html(t.render()?).into_response())
}

/// Renders a form page: 200, or 422 when the input it shows was refused.
pub fn form_page<T: askama::Template>(
    t: &T,
    refused: bool,
) -> error::WebResult<axum::response::Response> {
    let mut res = html(t)?;
    if refused {
        *res.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(res)
}

/// Overload shedding (issue #12): at most `max` requests of the listener are handled at
/// once (one limit shared by all its routes); one more is answered at once with `busy`
/// (a 503 with Retry-After), never queued until it times out.
pub fn shed<F>(router: axum::Router, max: usize, busy: F) -> axum::Router
where
    F: Fn() -> axum::response::Response + Clone + Send + Sync + 'static,
{
    router.layer(
        tower::ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(
                move |_: tower::BoxError| {
                    let busy = busy.clone();
                    async move { busy() }
                },
            ))
            .layer(tower::load_shed::LoadShedLayer::new())
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(max.max(1))),
    )
}

/// The busy page of [`shed`] for the portal and the desk.
pub fn busy_page() -> axum::response::Response {
    use axum::response::IntoResponse;
    error::WebError::Busy.into_response()
}

/// The middleware every TLS listener gets: security headers with HSTS, same-origin
/// checks on state changes, and a body limit (1 MiB; a CSR is at most 64 KiB).
pub fn harden(router: axum::Router) -> axum::Router {
    router
        .layer(axum::middleware::from_fn(security::same_origin))
        .layer(axum::middleware::from_fn(|req, next| {
            security::headers(true, req, next)
        }))
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn(security::operation))
}
