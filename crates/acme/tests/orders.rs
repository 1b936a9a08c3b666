//! Issue #10: orders, authorizations, challenges, finalize, certificate download and
//! revokeCert through the router, with the validation engine checking against a real
//! DNS server and HTTP server on loopback, on SQLite and PostgreSQL. Each problem type
//! of these endpoints is provoked: rejectedIdentifier, orderNotReady, unauthorized (a
//! failed challenge, a stale organisation validation), badCSR, caa, rateLimited,
//! badRevocationReason, alreadyRevoked.

use crate::account::{Answer, BASE, CSR, Client, b64, eab, jwk_of, jws, problem_type};
use axum::http::StatusCode;
use p256::ecdsa::SigningKey;
use shomei_acme::{AcmeState, router};
use shomei_model::{Actor, AppKind};
use shomei_ra::acme_orders::RateLimits;
use shomei_ra::secrets::SecretKeys;
use shomei_ra::testing::{account, issued, ra, sr30_form, submit_and_approve};
use shomei_store::testing::backends;
use shomei_validation::perspective::Corroborator;
use shomei_validation::testing::hickory_proto::rr::rdata::{A, CAA, TXT};
use shomei_validation::testing::hickory_proto::rr::{RData, RecordType};
use shomei_validation::testing::{Zone, dns_server, http_server};
use shomei_validation::{Config, Validator, dns01_digest};
use std::collections::HashMap;
use std::sync::Arc;
use time::macros::datetime;

/// An ACME account as the tests drive it.
pub(crate) struct Acct<'a> {
    pub(crate) c: &'a Client,
    pub(crate) key: SigningKey,
    pub(crate) url: String,
    pub(crate) thumbprint: String,
}

impl Acct<'_> {
    pub(crate) async fn post(&self, path: &str, payload: &str) -> Answer {
        let n = self.c.nonce().await;
        let url = format!("{BASE}{path}");
        let p = serde_json::json!({ "alg": "ES256", "nonce": n, "url": url, "kid": self.url });
        self.c.post(path, jws(&self.key, p, payload)).await
    }
    pub(crate) async fn get(&self, url: &str) -> Answer {
        self.post(url.trim_start_matches(BASE), "").await
    }
}

