//! Headers on every response (CA-RULES "The portal": CSP without inline script,
//! frame-ancestors none, nosniff, Referrer-Policy, HSTS on HTTPS) and the
//! Fetch-Metadata / Origin check on every state change.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

const CSP: &str = "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Adds the security headers; `hsts` on the HTTPS listeners.
pub async fn headers(hsts: bool, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
        if !h.contains_key(header::CACHE_CONTROL) {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    res
}

/// Refuses cross-site state changes: `Sec-Fetch-Site: cross-site`, or an `Origin`
/// that is not `https://` and the request's host and port (scheme, host and port are
/// compared: these are the HTTPS listeners). (CSRF tokens are checked on top of this.)
pub async fn same_origin(req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let h = req.headers();
        let cross = h
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "cross-site");
        let host = h
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.to_string()));
        let origin_ok = match (h.get(header::ORIGIN).and_then(|v| v.to_str().ok()), host) {
            (None, _) | (Some("null"), None) => true,
            (Some(o), Some(host)) => o.eq_ignore_ascii_case(&format!("https://{host}")),
            (Some(_), None) => false,
        };
        if cross || !origin_ok {
            tracing::warn!(origin = ?h.get(header::ORIGIN), host = ?h.get(header::HOST), uri = %req.uri(), "cross-origin state change refused");
            return crate::error::WebError::Forbidden.into_response();
        }
    }
    next.run(req).await
}
