//! Headers on every response (CA-RULES "The portal": CSP without inline script,
//! frame-ancestors none, nosniff, Referrer-Policy, HSTS on HTTPS) and the
//! Fetch-Metadata / Origin check on every state change.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

const CSP: &str = "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

tokio::task_local! {
    /// The operation id of the request being handled (issue #12): on every log line
    /// written while it is handled (the `request` span), in the `X-Operation-Id`
    /// response header, and on the system-error page.
    pub static OPERATION: String;
}

/// The current request's operation id, if one is being handled.
pub fn operation_id() -> Option<String> {
    OPERATION.try_with(Clone::clone).ok()
}

/// Gives each request an operation id and runs it inside a `request` span carrying it,
/// so every log line it causes names it; answers it in `X-Operation-Id`.
pub async fn operation(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let mut raw = [0u8; 6];
    let _ = shomei_ca::random_bytes(&mut raw);
    let id = hex::encode(raw);
    let span = tracing::info_span!(
        "request",
        operation = %id,
        method = %req.method(),
        path = %req.uri().path()
    );
    let started = std::time::Instant::now();
    let mut res = OPERATION
        .scope(id.clone(), next.run(req).instrument(span.clone()))
        .await;
    span.in_scope(|| {
        tracing::debug!(
            status = res.status().as_u16(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "answered"
        );
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-operation-id", v);
    }
    res
}

/// Adds the security headers; `hsts` on the HTTPS listeners.
pub async fn headers(hsts: bool, req: Request, next: Next) -> Response {
    with_headers(hsts, next.run(req).await)
}

/// [`headers`] on a response already made: for a layer that maps responses without a
/// boxed future per request (the public listener, OCSP's hot path: issue #11 item 1).
pub fn with_headers(hsts: bool, mut res: Response) -> Response {
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    /// Issue #12: the system-error page shows the operation id the response carries in
    /// `X-Operation-Id` (and the log lines of the request name).
    #[tokio::test]
    async fn a_system_error_page_names_the_requests_operation_id() {
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(|| async {
                    Err::<(), _>(crate::error::WebError::Internal("boom".into()))
                }),
            )
            .layer(axum::middleware::from_fn(super::operation));
        let res = app
            .oneshot(
                Request::builder()
                    .uri("/")
                    .body(Body::empty())
                    .unwrap_or_default(),
            )
            .await
            .unwrap_or_else(|e| match e {});
        assert_eq!(res.status(), 500);
        let id = res
            .headers()
            .get("x-operation-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(id.len(), 12);
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        assert!(body.contains(&format!("<code>{id}</code>")), "{body}");
        assert!(!body.contains("boom"), "the detail stays in the log");
    }
}