pub(crate) async fn register<'a>(c: &'a Client, kid: &str, hmac: &str) -> Acct<'a> {
    let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let jwk = jwk_of(&key);
    let url = format!("{BASE}/acme/new-account");
    let n = c.nonce().await;
    let payload = serde_json::json!({ "termsOfServiceAgreed": true, "externalAccountBinding": eab(kid, hmac, &jwk, &url) });
    let r = c
        .post(
            "/acme/new-account",
            jws(
                &key,
                serde_json::json!({ "alg": "ES256", "nonce": n, "url": url, "jwk": jwk }),
                &payload.to_string(),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let thumbprint = shomei_acme::jws::thumbprint(&jwk).unwrap_or_default();
    Acct {
        c,
        key,
        url: r.location.unwrap_or_default(),
        thumbprint,
    }
}

pub(crate) fn identifiers(names: &[&str]) -> String {
    serde_json::json!({ "identifiers": names.iter().map(|n| serde_json::json!({"type": "dns", "value": n})).collect::<Vec<_>>() }).to_string()
}

/// A CSR (DER, base64url) for `names` with a fresh P-256 key.
pub(crate) fn csr(names: &[&str]) -> String {
    let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap_or_else(|e| panic!("{e}"));
    params.distinguished_name = rcgen::DistinguishedName::new();
    let req = params
        .serialize_request(&key)
        .unwrap_or_else(|e| panic!("{e}"));
    b64(req.der())
}

/// The challenge of `kind` of the authorization at `authz_url`.
pub(crate) async fn challenge(a: &Acct<'_>, authz_url: &str, kind: &str) -> (String, String) {
    let r = a.get(authz_url).await;
    let ch = r.body["challenges"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["type"] == kind).cloned())
        .unwrap_or_else(|| panic!("no {kind} challenge in {}", r.body));
    (
        ch["url"].as_str().unwrap_or_default().to_owned(),
        ch["token"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Answers the dns-01 challenge of the authorization through the zone.
pub(crate) async fn pass_dns01(a: &Acct<'_>, zone: &Zone, authz_url: &str, domain: &str) -> Answer {
    let (url, token) = challenge(a, authz_url, "dns-01").await;
    zone.clear(&format!("_acme-challenge.{domain}"), RecordType::TXT);
    zone.add(
        &format!("_acme-challenge.{domain}"),
        RData::TXT(TXT::new(vec![dns01_digest(&format!(
            "{token}.{}",
            a.thumbprint
        ))])),
    );
    a.post(url.trim_start_matches(BASE), "{}").await
}

pub(crate) async fn setup(
    db: &shomei_store::testing::TestDb,
    limits: RateLimits,
    term: &str,
    mail: Option<&std::path::Path>,
) -> (
    Client,
    Zone,
    shomei_ra::Ra,
    String,
    String,
    String,
    i64,
    shomei_model::clock::FixedClock,
) {
    let (mut ra, clock, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
    ra.policy.secrets = Arc::new(SecretKeys::from_raw(&[[5u8; 32]]).unwrap_or_default());
    let staff = ra
        .create_staff("rev", "審査", "ra@example.jp", Actor::Cli)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (a, app) = if term == "1" {
        issued(&ra, staff.id, CSR).await
    } else {
        let a = account(&ra, "テスト株式会社").await;
        let form = shomei_ra::apply::ApplicationForm {
            term: term.into(),
            ..sr30_form(CSR)
        };
        let app = submit_and_approve(&ra, staff.id, a.id, AppKind::New, &form)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (a, app)
    };
    let cred = ra
        .create_eab(a.id, app)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("eab"));
    let code = ra
        .application_of(a.id, app)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.contract_code)
        .unwrap_or_default();
    let zone = Zone::default();
    zone.add("www.example.jp", RData::A(A::new(127, 0, 0, 1)));
    zone.add("example.jp", RData::A(A::new(127, 0, 0, 1)));
    let dns = dns_server(zone.clone()).await;
    // Every http-01 path answers 404.
    let http_port = http_server(HashMap::new()).await;
    let v = Validator::new(Config {
        resolver: Some(dns),
        http_port,
        tls_port: 1,
        timeout_seconds: 5,
        caa_identities: vec!["shomei.test".into()],
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let ra = match mail {
        Some(dir) => ra.with_mail(shomei_ra::testing::outbox_mail(dir)),
        None => ra,
    };
    let ra = ra
        .with_validation(Corroborator::local(v, Some(0)))
        .with_acme_base(BASE)
        .with_rate_limits(limits);
    let c = Client {
        app: router(AcmeState {
            ra: ra.clone(),
            base: BASE.into(),
            terms_of_service: "https://ca.test/terms".into(),
            website: "https://ca.test".into(),
        }),
    };
    (c, zone, ra, cred.kid, cred.hmac, code, a.id, clock)
}

#[tokio::test]
async fn issue10_orders_challenges_finalize_download_and_revoke() {
    for db in backends().await {
        let limits = RateLimits {
            orders_per_account: 3,
            ..RateLimits::default()
        };
        let (c, zone, ra, kid, hmac, code, account_id, _) = setup(&db, limits, "1", None).await;
        let a = register(&c, &kid, &hmac).await;
        let both = identifiers(&["www.example.jp", "example.jp"]);

        // A name outside the contract: rejectedIdentifier, naming the contract.
        let r = a
            .post("/acme/new-order", &identifiers(&["other.example.jp"]))
            .await;
        assert_eq!(
            problem_type(&r),
            "urn:ietf:params:acme:error:rejectedIdentifier",
            "{}",
            db.name
        );
        assert!(
            r.body["detail"].as_str().is_some_and(|d| d.contains(&code)),
            "{}",
            r.body
        );
        assert!(r.nonce.is_some());
        // Not a DNS identifier.
        let r = a
            .post(
                "/acme/new-order",
                r#"{"identifiers":[{"type":"ip","value":"127.0.0.1"}]}"#,
            )
            .await;
        assert_eq!(
            problem_type(&r),
            "urn:ietf:params:acme:error:rejectedIdentifier"
        );
        // Malformed.
        let r = a
            .post("/acme/new-order", r#"{"identifiers":"www.example.jp"}"#)
            .await;
        assert_eq!(problem_type(&r), "urn:ietf:params:acme:error:malformed");

        // An order for the contract's names: pending, one authorization each.
        let o = a.post("/acme/new-order", &both).await;
        assert_eq!(o.status, StatusCode::CREATED, "{}", o.body);
        assert_eq!(o.body["status"], "pending");
        let authzs: Vec<String> = o.body["authorizations"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(authzs.len(), 2);
        let finalize = o.body["finalize"].as_str().unwrap_or_default().to_owned();
        // Finalize too early: orderNotReady.
        let r = a
            .post(
                finalize.trim_start_matches(BASE),
                &serde_json::json!({"csr": csr(&["www.example.jp", "example.jp"])}).to_string(),
            )
            .await;
        assert_eq!(
            (r.status, problem_type(&r)),
            (
                StatusCode::FORBIDDEN,
                "urn:ietf:params:acme:error:orderNotReady"
            )
        );
        // Three challenge types for a host name.
        let az = a.get(&authzs[0]).await;
        assert_eq!(
            az.body["challenges"].as_array().map(Vec::len),
            Some(3),
            "{}",
            az.body
        );
        // dns-01 with the record in place: valid.
        let r = pass_dns01(&a, &zone, &authzs[0], "www.example.jp").await;
        assert_eq!(r.body["status"], "valid", "{}", r.body);
        // http-01 where the server answers 404: invalid, and so is the order.
        let (url, _) = challenge(&a, &authzs[1], "http-01").await;
        let r = a.post(url.trim_start_matches(BASE), "{}").await;
        assert_eq!(r.body["status"], "invalid", "{}", r.body);
        assert_eq!(
            r.body["error"]["type"],
            "urn:ietf:params:acme:error:unauthorized"
        );
        assert!(
            r.body["error"]["detail"]
                .as_str()
                .is_some_and(|d| d.contains("404"))
        );
        let o1 = a.get(o.location.as_deref().unwrap_or_default()).await;
        assert_eq!(o1.body["status"], "invalid");
        // A wrong payload on a challenge.
        let r = a.post(url.trim_start_matches(BASE), "[]").await;
        assert_eq!(problem_type(&r), "urn:ietf:params:acme:error:malformed");

        // Again: www.example.jp is reused (valid at once), example.jp by dns-01.
        let o = a.post("/acme/new-order", &both).await;
        let authzs: Vec<String> = o.body["authorizations"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(a.get(&authzs[0]).await.body["status"], "valid");
        let r = pass_dns01(&a, &zone, &authzs[1], "example.jp").await;
        assert_eq!(r.body["status"], "valid", "{}", r.body);
        let order_url = o.location.clone().unwrap_or_default();
        assert_eq!(a.get(&order_url).await.body["status"], "ready");
        let finalize = o.body["finalize"].as_str().unwrap_or_default().to_owned();
        let fin = |csr: String| serde_json::json!({ "csr": csr }).to_string();
        // A CSR whose names differ from the order: badCSR.
        let r = a
            .post(
                finalize.trim_start_matches(BASE),
                &fin(csr(&["www.example.jp"])),
            )
            .await;
        assert_eq!(
            problem_type(&r),
            "urn:ietf:params:acme:error:badCSR",
            "{}",
            r.body
        );
        assert!(
            r.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("the order names"))
        );
        // Not a CSR.
        let r = a
            .post(finalize.trim_start_matches(BASE), &fin(b64(b"junk")))
            .await;
        assert_eq!(problem_type(&r), "urn:ietf:params:acme:error:badCSR");
        // CAA limited to another ACME account: caa.
        zone.add(
            "example.jp",
            RData::CAA(CAA::new_issue(
                false,
                Some("shomei.test".parse().unwrap_or_else(|e| panic!("{e:?}"))),
                vec![
                    shomei_validation::testing::hickory_proto::rr::rdata::caa::KeyValue::new(
                        "accounturi",
                        format!("{BASE}/acme/acct/999"),
                    ),
                ],
            )),
        );
        let r = a
            .post(
                finalize.trim_start_matches(BASE),
                &fin(csr(&["www.example.jp", "example.jp"])),
            )
            .await;
        assert_eq!(
            (r.status, problem_type(&r)),
            (StatusCode::FORBIDDEN, "urn:ietf:params:acme:error:caa"),
            "{}",
            r.body
        );
        // CAA for this account: issued.
        zone.clear("example.jp", RecordType::CAA);
        zone.add(
            "example.jp",
            RData::CAA(CAA::new_issue(
                false,
                Some("shomei.test".parse().unwrap_or_else(|e| panic!("{e:?}"))),
                vec![
                    shomei_validation::testing::hickory_proto::rr::rdata::caa::KeyValue::new(
                        "accounturi",
                        a.url.clone(),
                    ),
                ],
            )),
        );
        // Two finalizes of the order at once (issue #11: concurrent finalizes share one
        // transaction for their records): one issues, the other is told the order is
        // no longer ready; one certificate.
        let (one, two) = (
            fin(csr(&["www.example.jp", "example.jp"])),
            fin(csr(&["www.example.jp", "example.jp"])),
        );
        let (r, twin) = tokio::join!(
            a.post(finalize.trim_start_matches(BASE), &one),
            a.post(finalize.trim_start_matches(BASE), &two)
        );
        let (r, twin) = if r.body["status"] == "valid" {
            (r, twin)
        } else {
            (twin, r)
        };
        assert_eq!(r.body["status"], "valid", "{} {}", db.name, r.body);
        assert_eq!(
            (twin.status, problem_type(&twin)),
            (
                StatusCode::FORBIDDEN,
                "urn:ietf:params:acme:error:orderNotReady"
            ),
            "{} {}",
            db.name,
            twin.body
        );
        let cert_url = r.body["certificate"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // The certificate and the issuing CA, PEM.
        let pem = a.get(&cert_url).await;
        assert_eq!(pem.status, StatusCode::OK);
        assert_eq!(pem.text.matches("BEGIN CERTIFICATE").count(), 2);
        // An ACME 発行 record under the contract, with its validations.
        let acct_id: i64 = a
            .url
            .rsplit('/')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        let acct = ra
            .acme_account(acct_id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("account"));
        let order_id: i64 = order_url
            .rsplit('/')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        let view = ra
            .acme_order(&acct, order_id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("order"));
        let rec = ra
            .application(view.order.application_id.unwrap_or_default())
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert_eq!((rec.kind, rec.account_id), (AppKind::Acme, account_id));
        assert_eq!(rec.contract_code.as_deref(), Some(code.as_str()));
        let methods: Vec<String> = ra
            .validations_of(rec.id)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|v| format!("{}:{}", v.kind, v.method))
            .collect();
        assert!(
            methods.contains(&"organization:registry".to_string()),
            "{methods:?}"
        );
        assert!(
            methods.contains(&"domain:acme-dns-01".to_string()),
            "{methods:?}"
        );
        // The account lists its orders.
        let ol = a
            .post(&format!("{}/orders", a.url.trim_start_matches(BASE)), "")
            .await;
        assert!(
            ol.body["orders"]
                .as_array()
                .is_some_and(|l| l.iter().any(|u| u == order_url.as_str()))
        );

        // revokeCert: a reason subscribers may not give; then superseded; then again.
        let der = pem
            .text
            .split("-----END CERTIFICATE-----")
            .next()
            .and_then(|b| b.split("-----BEGIN CERTIFICATE-----").nth(1))
            .map(|b| b.split_whitespace().collect::<String>())
            .unwrap_or_default();
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(der)
            .unwrap_or_default();
        let rv = |reason: i64| {
            serde_json::json!({ "certificate": b64(&der), "reason": reason }).to_string()
        };
        let r = a.post("/acme/revoke-cert", &rv(6)).await;
        assert_eq!(
            problem_type(&r),
            "urn:ietf:params:acme:error:badRevocationReason"
        );
        let r = a.post("/acme/revoke-cert", &rv(4)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = a.post("/acme/revoke-cert", &rv(4)).await;
        assert_eq!(
            problem_type(&r),
            "urn:ietf:params:acme:error:alreadyRevoked"
        );

        // Rate limit: three orders an hour here; the fourth is refused with Retry-After.
        let _ = a.post("/acme/new-order", &both).await;
        let r = a.post("/acme/new-order", &both).await;
        assert_eq!(
            (r.status, problem_type(&r)),
            (
                StatusCode::TOO_MANY_REQUESTS,
                "urn:ietf:params:acme:error:rateLimited"
            ),
            "{}",
            r.body
        );
        assert_eq!(r.retry_after.as_deref(), Some("3600"));
    }
}

#[tokio::test]
async fn issue10_an_old_organisation_validation_stops_orders_until_staff_validate_again() {
    for db in backends().await {
        // A two-year contract: it still runs when its organisation validation is too old.
        let (c, _, _, kid, hmac, code, _, clock) =
            setup(&db, RateLimits::default(), "2", None).await;
        let a = register(&c, &kid, &hmac).await;
        let r = a
            .post("/acme/new-order", &identifiers(&["www.example.jp"]))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{} {}", db.name, r.body);
        clock.advance(time::Duration::days(399));
        let r = a
            .post("/acme/new-order", &identifiers(&["www.example.jp"]))
            .await;
        assert_eq!(
            (r.status, problem_type(&r)),
            (
                StatusCode::FORBIDDEN,
                "urn:ietf:params:acme:error:unauthorized"
            ),
            "{} {}",
            db.name,
            r.body
        );
        let detail = r.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("older than 398 days") && detail.contains(&code),
            "{detail}"
        );
    }
}

/// The decoded bodies and recipients of the mails in the outbox.
fn outbox(dir: &std::path::Path) -> Vec<(String, String)> {
    use base64::Engine;
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let to = head
            .lines()
            .find(|l| l.starts_with("To:"))
            .unwrap_or_default()
            .to_owned();
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        out.push((to, decoded));
    }
    out
}

#[tokio::test]
async fn issue10_notices_first_acme_issuance_and_a_failing_validation_streak() {
    for db in backends().await {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (c, zone, ra, kid, hmac, _, _, _) =
            setup(&db, RateLimits::default(), "1", Some(dir.path())).await;
        let a = register(&c, &kid, &hmac).await;
        let issue = |names: &'static [&'static str]| {
            let (a, zone) = (&a, &zone);
            async move {
                let o = a.post("/acme/new-order", &identifiers(names)).await;
                for (i, authz) in o.body["authorizations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                {
                    let url = authz.as_str().unwrap_or_default();
                    if a.get(url).await.body["status"] == "pending" {
                        pass_dns01(a, zone, url, names[i]).await;
                    }
                }
                let fin = o.body["finalize"].as_str().unwrap_or_default().to_owned();
                let r = a
                    .post(
                        fin.trim_start_matches(BASE),
                        &serde_json::json!({"csr": csr(names)}).to_string(),
                    )
                    .await;
                assert_eq!(r.body["status"], "valid", "{}", r.body);
            }
        };
        // The contract's first ACME certificate is told to the registration contact.
        issue(&["www.example.jp"]).await;
        ra.run_due_jobs(10).await.unwrap_or_else(|e| panic!("{e}"));
        let mails = outbox(dir.path());
        let first: Vec<_> = mails
            .iter()
            .filter(|(_, b)| b.contains("ACME クライアントによる初めての証明書"))
            .collect();
        assert_eq!(first.len(), 1, "{} {mails:?}", db.name);
        assert!(first[0].0.contains("reg@example.jp"), "{}", first[0].0);
        // The next one is not mailed (nor as a portal issuance).
        issue(&["www.example.jp"]).await;
        ra.run_due_jobs(10).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outbox(dir.path()).len(), mails.len(), "{}", db.name);
        // Three failed validations of a domain in a row: the technical contact hears of it, once.
        for _ in 0..4 {
            let o = a
                .post("/acme/new-order", &identifiers(&["example.jp"]))
                .await;
            let authz = o.body["authorizations"][0]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let (url, _) = challenge(&a, &authz, "http-01").await;
            let r = a.post(url.trim_start_matches(BASE), "{}").await;
            assert_eq!(r.body["status"], "invalid");
        }
        ra.run_due_jobs(10).await.unwrap_or_else(|e| panic!("{e}"));
        let failing: Vec<_> = outbox(dir.path())
            .into_iter()
            .filter(|(_, b)| b.contains("ドメイン example.jp の認証が続けて失敗"))
            .collect();
        assert_eq!(failing.len(), 1, "{}", db.name);
        assert!(failing[0].0.contains("tech@example.jp"), "{}", failing[0].0);
    }
}
