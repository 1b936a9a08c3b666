//! The public listener (plain HTTP, as CRLs and OCSP are by convention): the CA
//! certificates at the caIssuers URLs, the CRL, the OCSP responder, and the site seals'
//! verification pages.

use crate::Shared;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use shomei_ra::ocsp_memory::OcspReply;

/// The public routes.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/ca/{file}", get(ca_cert))
        .route("/crl/{file}", get(crl))
        .route("/crl/server/{file}", get(crl_shard))
        .route("/seal/{serial}", get(seal))
        .route("/static/style.css", get(crate::auth::stylesheet))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .fallback(crate::auth::not_found)
        .layer(axum::middleware::from_fn(crate::security::operation))
        // OCSP, the hot path (tens of thousands of answers a second), without the
        // per-request span: the responder writes no log line per answer, and its rare
        // error lines name the serial.
        .route("/ocsp/server", axum::routing::post(ocsp_post))
        .route("/ocsp/server/{*request}", get(ocsp_get))
        .with_state(state)
        // The security headers on every answer, added as the response passes (no boxed
        // future per request, as `from_fn` makes: OCSP answers are most of this
        // listener's work, issue #11 item 1).
        .layer(tower::util::MapResponseLayer::new(|res: Response| {
            crate::security::with_headers(false, res)
        }))
}

/// The metrics listener's routes (issue #12): `/metrics` in the Prometheus text
/// format, and the health checks. Served on its own address (`listen.metrics`), never
/// on the public listener.
pub fn metrics_router(state: Shared) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(state)
}

async fn metrics(State(st): State<Shared>) -> Response {
    match st.ra.render_metrics().await {
        Ok(text) => (
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("metrics: {e}");
            unavailable()
        }
    }
}

/// Liveness: the process answers.
async fn live() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n").into_response()
}

/// Readiness: the database answers and the instance is not stopping; else 503, so a
/// load balancer sends the traffic elsewhere.
async fn ready(State(st): State<Shared>) -> Response {
    if st.ra.ready().await {
        ([(header::CACHE_CONTROL, "no-store")], "ready\n").into_response()
    } else {
        unavailable()
    }
}

fn unavailable() -> Response {
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::RETRY_AFTER, "5"),
        ],
        "not ready\n",
    )
        .into_response()
}

async fn index() -> Html<&'static str> {
    Html(
        "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>Shomei PKI</title></head><body><h1>Shomei PKI</h1><ul><li><a href=\"/ca/server.crt\">発行CA証明書 / Issuing CA certificate</a></li><li><a href=\"/ca/root.crt\">ルートCA証明書 / Root CA certificate</a></li></ul></body></html>",
    )
}

async fn ca_cert(State(st): State<Shared>, Path(file): Path<String>) -> Response {
    let der = match file.as_str() {
        "server.crt" => Some(st.ra.server_ca_der().to_vec()),
        "root.crt" => shomei_ca::pki::pem_to_der(&st.root_pem, "CERTIFICATE").ok(),
        _ => None,
    };
    match der {
        Some(d) => ([(header::CONTENT_TYPE, "application/pkix-cert")], d).into_response(),
        None => crate::error::WebError::NotFound.into_response(),
    }
}

