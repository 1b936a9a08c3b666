//! The OCSP responder over HTTP (issue #11 item 1, RFC 5019 section 6): GET answers carry
//! caching headers a CDN can honour, a matching `If-None-Match` gets 304, POST and GET
//! answer the same bytes, error answers are never cached. Both backends.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use http_body_util::BodyExt;
use shomei_ca::ocsp::HashAlg;
use shomei_store::Realm;
use shomei_store::testing::backends;
use shomei_web::{AppState, WebConfig};
use std::sync::Arc;
use time::macros::datetime;
use tower::ServiceExt;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

async fn call(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let res = app
        .clone()
        .oneshot(req)
        .await
        .unwrap_or_else(|e| match e {});
    let (status, headers) = (res.status(), res.headers().clone());
    let body = res
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    (status, headers, body)
}

fn header_of(h: &axum::http::HeaderMap, name: header::HeaderName) -> &str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn issue11_ocsp_get_carries_rfc5019_caching_headers() {
    for db in backends().await {
        let (ra, _, pki) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, app) = shomei_ra::testing::issued(&ra, staff.id, CSR).await;
        let serial = db
            .store
            .issued_certificate(app)
            .await
            .ok()
            .flatten()
            .map(|c| c.serial)
            .unwrap_or_default();
        let issuer =
            shomei_ca::pki::pem_to_der(&pki.server_ca.cert_pem, "CERTIFICATE").unwrap_or_default();
        let req = shomei_ca::ocsp::request(
            &issuer,
            &hex::decode(&serial).unwrap_or_default(),
            HashAlg::Sha1,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let public = shomei_web::public::router(Arc::new(AppState {
            ra: ra.clone(),
            realm: Realm::Customer,
            cfg: WebConfig::default(),
            root_pem: String::new(),
            root_crl: None,
            throttle: Default::default(),
        }));
        let url = format!(
            "/ocsp/server/{}",
            base64::engine::general_purpose::STANDARD
                .encode(&req)
                .replace('/', "%2F")
                .replace('+', "%2B")
                .replace('=', "%3D")
        );
        let get = |inm: Option<&str>| {
            let mut b = Request::builder().uri(url.clone());
            if let Some(v) = inm {
                b = b.header(header::IF_NONE_MATCH, v);
            }
            b.body(Body::empty()).unwrap_or_default()
        };
        let (status, h, body) = call(&public, get(None)).await;
        assert_eq!(status, StatusCode::OK, "{}", db.name);
        assert_eq!(
            header_of(&h, header::CONTENT_TYPE),
            "application/ocsp-response"
        );
        assert_eq!(
            header_of(&h, header::CACHE_CONTROL),
            "max-age=3600, public, no-transform, must-revalidate"
        );
        assert_eq!(
            header_of(&h, header::LAST_MODIFIED),
            "Tue, 24 Nov 2026 10:00:00 GMT"
        );
        assert_eq!(
            header_of(&h, header::EXPIRES),
            "Sat, 28 Nov 2026 10:00:00 GMT"
        );
        let etag = header_of(&h, header::ETAG).to_owned();
        assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
        // The security headers, added to every answer of this listener by a layer that
        // maps responses (issue #11 item 1).
        assert_eq!(header_of(&h, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(header_of(&h, header::X_FRAME_OPTIONS), "DENY");
        assert!(!header_of(&h, header::CONTENT_SECURITY_POLICY).is_empty());
        let missing = Request::builder()
            .uri("/nothing-here")
            .body(Body::empty())
            .unwrap_or_default();
        let (status, h404, _) = call(&public, missing).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(header_of(&h404, header::X_CONTENT_TYPE_OPTIONS), "nosniff");

        // A cache revalidating with the tag: 304 without a body.
        let (status, h304, body304) = call(&public, get(Some(&etag))).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body304.is_empty());
        assert_eq!(header_of(&h304, header::ETAG), etag);
        let (status, _, _) = call(&public, get(Some("\"other\""))).await;
        assert_eq!(status, StatusCode::OK);

        // POST answers the same bytes.
        let post = Request::builder()
            .method("POST")
            .uri("/ocsp/server")
            .header(header::CONTENT_TYPE, "application/ocsp-request")
            .body(Body::from(req.clone()))
            .unwrap_or_default();
        let (status, _, posted) = call(&public, post).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(posted, body);

        // Garbage: malformedRequest, not cached.
        let bad = Request::builder()
            .method("POST")
            .uri("/ocsp/server")
            .body(Body::from(&b"garbage"[..]))
            .unwrap_or_default();
        let (status, h, body) = call(&public, bad).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header_of(&h, header::CACHE_CONTROL), "no-store");
        assert_eq!(body, shomei_ca::ocsp::malformed());
    }
}
