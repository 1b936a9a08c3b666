//! Issue #10: the ACME directory, nonces and newAccount with external account binding,
//! through the router with real JWS (ES256 account keys, HS256 bindings), on SQLite and
//! PostgreSQL: each bad request gets its ACME problem and a fresh nonce.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use http_body_util::BodyExt;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use shomei_acme::{AcmeState, router};
use shomei_model::Actor;
use shomei_ra::secrets::SecretKeys;
use shomei_ra::testing::{issued, ra};
use shomei_store::testing::backends;
use std::sync::Arc;
use time::macros::datetime;
use tower::ServiceExt;

pub(crate) const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");
pub(crate) const BASE: &str = "https://acme.test";

pub(crate) fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub(crate) struct Client {
    pub(crate) app: axum::Router,
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) nonce: Option<String>,
    pub(crate) location: Option<String>,
    pub(crate) retry_after: Option<String>,
    pub(crate) body: serde_json::Value,
    pub(crate) text: String,
}

impl Client {
    pub(crate) async fn send(&self, req: Request<Body>) -> Answer {
        let res = self
            .app
            .clone()
            .oneshot(req)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = res.status();
        // The headers read before the body is awaited (the future stays `Send`).
        let (nonce, location, retry_after) = {
            let header = |n: &str| {
                res.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            (
                header("replay-nonce"),
                header("location"),
                header("retry-after"),
            )
        };
        let bytes = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Answer {
            status,
            nonce,
            location,
            retry_after,
            body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub(crate) async fn nonce(&self) -> String {
        let a = self
            .send(
                Request::head(format!("{BASE}/acme/new-nonce"))
                    .body(Body::empty())
                    .unwrap_or_default(),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
        a.nonce.unwrap_or_else(|| panic!("no nonce"))
    }

    pub(crate) async fn post(&self, path: &str, body: serde_json::Value) -> Answer {
        self.post_typed(path, body, "application/jose+json").await
    }

    pub(crate) async fn post_typed(&self, path: &str, body: serde_json::Value, ct: &str) -> Answer {
        self.send(
            Request::post(format!("{BASE}{path}"))
                .header("content-type", ct)
                .body(Body::from(body.to_string()))
                .unwrap_or_default(),
        )
        .await
    }
}

pub(crate) fn jwk_of(key: &SigningKey) -> serde_json::Value {
    let point = key.verifying_key().to_encoded_point(false);
    serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "x": b64(point.x().map(|x| x.as_slice()).unwrap_or_default()),
        "y": b64(point.y().map(|y| y.as_slice()).unwrap_or_default()),
    })
}

/// A flattened JWS signed with `key` (ES256).
pub(crate) fn jws(
    key: &SigningKey,
    protected: serde_json::Value,
    payload: &str,
) -> serde_json::Value {
    let p = b64(protected.to_string().as_bytes());
    let pl = b64(payload.as_bytes());
    let sig: Signature = key.sign(format!("{p}.{pl}").as_bytes());
    serde_json::json!({ "protected": p, "payload": pl, "signature": b64(&sig.to_bytes()) })
}

/// The external account binding of RFC 8555 7.3.4 (HS256 over the account key).
pub(crate) fn eab(
    kid: &str,
    hmac_b64: &str,
    jwk: &serde_json::Value,
    url: &str,
) -> serde_json::Value {
    let p = b64(
        serde_json::json!({ "alg": "HS256", "kid": kid, "url": url })
            .to_string()
            .as_bytes(),
    );
    let pl = b64(jwk.to_string().as_bytes());
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(hmac_b64)
        .unwrap_or_default();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mac = ring::hmac::sign(&key, format!("{p}.{pl}").as_bytes());
    serde_json::json!({ "protected": p, "payload": pl, "signature": b64(mac.as_ref()) })
}

pub(crate) fn problem_type(a: &Answer) -> &str {
    a.body.get("type").and_then(|t| t.as_str()).unwrap_or("")
}

#[tokio::test]
async fn issue10_directory_nonces_and_new_account_with_eab() {
    for db in backends().await {
        let (mut ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        ra.policy.secrets = Arc::new(SecretKeys::from_raw(&[[5u8; 32]]).unwrap_or_default());
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued(&ra, staff.id, CSR).await;
        let cred = ra
            .create_eab(a.id, app)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("credential"));
        let ra_handle = ra.clone();
        let c = Client {
            app: router(AcmeState {
                ra,
                base: BASE.into(),
                terms_of_service: "https://ca.test/terms".into(),
                website: "https://ca.test".into(),
            }),
        };
        let new_account = format!("{BASE}/acme/new-account");

        // The directory says an external account is required.
        let d = c
            .send(
                Request::get(format!("{BASE}/acme/directory"))
                    .body(Body::empty())
                    .unwrap_or_default(),
            )
            .await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(d.body["meta"]["externalAccountRequired"], true);
        assert_eq!(d.body["newAccount"], new_account.as_str());

        let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let jwk = jwk_of(&key);
        let protected = |nonce: &str, url: &str| serde_json::json!({ "alg": "ES256", "nonce": nonce, "url": url, "jwk": jwk });
        let payload = |eab: Option<serde_json::Value>| {
            let mut p = serde_json::json!({ "termsOfServiceAgreed": true, "contact": ["mailto:ops@example.jp"] });
            if let Some(e) = eab {
                p["externalAccountBinding"] = e;
            }
            p.to_string()
        };

        // Without a binding: externalAccountRequired, with a fresh nonce.
        let n = c.nonce().await;
        let r = c
            .post(
                "/acme/new-account",
                jws(&key, protected(&n, &new_account), &payload(None)),
            )
            .await;
        assert_eq!(
            problem_type(&r),
            "urn:ietf:params:acme:error:externalAccountRequired",
            "{}",
            db.name
        );
        assert!(
            r.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("portal"))
        );
        assert!(r.nonce.is_some());
        // The nonce was used: badNonce; a made-up one too.
        let again = c
            .post(
                "/acme/new-account",
                jws(&key, protected(&n, &new_account), &payload(None)),
            )
            .await;
        assert_eq!(problem_type(&again), "urn:ietf:params:acme:error:badNonce");
        let made_up = c
            .post(
                "/acme/new-account",
                jws(&key, protected("AAAA", &new_account), &payload(None)),
            )
            .await;
        assert_eq!(
            problem_type(&made_up),
            "urn:ietf:params:acme:error:badNonce"
        );
        // The url in the protected header must be the one posted to.
        let n = c.nonce().await;
        let wrong_url = c
            .post(
                "/acme/new-account",
                jws(
                    &key,
                    protected(&n, "https://elsewhere/acme/new-account"),
                    &payload(None),
                ),
            )
            .await;
        assert_eq!(
            problem_type(&wrong_url),
            "urn:ietf:params:acme:error:unauthorized"
        );
        // Algorithms: none and MACs are refused, with the list of accepted ones.
        let n = c.nonce().await;
        let mut hs = protected(&n, &new_account);
        hs["alg"] = "HS256".into();
        let bad_alg = c
            .post("/acme/new-account", jws(&key, hs, &payload(None)))
            .await;
        assert_eq!(
            problem_type(&bad_alg),
            "urn:ietf:params:acme:error:badSignatureAlgorithm"
        );
        assert!(
            bad_alg.body["algorithms"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        );
        // A signature by another key: malformed.
        let n = c.nonce().await;
        let other = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let forged = c
            .post(
                "/acme/new-account",
                jws(&other, protected(&n, &new_account), &payload(None)),
            )
            .await;
        assert_eq!(
            problem_type(&forged),
            "urn:ietf:params:acme:error:malformed"
        );
        // Not JSON at all, and the wrong content type.
        let junk = c.post("/acme/new-account", serde_json::json!("junk")).await;
        assert_eq!(problem_type(&junk), "urn:ietf:params:acme:error:malformed");
        let n = c.nonce().await;
        let wrong_ct = c
            .post_typed(
                "/acme/new-account",
                jws(&key, protected(&n, &new_account), &payload(None)),
                "application/json",
            )
            .await;
        assert_eq!(
            problem_type(&wrong_ct),
            "urn:ietf:params:acme:error:malformed"
        );

        // A binding with the wrong MAC key: unauthorized.
        let n = c.nonce().await;
        let wrong = eab(&cred.kid, &b64(&[1u8; 32]), &jwk, &new_account);
        let r = c
            .post(
                "/acme/new-account",
                jws(&key, protected(&n, &new_account), &payload(Some(wrong))),
            )
            .await;
        assert_eq!(
            problem_type(&r),
            "urn:ietf:params:acme:error:unauthorized",
            "{:?}",
            r.body
        );

        // The right binding: 201 with the account's URL; the same key again: 200, same URL.
        let n = c.nonce().await;
        let good = eab(&cred.kid, &cred.hmac, &jwk, &new_account);
        let r = c
            .post(
                "/acme/new-account",
                jws(
                    &key,
                    protected(&n, &new_account),
                    &payload(Some(good.clone())),
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(r.body["status"], "valid");
        assert_eq!(r.body["contact"][0], "mailto:ops@example.jp");
        let url = r.location.clone().unwrap_or_default();
        assert!(url.starts_with(&format!("{BASE}/acme/acct/")));
        let n = c.nonce().await;
        let r2 = c
            .post(
                "/acme/new-account",
                jws(&key, protected(&n, &new_account), &payload(None)),
            )
            .await;
        assert_eq!(
            (r2.status, r2.location.clone()),
            (StatusCode::OK, Some(url.clone()))
        );

        // The credential binds one account only.
        let n = c.nonce().await;
        let jwk2 = jwk_of(&other);
        let mut p2 = protected(&n, &new_account);
        p2["jwk"] = jwk2.clone();
        let reuse = eab(&cred.kid, &cred.hmac, &jwk2, &new_account);
        let r3 = c
            .post("/acme/new-account", jws(&other, p2, &payload(Some(reuse))))
            .await;
        assert_eq!(problem_type(&r3), "urn:ietf:params:acme:error:unauthorized");
        assert!(
            r3.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("already bound"))
        );

        // The account URL, POST-as-GET signed with kid.
        let n = c.nonce().await;
        let path = url.trim_start_matches(BASE).to_owned();
        let got = c
            .post(
                &path,
                jws(
                    &key,
                    serde_json::json!({ "alg": "ES256", "nonce": n, "url": url, "kid": url }),
                    "",
                ),
            )
            .await;
        assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
        assert_eq!(got.body["status"], "valid");

        // Contact update (RFC 8555 7.3.2).
        let kid_hdr = |n: &str, u: &str| serde_json::json!({ "alg": "ES256", "nonce": n, "url": u, "kid": url });
        let n = c.nonce().await;
        let upd = c
            .post(
                &path,
                jws(
                    &key,
                    kid_hdr(&n, &url),
                    r#"{"contact":["mailto:new@example.jp"]}"#,
                ),
            )
            .await;
        assert_eq!(
            (upd.status, upd.body["contact"][0].as_str()),
            (StatusCode::OK, Some("mailto:new@example.jp")),
            "{:?}",
            upd.body
        );
        let n = c.nonce().await;
        let bad = c
            .post(
                &path,
                jws(
                    &key,
                    kid_hdr(&n, &url),
                    r#"{"contact":["tel:+81312345678"]}"#,
                ),
            )
            .await;
        assert_eq!(problem_type(&bad), "urn:ietf:params:acme:error:malformed");

        // Key rollover (7.3.5): the inner JWS by the new key names the account and the old key.
        let new_key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let key_change = format!("{BASE}/acme/key-change");
        let inner = jws(
            &new_key,
            serde_json::json!({ "alg": "ES256", "url": key_change, "jwk": jwk_of(&new_key) }),
            &serde_json::json!({ "account": url, "oldKey": jwk }).to_string(),
        );
        let n = c.nonce().await;
        let rolled = c
            .post(
                "/acme/key-change",
                jws(&key, kid_hdr(&n, &key_change), &inner.to_string()),
            )
            .await;
        assert_eq!(rolled.status, StatusCode::OK, "{:?}", rolled.body);
        let n = c.nonce().await;
        let old_key = c.post(&path, jws(&key, kid_hdr(&n, &url), "")).await;
        assert_eq!(
            problem_type(&old_key),
            "urn:ietf:params:acme:error:malformed",
            "the old key no longer signs"
        );
        let n = c.nonce().await;
        let with_new = c.post(&path, jws(&new_key, kid_hdr(&n, &url), "")).await;
        assert_eq!(with_new.status, StatusCode::OK);
        // A second account (a second credential of the contract) ...
        let cred2 = ra_handle
            .create_eab(a.id, app)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("second credential"));
        let k3 = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let n = c.nonce().await;
        let mut p3 = protected(&n, &new_account);
        p3["jwk"] = jwk_of(&k3);
        let second = c
            .post(
                "/acme/new-account",
                jws(
                    &k3,
                    p3,
                    &payload(Some(eab(
                        &cred2.kid,
                        &cred2.hmac,
                        &jwk_of(&k3),
                        &new_account,
                    ))),
                ),
            )
            .await;
        assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
        let url3 = second.location.clone().unwrap_or_default();
        // ... whose key the first account cannot roll over to: 409.
        let n = c.nonce().await;
        let inner = jws(
            &k3,
            serde_json::json!({ "alg": "ES256", "url": key_change, "jwk": jwk_of(&k3) }),
            &serde_json::json!({ "account": url, "oldKey": jwk_of(&new_key) }).to_string(),
        );
        let dup = c
            .post(
                "/acme/key-change",
                jws(&new_key, kid_hdr(&n, &key_change), &inner.to_string()),
            )
            .await;
        assert_eq!(dup.status, StatusCode::CONFLICT, "{:?}", dup.body);
        // Deactivation (7.3.6): afterwards the account can do nothing.
        let h3 =
            |n: &str| serde_json::json!({ "alg": "ES256", "nonce": n, "url": url3, "kid": url3 });
        let n = c.nonce().await;
        let path3 = url3.trim_start_matches(BASE).to_owned();
        let off = c
            .post(&path3, jws(&k3, h3(&n), r#"{"status":"deactivated"}"#))
            .await;
        assert_eq!(
            (off.status, off.body["status"].as_str()),
            (StatusCode::OK, Some("deactivated")),
            "{:?}",
            off.body
        );
        let n = c.nonce().await;
        let after = c.post(&path3, jws(&k3, h3(&n), "")).await;
        assert_eq!(
            problem_type(&after),
            "urn:ietf:params:acme:error:unauthorized"
        );
        let key = new_key;

        // A disabled credential ends the account bound with it.
        assert_eq!(
            ra_handle
                .disable_eab(&cred.kid, Actor::Customer(a.id))
                .await
                .ok(),
            Some(true)
        );
        let n = c.nonce().await;
        let gone = c
            .post(
                &path,
                jws(
                    &key,
                    serde_json::json!({ "alg": "ES256", "nonce": n, "url": url, "kid": url }),
                    "",
                ),
            )
            .await;
        assert_eq!(
            problem_type(&gone),
            "urn:ietf:params:acme:error:unauthorized",
            "{:?}",
            gone.body
        );
        assert!(
            gone.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("revoked"))
        );

        // Oversized bodies, unknown resources and wrong methods: problem documents too.
        let big = serde_json::json!({ "protected": "a".repeat(300 * 1024), "payload": "", "signature": "" });
        let r = c.post("/acme/new-account", big).await;
        assert_eq!(
            (r.status, problem_type(&r)),
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "urn:ietf:params:acme:error:malformed"
            )
        );
        assert!(r.nonce.is_some());
        let r = c
            .send(
                Request::get(format!("{BASE}/acme/nothing"))
                    .body(Body::empty())
                    .unwrap_or_default(),
            )
            .await;
        assert_eq!(
            (r.status, problem_type(&r)),
            (
                StatusCode::NOT_FOUND,
                "urn:ietf:params:acme:error:malformed"
            )
        );
        let r = c
            .send(
                Request::get(format!("{BASE}/acme/new-account"))
                    .body(Body::empty())
                    .unwrap_or_default(),
            )
            .await;
        assert_eq!(
            (r.status, problem_type(&r)),
            (
                StatusCode::METHOD_NOT_ALLOWED,
                "urn:ietf:params:acme:error:malformed"
            )
        );
    }
}