/// The issuing CA's CRL at the URL of the certificates' CRL distribution point, and the
/// login CA's. Always answers with a parseable, current CRL (re-signed when older than
/// 23 hours).
async fn crl(State(st): State<Shared>, Path(file): Path<String>) -> Response {
    let crl = match file.as_str() {
        "server.crl" => st.ra.current_crl().await,
        // CCADB's "JSON array of partitioned CRLs": every CRL URL of the issuing CA.
        "server.json" => {
            return match st.ra.crl_urls().await {
                Ok(urls) => (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::CACHE_CONTROL, "public, max-age=300"),
                    ],
                    serde_json::to_string(&urls).unwrap_or_default(),
                )
                    .into_response(),
                Err(e) => crate::error::WebError::from(e).into_response(),
            };
        }
        // The login CA's: revoked login certificates (R-L5).
        "login.crl" => st.ra.current_login_crl().await,
        // The root's, signed at start and kept current by `serve` (or by the operator).
        "root.crl" => {
            let Some(path) = &st.root_crl else {
                return crate::error::WebError::NotFound.into_response();
            };
            return match tokio::fs::read(path).await {
                Ok(der) => (
                    [
                        (header::CONTENT_TYPE, "application/pkix-crl"),
                        (header::CACHE_CONTROL, "public, max-age=3600"),
                    ],
                    der,
                )
                    .into_response(),
                Err(_) => crate::error::WebError::NotFound.into_response(),
            };
        }
        _ => return crate::error::WebError::NotFound.into_response(),
    };
    match crl {
        Ok(c) => (
            [
                (header::CONTENT_TYPE, "application/pkix-crl"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            c.der,
        )
            .into_response(),
        Err(e) => crate::error::WebError::from(e).into_response(),
    }
}

/// An OCSP answer over HTTP. Signed responses carry the RFC 5019 (section 6) caching
/// headers, so a CDN or proxy can serve them: `max-age` no longer than an hour nor past
/// nextUpdate, `Last-Modified` (thisUpdate), `Expires` (nextUpdate) and a strong `ETag`
/// (a GET with a matching `If-None-Match` gets 304). Error answers are not cached.
/// A shard of the issuing CA's CRL (issue #11): `/crl/server/N.crl`, the URL in the
/// CRL distribution point of the certificates in shard N.
async fn crl_shard(State(st): State<Shared>, Path(file): Path<String>) -> Response {
    let shard = file
        .strip_suffix(".crl")
        .filter(|n| !n.is_empty() && n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u32>().ok());
    let Some(shard) = shard else {
        return crate::error::WebError::NotFound.into_response();
    };
    match st.ra.current_shard_crl(shard).await {
        Ok(Some(c)) => (
            [
                (header::CONTENT_TYPE, "application/pkix-crl"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            c.der,
        )
            .into_response(),
        Ok(None) => crate::error::WebError::NotFound.into_response(),
        Err(e) => crate::error::WebError::from(e).into_response(),
    }
}

fn ocsp_response(reply: OcspReply, now: i64, if_none_match: Option<&[u8]>) -> Response {
    const OCSP_TYPE: HeaderValue = HeaderValue::from_static("application/ocsp-response");
    let signed = match reply {
        OcspReply::Error(der) => {
            return (
                [
                    (header::CONTENT_TYPE, OCSP_TYPE),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
                der,
            )
                .into_response();
        }
        OcspReply::Signed(s) => s,
    };
    let max_age = (signed.next_update - now).clamp(0, 3600);
    let headers = [
        (header::CONTENT_TYPE, OCSP_TYPE),
        (
            header::CACHE_CONTROL,
            cached(Cached::MaxAge, max_age, |n| {
                format!("max-age={n}, public, no-transform, must-revalidate")
            }),
        ),
        (
            header::LAST_MODIFIED,
            cached(Cached::Date, signed.this_update, http_date),
        ),
        (
            header::EXPIRES,
            cached(Cached::Date, signed.next_update, http_date),
        ),
        (
            header::ETAG,
            HeaderValue::from_str(&signed.etag).unwrap_or(HeaderValue::from_static("")),
        ),
    ];
    if if_none_match.is_some_and(|v| v == signed.etag.as_bytes()) {
        return (axum::http::StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, signed.der.clone()).into_response()
}

/// What a cached header value stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cached {
    /// An HTTP date, by its Unix time.
    Date,
    /// OCSP's Cache-Control, by its max-age.
    MaxAge,
}

/// The header value `make` formats for `n`, from this thread's few most recent ones:
/// the answers for one certificate repeat the same dates and (within a second) the same
/// max-age, and formatting and allocating them for each answer was a few per cent of
/// the OCSP responder's CPU (issue #11 item 1; perf on the public listener's thread).
fn cached(kind: Cached, n: i64, make: impl FnOnce(i64) -> String) -> HeaderValue {
    const KEPT: usize = 8;
    /// The next slot to replace, and the values kept.
    type Recent = (usize, Vec<(Cached, i64, HeaderValue)>);
    thread_local! {
        static RECENT: std::cell::RefCell<Recent> = const { std::cell::RefCell::new((0, Vec::new())) };
    }
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        if let Some((_, _, v)) = recent.1.iter().find(|(k, m, _)| *k == kind && *m == n) {
            return v.clone();
        }
        let value = HeaderValue::from_maybe_shared(bytes::Bytes::from(make(n)))
            .unwrap_or(HeaderValue::from_static(""));
        let (next, list) = &mut *recent;
        if list.len() < KEPT {
            list.push((kind, n, value.clone()));
        } else if let Some(slot) = list.get_mut(*next % KEPT) {
            *slot = (kind, n, value.clone());
        }
        *next = next.wrapping_add(1);
        value
    })
}

/// An HTTP date (RFC 9110 IMF-fixdate).
fn http_date(unix: i64) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// POST /ocsp/server (RFC 6960 A.1.1): the body is the DER request.
async fn ocsp_post(State(st): State<Shared>, body: axum::body::Bytes) -> Response {
    if body.len() > 10 * 1024 {
        return ocsp_response(
            OcspReply::Error(shomei_ca::ocsp::malformed().into()),
            0,
            None,
        );
    }
    let reply = st.ra.ocsp_reply(&body).await;
    ocsp_response(reply, st.ra.now(), None)
}

/// GET /ocsp/server/{base64 of the DER request, URL-encoded} (RFC 6960 A.1.1).
async fn ocsp_get(
    State(st): State<Shared>,
    Path(request): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    use base64::Engine;
    // Path already URL-decoded by axum; some clients also leave '+' and '/' raw.
    let cleaned: String = request.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(cleaned.trim_start_matches('/'))
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE.decode(cleaned.trim_start_matches('/'))
        });
    let inm = headers.get(header::IF_NONE_MATCH).map(|v| v.as_bytes());
    match der {
        Ok(d) if d.len() <= 10 * 1024 => {
            let reply = st.ra.ocsp_reply(&d).await;
            ocsp_response(reply, st.ra.now(), inm)
        }
        _ => ocsp_response(
            OcspReply::Error(shomei_ca::ocsp::malformed().into()),
            0,
            None,
        ),
    }
}

