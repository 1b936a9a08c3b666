//! Shomei's ACME front end (RFC 8555), issue #10: an ACME account exists only bound to
//! a contract through an external account binding credential the customer made in the
//! portal (or the operator with `shomei acme eab create`). Like the portal and the desk,
//! it reaches the store only through the RA.
//!
//! Served: the directory (`meta.externalAccountRequired`), newNonce (stored, single
//! use), newAccount with EAB (RFC 8555 7.3, 7.3.4), the account URL (POST-as-GET,
//! contact update, deactivation), key rollover, orders, authorizations, challenges
//! (http-01, dns-01, tls-alpn-01 checked by the RA's validation engine from every
//! network perspective), finalize through the RA's single issuance path, certificate
//! download, revokeCert, and renewal information (RFC 9773).
#![deny(missing_docs)]

mod account;
mod ari;
pub mod jws;
mod order;
pub mod problem;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jws::Jws;
use problem::{Kind, Problem};
use shomei_ra::Ra;
use std::sync::Arc;

/// What the handlers share.
#[derive(Clone)]
pub struct AcmeState {
    /// The RA.
    pub ra: Ra,
    /// The server's base URL as clients reach it, e.g. `https://127.0.0.1:8445`.
    pub base: String,
    /// The terms of service URL shown in the directory.
    pub terms_of_service: String,
    /// The CA's website, shown in the directory.
    pub website: String,
}

impl AcmeState {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/acme/{path}", self.base)
    }
}

pub(crate) type Shared = Arc<AcmeState>;

/// A POST body, or why it could not be read (too large, broken): answered as an ACME
/// problem, never a bare 413.
pub(crate) type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

/// The body, or the problem with it.
pub(crate) fn read(body: Body) -> Result<Bytes, Problem> {
    body.map_err(|e| body_problem(&e))
}

fn body_problem(e: &axum::extract::rejection::BytesRejection) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            Kind::TooLarge,
            format!("the request body is larger than {} bytes", jws::MAX_BODY),
        )
    } else {
        Problem::malformed("the request body could not be read")
    }
}

/// The ACME router (mounted at the root of the ACME listener).
pub fn router(state: AcmeState) -> Router {
    Router::new()
        .route("/acme/directory", get(directory))
        .route("/acme/new-nonce", get(nonce_get).head(nonce_head))
        .route("/acme/new-account", post(account::new_account))
        .route("/acme/acct/{id}", post(account::account))
        .route("/acme/new-order", post(order::new_order))
        .route("/acme/order/{id}", post(order::order))
        .route("/acme/order/{id}/finalize", post(order::finalize))
        .route("/acme/authz/{id}", post(order::authz))
        .route("/acme/chall/{id}", post(order::challenge))
        .route("/acme/cert/{id}", post(order::certificate))
        .route("/acme/acct/{id}/orders", post(order::orders))
        .route("/acme/revoke-cert", post(order::revoke))
        .route("/acme/key-change", post(account::key_change))
        .route("/acme/renewal-info/{id}", get(ari::renewal_info))
        .fallback(unknown)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::extract::DefaultBodyLimit::max(jws::MAX_BODY))
        .with_state(Arc::new(state))
}

/// Adds a fresh nonce, the index link and no-store to a response.
pub(crate) async fn finish(st: &AcmeState, mut res: Response) -> Response {
    let h = res.headers_mut();
    if let Ok(n) = st.ra.acme_nonce().await
        && let Ok(v) = HeaderValue::from_str(&n)
    {
        h.insert("replay-nonce", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("<{}>;rel=\"index\"", st.url("directory"))) {
        h.insert(header::LINK, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// What an overloaded ACME listener answers at once (issue #12; `shomei_web::shed`): 503
/// with a problem document and Retry-After, nothing done (RFC 8555 6.6: clients wait
/// and retry).
pub fn busy_response() -> Response {
    let body = serde_json::json!({
        "type": "urn:ietf:params:acme:error:serverInternal",
        "detail": "the server is busy; nothing was done; retry after the Retry-After delay",
        "status": 503,
    });
    let mut res = (StatusCode::SERVICE_UNAVAILABLE, body.to_string()).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

pub(crate) async fn problem(st: &AcmeState, p: &Problem) -> Response {
    let mut res = (p.status(), p.body().to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(s) = p.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    finish(st, res).await
}

pub(crate) async fn json(
    st: &AcmeState,
    status: StatusCode,
    body: serde_json::Value,
    location: Option<String>,
) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().insert(header::LOCATION, l);
    }
    finish(st, res).await
}

pub(crate) async fn answer(st: &AcmeState, r: Result<Response, Problem>) -> Response {
    match r {
        Ok(res) => res,
        Err(p) => problem(st, &p).await,
    }
}

/// GET /acme/directory (RFC 8555 7.1.1).
async fn directory(State(st): State<Shared>) -> Response {
    let body = serde_json::json!({
        "newNonce": st.url("new-nonce"),
        "newAccount": st.url("new-account"),
        "newOrder": st.url("new-order"),
        "revokeCert": st.url("revoke-cert"),
        "keyChange": st.url("key-change"),
        "renewalInfo": st.url("renewal-info"),
        "meta": {
            "termsOfService": st.terms_of_service,
            "website": st.website,
            "externalAccountRequired": true,
        },
    });
    let mut res = (StatusCode::OK, body.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// HEAD /acme/new-nonce: 200 with a fresh nonce.
async fn nonce_head(State(st): State<Shared>) -> Response {
    finish(&st, StatusCode::OK.into_response()).await
}

/// GET /acme/new-nonce: 204 with a fresh nonce.
async fn nonce_get(State(st): State<Shared>) -> Response {
    finish(&st, StatusCode::NO_CONTENT.into_response()).await
}

/// Parses a POST: its content type, JWS, URL and nonce (RFC 8555 6.2–6.5).
pub(crate) async fn request(
    st: &AcmeState,
    headers: &HeaderMap,
    body: &[u8],
    path: &str,
) -> Result<Jws, Problem> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct != "application/jose+json" {
        return Err(Problem::malformed(
            "the Content-Type of an ACME POST must be application/jose+json",
        ));
    }
    let jws = Jws::parse(body)?;
    jws.algorithm()?;
    let want = st.url(path);
    if jws.protected.url.as_deref() != Some(want.as_str()) {
        return Err(Problem::new(
            Kind::Unauthorized,
            format!("the protected header's url must be {want}"),
        ));
    }
    let nonce = jws.protected.nonce.as_deref().unwrap_or("");
    if nonce.is_empty() || !st.ra.acme_use_nonce(nonce).await? {
        return Err(Problem::new(
            Kind::BadNonce,
            "the nonce is unknown, already used or expired; retry with the Replay-Nonce of this answer",
        ));
    }
    Ok(jws)
}

/// Anything else: 404 as a problem document.
async fn unknown(State(st): State<Shared>) -> Response {
    let p = Problem::new(
        Kind::NotFound,
        "no such ACME resource; start from the directory",
    );
    problem(&st, &p).await
}

/// A method the resource does not take: 405 as a problem document.
async fn wrong_method(State(st): State<Shared>) -> Response {
    let p = Problem::new(
        Kind::MethodNotAllowed,
        "this ACME resource does not take that method (ACME requests are POSTs)",
    );
    problem(&st, &p).await
}
