//! Issue #10: ACME Renewal Information (RFC 9773) for the CA's certificates, on every
//! backend: the last third of a certificate's life, and at once after staff pull a
//! contract's windows in.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use http_body_util::BodyExt;
use shomei_acme::{AcmeState, router};
use shomei_model::Actor;
use shomei_ra::testing::{issued, ra};
use shomei_store::testing::backends;
use time::macros::datetime;
use tower::ServiceExt;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

async fn get(app: &axum::Router, path: &str) -> (StatusCode, serde_json::Value, Option<String>) {
    let res = app
        .clone()
        .oneshot(
            Request::get(format!("https://acme.test{path}"))
                .body(Body::empty())
                .unwrap_or_default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = res.status();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = res
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or_default(),
        retry,
    )
}

fn unix(s: &serde_json::Value) -> i64 {
    time::OffsetDateTime::parse(
        s.as_str().unwrap_or(""),
        &time::format_description::well_known::Rfc3339,
    )
    .map(|t| t.unix_timestamp())
    .unwrap_or(0)
}

#[tokio::test]
async fn issue10_ari_windows_and_pull_in() {
    for db in backends().await {
        let at = datetime!(2026-11-24 10:00:00 UTC);
        let (ra, _, _) = ra(db.store.clone(), at);
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, app) = issued(&ra, staff.id, CSR).await;
        let cert = db
            .store
            .issued_certificate(app)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("cert"));
        let der = cert.der.clone().unwrap_or_default();
        let (_, x) = X509Certificate::from_der(&der).unwrap_or_else(|e| panic!("{e}"));
        let aki = x
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => None,
            })
            .unwrap_or_default();
        let cert_id = format!("{}.{}", b64(&aki), b64(x.raw_serial()));
        let code = db
            .store
            .application(app)
            .await
            .ok()
            .flatten()
            .and_then(|a| a.contract_code)
            .unwrap_or_default();
        let handle = ra.clone();
        let acme = router(AcmeState {
            ra,
            base: "https://acme.test".into(),
            terms_of_service: "https://ca.test/terms".into(),
            website: "https://ca.test".into(),
        });

        let (s, dir, _) = get(&acme, "/acme/directory").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(dir["renewalInfo"], "https://acme.test/acme/renewal-info");
        // The last third of the certificate's life, with Retry-After.
        let (s, w, retry) = get(&acme, &format!("/acme/renewal-info/{cert_id}")).await;
        assert_eq!(s, StatusCode::OK, "{w:?} on {}", db.name);
        assert!(retry.is_some());
        let (start, end) = (
            unix(&w["suggestedWindow"]["start"]),
            unix(&w["suggestedWindow"]["end"]),
        );
        let life = cert.not_after - cert.not_before;
        assert_eq!(
            (start, end),
            (cert.not_after - life / 3, cert.not_after - life / 6)
        );
        assert!(start > at.unix_timestamp());
        // Malformed and unknown identifiers.
        let (s, p, _) = get(&acme, "/acme/renewal-info/not-an-id").await;
        assert_eq!(
            (s, p["type"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                Some("urn:ietf:params:acme:error:malformed")
            )
        );
        let (s, _, _) = get(
            &acme,
            &format!("/acme/renewal-info/{}.{}", b64(&aki), b64(&[0x5a, 1, 2, 3])),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _, _) = get(
            &acme,
            &format!(
                "/acme/renewal-info/{}.{}",
                b64(&[1, 2, 3]),
                b64(x.raw_serial())
            ),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "another issuer's key identifier");
        // Staff pull the contract's windows in: renew now.
        assert_eq!(
            handle.ari_pull_in(Some("B0000000"), Actor::Cli).await.ok(),
            Some(false)
        );
        assert_eq!(
            handle.ari_pull_in(Some(&code), Actor::Cli).await.ok(),
            Some(true)
        );
        let (_, w, _) = get(&acme, &format!("/acme/renewal-info/{cert_id}")).await;
        assert!(
            unix(&w["suggestedWindow"]["end"]) < at.unix_timestamp(),
            "{w:?}"
        );
        assert!(unix(&w["suggestedWindow"]["start"]) < unix(&w["suggestedWindow"]["end"]));
    }
}