/// `?lang=en` on public pages (no session here).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct LangQuery {
    lang: String,
}

#[derive(askama::Template)]
#[template(path = "public/seal.html")]
struct SealPage {
    p: crate::page::Page,
    seal: Option<shomei_ra::seal::Seal>,
    ca_name: String,
    status_key: &'static str,
    status_class: &'static str,
    validity: String,
    revoked_at: String,
    checked_at: String,
}

/// GET /seal/{serial}: the verification page a web sticker links to (R-D1): the
/// organisation, the domain, the validity and the live status. Not cached: the status
/// is live. An unknown serial gets a 404 page that says so.
async fn seal(
    State(st): State<Shared>,
    Path(serial): Path<String>,
    axum::extract::Query(q): axum::extract::Query<LangQuery>,
) -> Response {
    use crate::page::{date, datetime};
    use shomei_ra::seal::SealStatus;
    let tr = crate::i18n::Tr {
        lang: crate::i18n::Lang::from_code(&q.lang),
    };
    let found = match st.ra.seal(&serial).await {
        Ok(s) => s,
        Err(e) => return crate::error::WebError::from(e).into_response(),
    };
    let (status_key, status_class, revoked_at) = match found.as_ref().map(|s| s.status) {
        Some(SealStatus::Valid) => ("seal.valid", "ok", String::new()),
        Some(SealStatus::Revoked(at)) => ("seal.revoked", "bad", datetime(at)),
        Some(SealStatus::Expired) => ("seal.expired", "bad", String::new()),
        Some(SealStatus::NotYetValid) => ("seal.not_yet_valid", "bad", String::new()),
        None => ("seal.not_found", "bad", String::new()),
    };
    let page = SealPage {
        p: crate::page::Page {
            t: tr,
            area: "public",
            csrf: String::new(),
            logged_in: false,
            menu: false,
            path: format!(
                "/seal/{}",
                serial
                    .chars()
                    .filter(char::is_ascii_hexdigit)
                    .take(64)
                    .collect::<String>()
            ),
            title: "seal.title",
        },
        validity: found
            .as_ref()
            .map(|s| format!("{} – {}", date(s.not_before), date(s.not_after)))
            .unwrap_or_default(),
        seal: found.clone(),
        ca_name: st.cfg.ca_name.clone(),
        status_key,
        status_class,
        revoked_at,
        checked_at: datetime(st.ra.now()),
    };
    let code = if found.is_some() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::NOT_FOUND
    };
    match crate::html(&page) {
        Ok(r) => (code, [(header::CACHE_CONTROL, "no-store")], r).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Cached, cached, http_date};

    /// Issue #11 item 1: the cached header values are the ones formatted afresh, by kind
    /// and number, also once more numbers have passed than the cache keeps.
    #[test]
    fn cached_header_values_are_the_formatted_ones() {
        let age = |n: i64| format!("max-age={n}, public, no-transform, must-revalidate");
        for round in 0..3 {
            for n in (0..20).map(|i| 1_795_000_000 + i * 86_400 + round) {
                let date = cached(Cached::Date, n, http_date);
                assert_eq!(date.to_str().ok(), Some(http_date(n).as_str()));
                // The same number as another kind is another value.
                let max_age = cached(Cached::MaxAge, n, age);
                assert_eq!(max_age.to_str().ok(), Some(age(n).as_str()));
                assert_eq!(
                    cached(Cached::Date, n, http_date).to_str().ok(),
                    Some(http_date(n).as_str())
                );
            }
        }
        assert_eq!(http_date(1_795_003_200), "Wed, 18 Nov 2026 12:00:00 GMT");
    }
}
