//! The portal through its router, in process, on every backend: R-L1, R-L3, R-A4,
//! input errors kept on the form, 404 across accounts, CSRF, security headers.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use shomei_ca::client::{PresentedCert, presented};
use shomei_ra::Ra;
use shomei_ra::accounts::{AccountInput, Created};
use shomei_store::Realm;
use shomei_store::testing::backends;
use shomei_web::tls::ClientCert;
use shomei_web::{AppState, WebConfig};
use std::sync::Arc;
use time::macros::datetime;
use tower::ServiceExt;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

struct Client {
    app: Router,
    cert: Option<PresentedCert>,
    cookie: String,
    csrf: String,
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Client {
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if !self.cookie.is_empty() {
            b = b.header(header::COOKIE, self.cookie.clone());
        }
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        let mut req = b.body(Body::from(body)).unwrap_or_default();
        req.extensions_mut().insert(ClientCert(self.cert.clone()));
        let res = self
            .app
            .clone()
            .oneshot(req)
            .await
            .unwrap_or_else(|e| match e {});
        let status = res.status();
        let headers = res.headers().clone();
        if let Some(c) = headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            && c.starts_with("__Host-")
        {
            self.cookie = c.split(';').next().unwrap_or_default().to_owned();
        }
        let body = String::from_utf8_lossy(
            &res.into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default(),
        )
        .into_owned();
        if let Some(i) = body.find("name=\"csrf\" value=\"") {
            let rest = &body[i + 19..];
            self.csrf = rest[..rest.find('"').unwrap_or(0)].to_owned();
        }
        Resp {
            status,
            headers,
            body,
        }
    }
    async fn get(&mut self, path: &str) -> Resp {
        self.send("GET", path, None, vec![]).await
    }
    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            "POST",
            path,
            Some("application/x-www-form-urlencoded"),
            body.into_bytes(),
        )
        .await
    }
    async fn multipart(&mut self, path: &str, parts: &[(&str, &[u8])]) -> Resp {
        let mut body = Vec::new();
        for (k, v) in parts {
            body.extend_from_slice(
                format!("--XBOUNDARY\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(v);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XBOUNDARY--\r\n");
        self.send(
            "POST",
            path,
            Some("multipart/form-data; boundary=XBOUNDARY"),
            body,
        )
        .await
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn location(r: &Resp) -> String {
    r.headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn cert_of(c: &Created) -> PresentedCert {
    let der = shomei_ca::pki::pem_to_der(&c.cert_pem, "CERTIFICATE").unwrap_or_default();
    presented(&der).unwrap_or_else(|e| panic!("{e}"))
}

fn portal(ra: &Ra) -> Router {
    let st = Arc::new(AppState {
        ra: ra.clone(),
        realm: Realm::Customer,
        cfg: WebConfig::default(),
        root_pem: String::new(),
    });
    shomei_web::portal::router(st)
}

async fn account(ra: &Ra, org: &str) -> Created {
    ra.create_account(
        &AccountInput {
            org: org.into(),
            email: "ops@example.jp".into(),
            dealer_code: None,
        },
        "test",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Logs in and changes the initial password; returns a ready client.
async fn logged_in(ra: &Ra, c: &Created) -> Client {
    let mut cl = Client {
        app: portal(ra),
        cert: Some(cert_of(c)),
        cookie: String::new(),
        csrf: String::new(),
    };
    let r = cl
        .post(
            "/login",
            &[("login", &c.login), ("password", &c.initial_password)],
        )
        .await;
    assert_eq!(
        (r.status, location(&r)),
        (StatusCode::SEE_OTHER, "/password".into())
    );
    cl.get("/password").await;
    let csrf = cl.csrf.clone();
    let r = cl
        .post(
            "/password",
            &[
                ("csrf", &csrf),
                ("current", &c.initial_password),
                ("new", "Sakura-2026-blossom"),
                ("confirm", "Sakura-2026-blossom"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    cl
}

/// Walks choose → terms and returns the draft's input path.
async fn start_draft(cl: &mut Client, service: &str) -> String {
    cl.get("/apply").await;
    let csrf = cl.csrf.clone();
    let r = cl
        .post(
            "/apply",
            &[("csrf", &csrf), ("service", service), ("term", "1")],
        )
        .await;
    let terms = location(&r);
    assert!(terms.ends_with("/terms"), "{terms}");
    let r = cl.post(&terms, &[("csrf", &csrf)]).await;
    location(&r)
}

fn form_parts<'a>(csrf: &'a str, csr: &'a [u8]) -> Vec<(&'a str, &'a [u8])> {
    vec![
        ("csrf", csrf.as_bytes()),
        ("csr", csr),
        ("server_type", b"nginx"),
        ("org_name", "テスト株式会社".as_bytes()),
        ("org_country", b"JP"),
        ("org_state", b"Tokyo"),
        ("org_locality", b"Shibuya-ku"),
        ("reg_name", "登録 太郎".as_bytes()),
        ("reg_email", b"reg@example.jp"),
        ("reg_phone", b"03-1234-5678"),
        ("tech_name", "技術 花子".as_bytes()),
        ("tech_email", b"tech@example.jp"),
        ("tech_phone", b"03-1234-5679"),
        ("admin_name", "事務 次郎".as_bytes()),
        ("admin_email", b"admin@example.jp"),
        ("admin_phone", b"03-1234-5670"),
    ]
}

/// R-L1: without a login certificate the portal shows only how to get one.
#[tokio::test]
async fn r_l1_no_certificate_shows_only_instructions() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = account(&ra, "テスト株式会社").await;
        let mut cl = Client {
            app: portal(&ra),
            cert: None,
            cookie: String::new(),
            csrf: String::new(),
        };
        let r = cl.get("/").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", db.name);
        assert!(r.body.contains("ログイン用電子証明書が必要です"));
        assert!(
            !r.body.contains("name=\"password\""),
            "no login form without a certificate"
        );
        let r = cl
            .post(
                "/login",
                &[("login", &a.login), ("password", &a.initial_password)],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.headers.get(header::SET_COOKIE).is_none());
    }
}

/// R-L2: another account's valid certificate does not open this account.
#[tokio::test]
async fn r_l2_other_accounts_certificate_refused() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = account(&ra, "A社").await;
        let b = account(&ra, "B社").await;
        let mut cl = Client {
            app: portal(&ra),
            cert: Some(cert_of(&b)),
            cookie: String::new(),
            csrf: String::new(),
        };
        let r = cl
            .post(
                "/login",
                &[("login", &a.login), ("password", &a.initial_password)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", db.name);
        assert!(r.body.contains("ログインできませんでした"));
        assert!(cl.cookie.is_empty());
    }
}

/// R-L3: with an initial password nothing but the password page is reachable.
#[tokio::test]
async fn r_l3_initial_password_must_be_changed_first() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = account(&ra, "テスト株式会社").await;
        let mut cl = Client {
            app: portal(&ra),
            cert: Some(cert_of(&a)),
            cookie: String::new(),
            csrf: String::new(),
        };
        cl.post(
            "/login",
            &[("login", &a.login), ("password", &a.initial_password)],
        )
        .await;
        for path in ["/", "/applications", "/apply", "/coupons"] {
            let r = cl.get(path).await;
            assert_eq!(
                (r.status, location(&r)),
                (StatusCode::SEE_OTHER, "/password".into()),
                "{path} on {}",
                db.name
            );
        }
        let r = cl.get("/password").await;
        assert!(r.body.contains("初期パスワードでログインしています"));
        assert!(
            r.body.contains(&cert_of(&a).serial_hex),
            "R-P1: binding shown"
        );
        // After the change, the menu (R-L7) with no dead links.
        let csrf = cl.csrf.clone();
        cl.post(
            "/password",
            &[
                ("csrf", &csrf),
                ("current", &a.initial_password),
                ("new", "Sakura-2026-blossom"),
                ("confirm", "Sakura-2026-blossom"),
            ],
        )
        .await;
        let top = cl.get("/").await;
        assert_eq!(top.status, StatusCode::OK);
        for link in [
            "/apply",
            "/applications",
            "/password",
            "/account-info",
            "/coupons",
        ] {
            assert!(
                top.body.contains(&format!("href=\"{link}\"")),
                "R-L7 menu has {link}"
            );
            assert_eq!(
                cl.get(link).await.status,
                StatusCode::OK,
                "{link} is not a dead link"
            );
        }
    }
}

/// Issue #2: customer A cannot open customer B's application (404, logged).
#[tokio::test]
async fn customer_a_cannot_open_customer_bs_application() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = account(&ra, "A社").await;
        let b = account(&ra, "B社").await;
        let mut cb = logged_in(&ra, &b).await;
        let input = start_draft(&mut cb, "SR3.0").await;
        let csrf = cb.csrf.clone();
        let r = cb
            .multipart(&input, &form_parts(&csrf, CSR.as_bytes()))
            .await;
        let confirm = location(&r);
        assert!(confirm.ends_with("/confirm"), "{} {}", r.status, r.body);
        let submit = confirm.replace("/confirm", "/submit");
        let r = cb.post(&submit, &[("csrf", &csrf)]).await;
        let done = location(&r);
        let id: String = done
            .trim_start_matches("/applications/")
            .trim_end_matches("/done")
            .to_owned();
        let mut ca = logged_in(&ra, &a).await;
        for path in [
            format!("/applications/{id}"),
            format!("/applications/{id}/done"),
            format!("/applications/{id}/download"),
            format!("/applications/{id}/certificate.pem"),
        ] {
            assert_eq!(
                ca.get(&path).await.status,
                StatusCode::NOT_FOUND,
                "{path} on {}",
                db.name
            );
        }
        assert_eq!(
            cb.get(&format!("/applications/{id}")).await.status,
            StatusCode::OK
        );
        // R-D2: not downloadable before 完了.
        assert_eq!(
            cb.get(&format!("/applications/{id}/certificate.pem"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        // A's draft URLs do not open B's drafts either.
        assert_eq!(ca.get(&input).await.status, StatusCode::NOT_FOUND);
        let events = db
            .store
            .audit_events_for(&format!("application:{id}"))
            .await
            .unwrap_or_default();
        assert!(events.iter().any(|e| e.action == "access.denied"));
    }
}

/// R-A4: back, reload and double submit never create a second application.
#[tokio::test]
async fn r_a4_double_submit_and_back() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = account(&ra, "テスト株式会社").await;
        let mut cl = logged_in(&ra, &a).await;
        let input = start_draft(&mut cl, "SR3.0").await;
        let csrf = cl.csrf.clone();
        let r = cl
            .multipart(&input, &form_parts(&csrf, CSR.as_bytes()))
            .await;
        let submit = location(&r).replace("/confirm", "/submit");
        let first = location(&cl.post(&submit, &[("csrf", &csrf)]).await);
        let second = location(&cl.post(&submit, &[("csrf", &csrf)]).await);
        assert_eq!(first, second, "{}", db.name);
        // Back to the input or confirmation page of a submitted draft: to its completion page.
        assert_eq!(location(&cl.get(&input).await), first);
        assert_eq!(
            location(&cl.get(&submit.replace("/submit", "/confirm")).await),
            first
        );
        let list = cl.get("/applications").await;
        assert!(
            list.body.contains("1/1頁 1件数"),
            "R-LS6 paging text: {}",
            db.name
        );
    }
}

/// Bad input gets a clear message on the same form with the rest kept; never a 500.
#[tokio::test]
async fn bad_input_is_explained_and_kept() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = account(&ra, "テスト株式会社").await;
        let mut cl = logged_in(&ra, &a).await;
        let input = start_draft(&mut cl, "SR3.0").await;
        let csrf = cl.csrf.clone();
        // Not a CSR, and a bad e-mail.
        let mut parts = form_parts(&csrf, b"hello");
        parts[8] = ("reg_email", b"not-an-address");
        let r = cl.multipart(&input, &parts).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.name);
        assert!(r.body.contains("CSR として読み取れません"));
        assert!(r.body.contains("メールアドレスの形式が正しくありません"));
        assert!(r.body.contains("value=\"テスト株式会社\""), "input kept");
        assert!(
            r.body.contains("value=\"not-an-address\""),
            "wrong input kept for correction"
        );
        // An internal name.
        let internal = include_bytes!("../../ca/tests/data/p256-internal.csr");
        let r = cl.multipart(&input, &form_parts(&csrf, internal)).await;
        assert!(
            r.body
                .contains("intranet.local は公開 DNS のドメイン名ではありません"),
            "{}",
            r.body
        );
        // Invalid UTF-8 in a text field.
        let mut parts = form_parts(&csrf, CSR.as_bytes());
        parts[3] = ("org_name", &[0xff, 0xfe, 0x41]);
        let r = cl.multipart(&input, &parts).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("文字コードが正しくありません"));
        // A field over its length.
        let long = "あ".repeat(65);
        let mut parts = form_parts(&csrf, CSR.as_bytes());
        parts[3] = ("org_name", long.as_bytes());
        let r = cl.multipart(&input, &parts).await;
        assert!(r.body.contains("64文字以内で入力してください"));
        // An oversized CSR file.
        let big = vec![b'A'; 70 * 1024];
        let mut parts = form_parts(&csrf, b"");
        parts.push(("csr_file", &big));
        let r = cl.multipart(&input, &parts).await;
        assert!(r.body.contains("CSR が大きすぎます"), "{}", r.status);
        // A missing field.
        let parts: Vec<_> = form_parts(&csrf, CSR.as_bytes())
            .into_iter()
            .filter(|(k, _)| *k != "org_state")
            .collect();
        let r = cl.multipart(&input, &parts).await;
        assert!(r.body.contains("入力してください"));
        // A broken multipart body.
        let r = cl
            .send(
                "POST",
                &input,
                Some("multipart/form-data; boundary=XBOUNDARY"),
                b"--XBOUNDARY\r\nContent-Disp".to_vec(),
            )
            .await;
        assert!(r.status.is_client_error(), "{}", r.status);
        // Nothing was stored as an application.
        assert_eq!(
            db.store
                .applications_of(a.id, 0, 10)
                .await
                .map(|l| l.total)
                .ok(),
            Some(0)
        );
    }
}

#[tokio::test]
async fn csrf_and_cross_site_posts_are_refused() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = account(&ra, "テスト株式会社").await;
        let mut cl = logged_in(&ra, &a).await;
        let r = cl
            .post(
                "/apply",
                &[("csrf", "forged"), ("service", "SR3.0"), ("term", "1")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", db.name);
        let mut req = Request::builder()
            .method("POST")
            .uri("/apply")
            .header(header::COOKIE, cl.cookie.clone())
            .header("sec-fetch-site", "cross-site");
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        let mut req = req
            .body(Body::from(format!("csrf={}&service=SR3.0&term=1", cl.csrf)))
            .unwrap_or_default();
        req.extensions_mut().insert(ClientCert(Some(cert_of(&a))));
        let res = cl
            .app
            .clone()
            .oneshot(req)
            .await
            .unwrap_or_else(|e| match e {});
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let db = shomei_store::testing::sqlite().await;
    let (ra, _, _) = shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
    let mut cl = Client {
        app: portal(&ra),
        cert: None,
        cookie: String::new(),
        csrf: String::new(),
    };
    for path in ["/", "/nonexistent", "/static/style.css"] {
        let r = cl.get(path).await;
        let csp = r
            .headers
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            csp.contains("script-src 'none'")
                && csp.contains("frame-ancestors 'none'")
                && csp.contains("object-src 'none'"),
            "{path}"
        );
        assert!(
            r.headers.get(header::STRICT_TRANSPORT_SECURITY).is_some(),
            "{path}"
        );
        assert_eq!(
            r.headers
                .get(header::X_CONTENT_TYPE_OPTIONS)
                .and_then(|v| v.to_str().ok()),
            Some("nosniff")
        );
        assert!(!r.body.contains("<script"), "no script at all");
    }
}

/// Every message key used in templates and handlers exists in both languages.
#[test]
fn message_catalogs_are_complete() {
    use shomei_web::i18n::{Lang, keys};
    let mut ja = keys(Lang::Ja);
    let mut en = keys(Lang::En);
    ja.sort();
    en.sort();
    assert_eq!(ja, en, "ja.toml and en.toml must have the same keys");
    let root = env!("CARGO_MANIFEST_DIR");
    let mut used = Vec::new();
    let mut stack = vec![
        std::path::PathBuf::from(format!("{root}/templates")),
        std::path::PathBuf::from(format!("{root}/src")),
    ];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for pat in [".t(\"", ".t1(\""] {
                for (i, _) in text.match_indices(pat) {
                    let rest = &text[i + pat.len()..];
                    if let Some(end) = rest.find('"') {
                        used.push(rest[..end].to_owned());
                    }
                }
            }
        }
    }
    assert!(used.len() > 100, "scanned the sources");
    for k in used {
        assert!(ja.binary_search(&k).is_ok(), "message key {k} missing");
    }
}

/// Sessions: idle timeout 30 min, absolute 8 h, logout ends the session server-side.
#[tokio::test]
async fn session_timeouts_and_logout() {
    for db in backends().await {
        let (ra, clock, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = account(&ra, "テスト株式会社").await;
        let mut cl = logged_in(&ra, &a).await;
        assert_eq!(cl.get("/applications").await.status, StatusCode::OK);
        // Idle for 31 minutes: logged out.
        clock.advance(time::Duration::minutes(31));
        let r = cl.get("/applications").await;
        assert_eq!(
            (r.status, location(&r)),
            (StatusCode::SEE_OTHER, "/".into()),
            "idle timeout on {}",
            db.name
        );
        // Active every 20 minutes: still logged out after 8 hours.
        cl.post(
            "/login",
            &[("login", &a.login), ("password", "Sakura-2026-blossom")],
        )
        .await;
        let mut alive_for = 0;
        for _ in 0..30 {
            clock.advance(time::Duration::minutes(20));
            if cl.get("/applications").await.status != StatusCode::OK {
                break;
            }
            alive_for += 20;
        }
        assert!(
            (7 * 60..=8 * 60).contains(&alive_for),
            "absolute timeout after {alive_for} min on {}",
            db.name
        );
        // Logout: the cookie is cleared and the old token no longer works.
        cl.post(
            "/login",
            &[("login", &a.login), ("password", "Sakura-2026-blossom")],
        )
        .await;
        let old_cookie = cl.cookie.clone();
        cl.get("/applications").await;
        let csrf = cl.csrf.clone();
        let r = cl.post("/logout", &[("csrf", &csrf)]).await;
        assert!(
            r.headers
                .get(header::SET_COOKIE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.contains("Max-Age=0"))
        );
        cl.cookie = old_cookie;
        assert_eq!(
            cl.get("/applications").await.status,
            StatusCode::SEE_OTHER,
            "token dead after logout"
        );
    }
}

/// R-LS3: staff mark 書類提出待ち; the customer sees "!" and the note. R-A5 申請取消:
/// offered only while the application is not done; repeating it is harmless.
#[tokio::test]
async fn r_ls3_documents_mark_and_r_a5_withdrawal() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let a = account(&ra, "テスト株式会社").await;
        let mut cl = logged_in(&ra, &a).await;
        let input = start_draft(&mut cl, "SR3.0").await;
        let csrf = cl.csrf.clone();
        let r = cl
            .multipart(&input, &form_parts(&csrf, CSR.as_bytes()))
            .await;
        let submit = location(&r).replace("/confirm", "/submit");
        let done = location(&cl.post(&submit, &[("csrf", &csrf)]).await);
        let id: i64 = done
            .trim_start_matches("/applications/")
            .trim_end_matches("/done")
            .parse()
            .unwrap_or_default();

        assert!(
            !cl.get("/applications")
                .await
                .body
                .contains("class=\"mark\"")
        );
        ra.request_documents(staff.id, id, "登記事項証明書（発行後3か月以内）")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let list = cl.get("/applications").await;
        assert!(
            list.body.contains("class=\"mark\""),
            "R-LS3 '!' on {}",
            db.name
        );
        let detail = cl.get(&format!("/applications/{id}")).await;
        assert!(detail.body.contains("登記事項証明書（発行後3か月以内）"));
        assert!(detail.body.contains("書類提出待ち"));
        ra.documents_received(staff.id, id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !cl.get("/applications")
                .await
                .body
                .contains("class=\"mark\"")
        );

        // Withdrawal: offered in the pull-down, confirmed, idempotent.
        let detail = cl.get(&format!("/applications/{id}")).await;
        assert!(detail.body.contains("value=\"withdraw\""));
        let page = cl
            .post(
                &format!("/applications/{id}/action"),
                &[("csrf", &csrf), ("action", "withdraw")],
            )
            .await;
        assert!(page.body.contains("元に戻せません"));
        let r = cl
            .post(&format!("/applications/{id}/withdraw"), &[("csrf", &csrf)])
            .await;
        assert_eq!(location(&r), format!("/applications/{id}?m=withdrawn"));
        let r = cl
            .post(&format!("/applications/{id}/withdraw"), &[("csrf", &csrf)])
            .await;
        assert_eq!(
            location(&r),
            format!("/applications/{id}?m=withdrawn"),
            "repeat is harmless"
        );
        assert_eq!(
            db.store
                .application(id)
                .await
                .ok()
                .flatten()
                .map(|x| x.status),
            Some(shomei_model::AppStatus::Withdrawn)
        );
        let detail = cl.get(&format!("/applications/{id}")).await;
        assert!(
            !detail.body.contains("value=\"withdraw\""),
            "no longer offered"
        );
        // A withdrawn application cannot be approved.
        let approval = shomei_ra::issue::Approval {
            org_method: "registry".into(),
            ev_method: None,
            domain_methods: vec![],
        };
        assert!(ra.approve(staff.id, id, &approval).await.is_err());
    }
}

/// R-C1: only the contacts change; the request is its own record; staff complete it and
/// the contract's contacts change. It never reaches issuance, and it cannot be revoked.
#[tokio::test]
async fn r_c1_contact_change() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = shomei_ra::testing::issued(&ra, staff.id, CSR).await;
        let mut cl = logged_in(&ra, &a).await;
        let detail = cl.get(&format!("/applications/{app}")).await;
        assert!(
            detail.body.contains("value=\"contacts\""),
            "offered from a 完了 record on {}",
            db.name
        );
        let csrf = cl.csrf.clone();
        let terms = location(
            &cl.post(
                &format!("/applications/{app}/action"),
                &[("csrf", &csrf), ("action", "contacts")],
            )
            .await,
        );
        assert!(terms.starts_with("/contacts/"), "{terms}");
        let input = location(&cl.post(&terms, &[("csrf", &csrf)]).await);
        let page = cl.get(&input).await;
        assert!(
            page.body.contains("value=\"登録 太郎\""),
            "prefilled with the current contacts"
        );
        assert!(
            !page.body.contains("name=\"org_name\""),
            "only the contacts are editable"
        );
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("reg_name", "新担当 一郎"),
            ("reg_email", "bad"),
            ("reg_phone", "03-9999-0000"),
            ("tech_name", "技術 花子"),
            ("tech_email", "tech@example.jp"),
            ("tech_phone", "03-1234-5679"),
            ("admin_name", "事務 次郎"),
            ("admin_email", "admin@example.jp"),
            ("admin_phone", "03-1234-5670"),
        ];
        let r = cl.post(&input, &form).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("value=\"新担当 一郎\""), "input kept");
        form[2] = ("reg_email", "new@example.jp");
        let confirm = location(&cl.post(&input, &form).await);
        assert!(confirm.ends_with("/confirm"));
        let submit = confirm.replace("/confirm", "/submit");
        let done = location(&cl.post(&submit, &[("csrf", &csrf)]).await);
        assert_eq!(
            location(&cl.post(&submit, &[("csrf", &csrf)]).await),
            done,
            "R-A4"
        );
        let id: i64 = done
            .trim_start_matches("/applications/")
            .trim_end_matches("/done")
            .parse()
            .unwrap_or_default();
        let rec = db
            .store
            .application(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert_eq!(
            (rec.kind, rec.status),
            (
                shomei_model::AppKind::ContactChange,
                shomei_model::AppStatus::Received
            )
        );
        // Never approved into issuance; no revocation or contact change from this record.
        let approval = shomei_ra::issue::Approval {
            org_method: "registry".into(),
            ev_method: None,
            domain_methods: vec![],
        };
        assert!(ra.approve(staff.id, id, &approval).await.is_err());
        let rec_page = cl.get(&format!("/applications/{id}")).await;
        assert!(
            !rec_page.body.contains("value=\"revoke\"")
                && !rec_page.body.contains("value=\"contacts\"")
        );
        assert!(
            !rec_page.body.contains("value=\"renew\""),
            "R-R2: no renewal from a 担当者変更 record"
        );
        // Staff complete it: the contract's record takes the new contacts.
        ra.complete_contact_change(staff.id, id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let target = db
            .store
            .application(app)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("target"));
        assert_eq!(
            target.details.contacts.registrant.name, "新担当 一郎",
            "{}",
            db.name
        );
        assert_eq!(target.details.contacts.registrant.email, "new@example.jp");
        assert!(
            ra.complete_contact_change(staff.id, id).await.is_err(),
            "once"
        );
    }
}

/// R-R1, R-R3: renewal from the detail page, prefilled from the previous application,
/// with a new CSR; on issuance the contract continues from the old end date.
#[tokio::test]
async fn r_r1_r_r3_renewal_prefilled_and_term_continues() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = shomei_ra::testing::issued(&ra, staff.id, CSR).await;
        let mut cl = logged_in(&ra, &a).await;
        let detail = cl.get(&format!("/applications/{app}")).await;
        assert!(
            detail.body.contains("value=\"renew\""),
            "R-R1 offered on {}",
            db.name
        );
        let csrf = cl.csrf.clone();
        let terms = location(
            &cl.post(
                &format!("/applications/{app}/action"),
                &[("csrf", &csrf), ("action", "renew")],
            )
            .await,
        );
        assert!(
            terms.starts_with("/apply/") && terms.ends_with("/terms"),
            "{terms}"
        );
        let input = location(&cl.post(&terms, &[("csrf", &csrf)]).await);
        let page = cl.get(&input).await;
        assert!(
            page.body.contains("value=\"テスト株式会社\"")
                && page.body.contains("value=\"tech@example.jp\""),
            "R-R3 prefilled"
        );
        assert!(
            page.body
                .contains("aria-describedby=\"csr-hint\"></textarea>"),
            "the CSR is new (empty)"
        );
        let ec = include_bytes!("../../ca/tests/data/p256-cn-only.csr");
        let confirm = location(&cl.multipart(&input, &form_parts(&csrf, ec)).await);
        assert!(confirm.ends_with("/confirm"), "{confirm}");
        let done = location(
            &cl.post(&confirm.replace("/confirm", "/submit"), &[("csrf", &csrf)])
                .await,
        );
        let id: i64 = done
            .trim_start_matches("/applications/")
            .trim_end_matches("/done")
            .parse()
            .unwrap_or_default();
        let rec = db
            .store
            .application(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert_eq!(
            (rec.kind, rec.target_id),
            (shomei_model::AppKind::Renewal, Some(app))
        );
        let approval = shomei_ra::issue::Approval {
            org_method: "registry".into(),
            ev_method: None,
            domain_methods: rec
                .names
                .iter()
                .map(|n| (n.clone(), "dns-change".to_string()))
                .collect(),
        };
        ra.approve(staff.id, id, &approval)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, old_end) = db
            .store
            .contract_period(app)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let (new_start, new_end) = db
            .store
            .contract_period(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(
            new_start, old_end,
            "the term continues from the old end date on {}",
            db.name
        );
        assert!(new_end > old_end);
    }
}

/// 解約: the request is its own record; after the desk's confirmation the contract ends
/// and the certificate is revoked with cessationOfOperation (5).
#[tokio::test]
async fn cancellation_ends_contract_and_revokes() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = shomei_ra::testing::issued(&ra, staff.id, CSR).await;
        let mut cl = logged_in(&ra, &a).await;
        cl.get(&format!("/applications/{app}")).await;
        let csrf = cl.csrf.clone();
        let page_url = location(
            &cl.post(
                &format!("/applications/{app}/action"),
                &[("csrf", &csrf), ("action", "cancel")],
            )
            .await,
        );
        let page = cl.get(&page_url).await;
        assert!(
            page.body.contains("取消しはできません"),
            "warning on {}",
            db.name
        );
        let submit = format!("{page_url}/submit");
        let done = location(&cl.post(&submit, &[("csrf", &csrf)]).await);
        assert_eq!(
            location(&cl.post(&submit, &[("csrf", &csrf)]).await),
            done,
            "R-A4"
        );
        let id: i64 = done
            .trim_start_matches("/applications/")
            .trim_end_matches("/done")
            .parse()
            .unwrap_or_default();
        assert!(
            cl.get(&done)
                .await
                .body
                .contains("解約の申請を受け付けました")
        );
        assert!(
            db.store
                .application(app)
                .await
                .ok()
                .flatten()
                .is_some_and(|x| x.cert_revoked_at.is_none()),
            "not before staff confirm"
        );
        ra.confirm_revocation(staff.id, id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let serial = db
            .store
            .issued_certificate(app)
            .await
            .ok()
            .flatten()
            .map(|c| c.serial)
            .unwrap_or_default();
        assert_eq!(
            db.store.certificate_state("server", &serial).await.ok(),
            Some(shomei_store::ocsp::CertState::Revoked(ra.now(), 5))
        );
        assert_eq!(
            db.store
                .contract_period(app)
                .await
                .ok()
                .flatten()
                .map(|p| p.1),
            Some(ra.now()),
            "contract ended"
        );
        assert_eq!(
            db.store
                .application(id)
                .await
                .ok()
                .flatten()
                .map(|x| x.status),
            Some(shomei_model::AppStatus::Completed)
        );
    }
}

/// R-D1 web stickers: SVG and PNG in two sizes on the download page, linking to the
/// public verification page, which shows organisation, domain, validity and the live
/// status (valid → revoked); R-D2: none before 完了, none for another account.
#[tokio::test]
async fn r_d1_stickers_and_public_seal_page() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = shomei_ra::testing::issued(&ra, staff.id, CSR).await;
        let serial = db
            .store
            .issued_certificate(app)
            .await
            .ok()
            .flatten()
            .map(|c| c.serial)
            .unwrap_or_default();
        let mut cl = logged_in(&ra, &a).await;
        let page = cl.get(&format!("/applications/{app}/download")).await;
        let seal_url = format!("http://127.0.0.1:8080/seal/{serial}");
        assert!(page.body.contains(&seal_url), "{}", page.body);
        for (file, ct) in [
            ("sticker-small.svg", "image/svg+xml"),
            ("sticker-large.svg", "image/svg+xml"),
            ("sticker-small.png", "image/png"),
            ("sticker-large.png", "image/png"),
        ] {
            assert!(page.body.contains(&format!("/applications/{app}/{file}")));
            let r = cl.get(&format!("/applications/{app}/{file}")).await;
            assert_eq!(r.status, StatusCode::OK, "{file} on {}", db.name);
            assert_eq!(
                r.headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok()),
                Some(ct)
            );
            if ct == "image/svg+xml" {
                assert!(r.body.contains(&seal_url), "links to the seal page");
                assert!(r.body.contains("Shomei Development"), "the CA's name");
            } else {
                assert!(r.body.as_bytes().starts_with(b"\x89PNG") || r.body.contains("PNG"));
            }
        }
        assert_eq!(
            cl.get(&format!("/applications/{app}/sticker-huge.svg"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            cl.get(&format!("/applications/{app}/sticker-small.gif"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let other = account(&ra, "他社").await;
        let mut co = logged_in(&ra, &other).await;
        assert_eq!(
            co.get(&format!("/applications/{app}/sticker-small.svg"))
                .await
                .status,
            StatusCode::NOT_FOUND,
            "not another account's"
        );

        // The public verification page.
        let public = shomei_web::public::router(Arc::new(AppState {
            ra: ra.clone(),
            realm: Realm::Customer,
            cfg: WebConfig::default(),
            root_pem: String::new(),
        }));
        let mut pc = Client {
            app: public,
            cert: None,
            cookie: String::new(),
            csrf: String::new(),
        };
        let r = pc.get(&format!("/seal/{serial}")).await;
        assert_eq!(r.status, StatusCode::OK);
        for want in [
            "有効",
            "テスト株式会社",
            "www.example.jp",
            "Shomei Development",
        ] {
            assert!(r.body.contains(want), "{want} in {}", r.body);
        }
        assert_eq!(
            r.headers
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "the status is live"
        );
        let en = pc.get(&format!("/seal/{serial}?lang=en")).await;
        assert!(en.body.contains("Status: Valid"), "{}", en.body);
        assert_eq!(pc.get("/seal/00ff").await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            pc.get("/seal/%3Cscript%3E").await.status,
            StatusCode::NOT_FOUND
        );

        let rev = shomei_ra::testing::request_revocation(&ra, a.id, app, "content_change")
            .await
            .unwrap_or_else(|k| panic!("{k}"));
        ra.confirm_revocation(staff.id, rev)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let r = pc.get(&format!("/seal/{serial}?lang=en")).await;
        assert!(r.body.contains("Status: Revoked"), "{}", r.body);
    }
}

/// R-R5 別サービスへ切り替えて申請 from an imported SR2.0 contract: offered on the
/// detail page (no renewal of SR2.0); choose among the services sold today (not SR2.0);
/// terms → input prefilled from the contract → confirmation with the kind and the
/// warning → submit, safe to repeat; the record is a サービス切替 of the old one.
#[tokio::test]
async fn r_r5_service_switch_in_the_portal() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = shomei_ra::testing::imported_sr20(&ra, staff.id, CSR).await;
        let mut cl = logged_in(&ra, &a).await;
        let detail = cl.get(&format!("/applications/{app}")).await;
        let link = format!("href=\"/applications/{app}/switch\"");
        assert!(detail.body.contains(&link), "R-R5 offered on {}", db.name);
        assert!(
            !detail.body.contains("value=\"renew\""),
            "SR2.0 is not renewed"
        );
        let page = cl.get(&format!("/applications/{app}/switch")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("value=\"SR3.0\"") && page.body.contains("value=\"EV2.0\""));
        assert!(
            !page.body.contains("value=\"SR2.0\""),
            "not to the same service"
        );
        let csrf = cl.csrf.clone();
        let path = format!("/applications/{app}/switch");
        let bad = cl
            .post(
                &path,
                &[("csrf", &csrf), ("service", "SR2.0"), ("term", "1")],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        let terms = location(
            &cl.post(
                &path,
                &[("csrf", &csrf), ("service", "SR3.0"), ("term", "1")],
            )
            .await,
        );
        assert!(terms.ends_with("/terms"), "{terms}");
        let input = location(&cl.post(&terms, &[("csrf", &csrf)]).await);
        let page = cl.get(&input).await;
        assert!(
            page.body.contains("value=\"テスト株式会社\""),
            "the contract's data is kept"
        );
        let ec = include_bytes!("../../ca/tests/data/p256-cn-only.csr");
        let confirm = location(&cl.multipart(&input, &form_parts(&csrf, ec)).await);
        assert!(confirm.ends_with("/confirm"), "{confirm}");
        let page = cl.get(&confirm).await;
        assert!(page.body.contains("サービス切替") && page.body.contains("14日後に失効"));
        let submit = confirm.replace("/confirm", "/submit");
        let done = location(&cl.post(&submit, &[("csrf", &csrf)]).await);
        assert_eq!(
            location(&cl.post(&submit, &[("csrf", &csrf)]).await),
            done,
            "R-A4: a second submit lands on the same record"
        );
        let id: i64 = done
            .trim_start_matches("/applications/")
            .trim_end_matches("/done")
            .parse()
            .unwrap_or_default();
        let rec = db
            .store
            .application(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert_eq!(
            (rec.kind, rec.target_id, rec.service),
            (
                shomei_model::AppKind::Switch,
                Some(app),
                shomei_model::Service::Sr30
            )
        );
        // While it is under way, no second switch is offered.
        let detail = cl.get(&format!("/applications/{app}")).await;
        assert!(!detail.body.contains(&link));
        assert_eq!(
            cl.get(&format!("/applications/{app}/switch")).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

/// R-CP1, R-N2: クーポン管理 lists the dealer's coupons and their state; the input page
/// offers the unused matching ones; the chosen one is shown on the confirmation and
/// used by the application; a used coupon chosen again gets a message on the form.
#[tokio::test]
async fn r_cp1_coupon_list_and_pick() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let a = ra
            .create_account(
                &AccountInput {
                    org: "テスト株式会社".into(),
                    email: "ops@example.jp".into(),
                    dealer_code: Some("D-100".into()),
                },
                "test",
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let numbers = ra
            .issue_coupons(
                staff.id,
                &shomei_ra::coupons::CouponForm {
                    service: "SR3.0".into(),
                    term: "1".into(),
                    dealer_code: "D-100".into(),
                    expires: "2027-03-31".into(),
                    count: "1".into(),
                    batch: "batch-token-for-test-1".into(),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|i| panic!("{i:?}"));
        let n = numbers[0].clone();
        let mut cl = logged_in(&ra, &a).await;
        let page = cl.get("/coupons").await;
        assert!(
            page.body.contains(&n) && page.body.contains("未使用"),
            "{}",
            page.body
        );

        let input = start_draft(&mut cl, "SR3.0").await;
        let page = cl.get(&input).await;
        assert!(
            page.body.contains(&format!("<option value=\"{n}\"")),
            "offered"
        );
        let csrf = cl.csrf.clone();
        let mut parts = form_parts(&csrf, CSR.as_bytes());
        parts.push(("coupon", n.as_bytes()));
        let confirm = location(&cl.multipart(&input, &parts).await);
        assert!(confirm.ends_with("/confirm"), "{confirm}");
        assert!(
            cl.get(&confirm).await.body.contains(&n),
            "shown on the confirmation"
        );
        let done = location(
            &cl.post(&confirm.replace("/confirm", "/submit"), &[("csrf", &csrf)])
                .await,
        );
        assert!(done.ends_with("/done"), "{done}");
        let page = cl.get("/coupons").await;
        assert!(page.body.contains("使用済み"), "{}", page.body);

        // The same coupon in a second application: refused on the form, input kept.
        let input = start_draft(&mut cl, "SR3.0").await;
        let page = cl.get(&input).await;
        assert!(
            !page.body.contains(&format!("<option value=\"{n}\"")),
            "no longer offered"
        );
        let confirm = location(&cl.multipart(&input, &parts).await);
        let r = cl
            .post(&confirm.replace("/confirm", "/submit"), &[("csrf", &csrf)])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.name);
        assert!(r.body.contains("このクーポンは使用できません"));
        assert!(r.body.contains("value=\"テスト株式会社\""), "input kept");
    }
}

/// R-LS1–R-LS6 through the portal: the wide list with sortable columns and the "N/M頁
/// K件数" count; the search form; two conditions with かつ and a sort, kept across
/// paging; CSV of the results in UTF-8 with a BOM; a bad date explained.
#[tokio::test]
async fn r_ls_list_search_and_csv() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = shomei_ra::testing::issued(&ra, staff.id, CSR).await;
        let now = ra.now();
        let rows: Vec<shomei_store::testing::BulkApp> = (0..25)
            .map(|i| shomei_store::testing::BulkApp {
                kind: "new",
                service: "SR3.0",
                status: "received",
                server_type: "apache",
                org_name: format!("Zeta{i:02} Inc."),
                names: vec![format!("z{i}.example.com")],
                created_at: now - 86_400 * (i + 1),
                updated_at: now - 86_400 * (i + 1),
                downloaded: false,
                coupon: None,
                contract: None,
                cert: None,
            })
            .collect();
        shomei_store::testing::bulk_applications(&db.store, a.id, &rows)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut cl = logged_in(&ra, &a).await;
        let page = cl.get("/applications").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("1/2頁 26件数"), "{}", db.name);
        for col in ["申請組織名", "サーバ名", "クーポン番号", "契約コード"] {
            assert!(page.body.contains(col), "wide list column {col}");
        }
        assert!(
            page.body.contains("sort=org&amp;dir=asc")
                || page.body.contains("sort=org&#38;dir=asc"),
            "{}",
            page.body
        );
        assert!(page.body.contains("過去案件表示"));
        // Sorted by organisation, ascending then descending.
        let asc = cl.get("/applications?sort=org&dir=asc").await;
        assert!(asc.body.contains("aria-sort=\"ascending\""));
        let first = |b: &str| {
            b.find("<tbody>")
                .map(|i| b[i..].chars().take(600).collect::<String>())
                .unwrap_or_default()
        };
        assert!(
            first(&asc.body).contains("Zeta00 Inc."),
            "{}",
            first(&asc.body)
        );
        let desc = cl.get("/applications?sort=org&dir=desc").await;
        assert!(first(&desc.body).contains("テスト株式会社"));
        // The search form, filled with the current criteria.
        let form = cl.get("/applications/search?f1=org&q1=Zeta").await;
        assert!(form.body.contains("<label for=\"q1\">") && form.body.contains("value=\"Zeta\""));
        // Two conditions joined by かつ, sorted; paging keeps them.
        let r = cl
            .get("/applications?f1=org&q1=zeta&f2=server&q2=example.com&sort=server&dir=asc")
            .await;
        assert!(r.body.contains("1/2頁 25件数"), "{}", r.body);
        assert!(r.body.contains("page=2") && r.body.contains("q1=zeta"));
        let p2 = cl
            .get("/applications?f1=org&q1=zeta&f2=server&q2=example.com&sort=server&dir=asc&page=2")
            .await;
        assert!(p2.body.contains("2/2頁 25件数"));
        assert!(
            !p2.body.contains("テスト株式会社"),
            "the filter holds on page 2"
        );
        let one = cl
            .get("/applications?f1=org&q1=%E3%83%86%E3%82%B9%E3%83%88&f2=server&q2=www.example.jp")
            .await;
        assert!(one.body.contains("1/1頁 1件数"));
        assert!(one.body.contains(&format!("/applications/{app}\"")));
        // CSV: BOM, header, one row per match.
        let csv = cl.get("/applications.csv?f1=org&q1=zeta").await;
        assert_eq!(
            csv.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("text/csv; charset=utf-8")
        );
        assert!(csv.body.starts_with('\u{feff}'), "UTF-8 BOM");
        let lines: Vec<&str> = csv.body.trim_end().split("\r\n").collect();
        assert_eq!(lines.len(), 26, "header + 25 rows");
        assert!(lines[0].contains("申請組織名") && lines[1].contains("Zeta"));
        // A bad date is explained, not a 500.
        let bad = cl.get("/applications?date=applied&from=2026-13-45").await;
        assert_eq!(bad.status, StatusCode::OK);
        assert!(bad.body.contains("日付は「年-月-日」の形式"));
    }
}

fn desk(ra: &Ra) -> Router {
    let st = Arc::new(AppState {
        ra: ra.clone(),
        realm: Realm::Staff,
        cfg: WebConfig::default(),
        root_pem: String::new(),
    });
    shomei_web::desk::router(st)
}

/// Issue #4 account care at the desk: find the account, see its binding and login
/// history; a locked account is unlocked with a new initial password shown once;
/// disabling ends the customer's session at once.
#[tokio::test]
async fn desk_account_care() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let (_, mut sc) = desk_logged_in(&ra, "kanri").await;

        let a = account(&ra, "ロック株式会社").await;
        let mut cl = logged_in(&ra, &a).await;
        assert_eq!(cl.get("/applications").await.status, StatusCode::OK);
        // Five wrong passwords from another browser lock the account.
        let mut other = Client {
            app: portal(&ra),
            cert: Some(cert_of(&a)),
            cookie: String::new(),
            csrf: String::new(),
        };
        for _ in 0..5 {
            other
                .post(
                    "/login",
                    &[("login", &a.login), ("password", "wrong-password-1")],
                )
                .await;
        }
        let locked = other
            .post(
                "/login",
                &[("login", &a.login), ("password", "Sakura-2026-blossom")],
            )
            .await;
        assert!(
            locked.body.contains("ロックされています"),
            "R-L4 on {}",
            db.name
        );

        let list = sc.get("/accounts?q=%E3%83%AD%E3%83%83%E3%82%AF").await;
        assert!(
            list.body.contains(&a.login) && list.body.contains("ロック中"),
            "{} {:?} {}",
            list.status,
            list.headers,
            list.body
        );
        let detail = sc.get(&format!("/accounts/{}", a.id)).await;
        assert!(detail.body.contains("login.failure") && detail.body.contains("account.locked"));
        assert!(detail.body.contains("SHA-256"), "the binding is shown");
        let csrf = sc.csrf.clone();
        let reset = sc
            .post(
                &format!("/accounts/{}/reset-password", a.id),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(reset.status, StatusCode::OK);
        assert_eq!(
            reset
                .headers
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
        let pw = reset
            .body
            .split("<code id=\"new-password\">")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(pw.len(), 16, "{}", reset.body);
        // The reset ended the customer's session; the new initial password works and
        // must be changed first.
        assert_eq!(location(&cl.get("/applications").await), "/");
        let r = other
            .post("/login", &[("login", &a.login), ("password", &pw)])
            .await;
        assert_eq!(location(&r), "/password", "{}", r.body);

        // Disable: the session ends at once.
        let csrf = sc.csrf.clone();
        let r = sc
            .post(&format!("/accounts/{}/disable", a.id), &[("csrf", &csrf)])
            .await;
        assert_eq!(location(&r), format!("/accounts/{}?m=disabled", a.id));
        assert_ne!(other.get("/password").await.status, StatusCode::OK);
        assert!(
            sc.get(&format!("/accounts/{}", a.id))
                .await
                .body
                .contains("無効")
        );
        assert_eq!(
            sc.post(&format!("/accounts/{}/explode", a.id), &[("csrf", &csrf)])
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        // R-L5 at the desk: a new certificate; the PKCS#12 and its password shown once.
        let r = sc
            .post(&format!("/accounts/{}/enable", a.id), &[("csrf", &csrf)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let nc = sc
            .post(
                &format!("/accounts/{}/new-certificate", a.id),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(nc.status, StatusCode::OK);
        assert!(
            nc.body.contains("data:application/x-pkcs12;base64,")
                && nc.body.contains("p12-password")
        );
        let old = other
            .post("/login", &[("login", &a.login), ("password", &pw)])
            .await;
        assert_eq!(
            old.status,
            StatusCode::UNAUTHORIZED,
            "the old certificate no longer opens it"
        );
    }
}

/// R-AI1–R-AI4 and R-N3: account information input → confirmation → registered, each
/// filled field checked with the input kept; an application block filled from it.
#[tokio::test]
async fn r_ai_account_information_and_prefill() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = account(&ra, "情報株式会社").await;
        let mut cl = logged_in(&ra, &a).await;
        assert!(
            cl.get("/account-info")
                .await
                .body
                .contains("まだ登録されていません")
        );
        let page = cl.get("/account-info/input").await;
        for label in [
            "法人名（カナ）",
            "登記番号",
            "契約責任者",
            "FAX番号",
            "更新のご案内メール",
        ] {
            assert!(page.body.contains(label), "{label}");
        }
        let csrf = cl.csrf.clone();
        let bad = cl
            .post(
                "/account-info/input",
                &[
                    ("csrf", &csrf),
                    ("corp_name", "Info Inc."),
                    ("corp_kana", "じょうほう"),
                    ("corp_number", "123"),
                    ("corp_postal", "1000001"),
                    ("technical_email", "bad"),
                ],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", db.name);
        for msg in [
            "全角で入力してください",
            "全角カタカナで入力してください",
            "xxxx-xx-xxxxxx",
        ] {
            assert!(bad.body.contains(msg), "{msg}");
        }
        assert!(bad.body.contains("value=\"Info Inc.\""), "input kept");
        let good = [
            ("csrf", csrf.as_str()),
            ("corp_name", "情報株式会社"),
            ("corp_kana", "ジョウホウカブシキガイシャ"),
            ("corp_number", "0110-01-012345"),
            ("corp_postal", "100-0001"),
            ("technical_name", "技術 三郎"),
            ("technical_email", "saburo@example.jp"),
            ("technical_phone", "03-0000-1111"),
            ("technical_renewal_mail", "yes"),
        ];
        let r = cl.post("/account-info/input", &good).await;
        assert_eq!(location(&r), "/account-info/confirm");
        let confirm = cl.get("/account-info/confirm").await;
        assert!(
            confirm.body.contains("ジョウホウカブシキガイシャ")
                && confirm.body.contains("希望する")
        );
        let r = cl.post("/account-info/confirm", &[("csrf", &csrf)]).await;
        assert_eq!(location(&r), "/account-info?m=registered");
        // A repeated confirmation changes nothing and lands on the same page.
        let r = cl.post("/account-info/confirm", &[("csrf", &csrf)]).await;
        assert_eq!(location(&r), "/account-info?m=registered");
        let view = cl.get("/account-info?m=registered").await;
        assert!(view.body.contains("登録しました") && view.body.contains("0110-01-012345"));

        // R-N3: the technical contact of a new application filled from it.
        let input = start_draft(&mut cl, "SR3.0").await;
        let fill = input.replace("/input", "/fill/technical");
        let mut parts = form_parts(&csrf, CSR.as_bytes());
        parts.retain(|(k, _)| !k.starts_with("tech_"));
        let r = cl.multipart(&fill, &parts).await;
        assert_eq!(location(&r), input);
        let page = cl.get(&input).await;
        assert!(
            page.body.contains("value=\"技術 三郎\"")
                && page.body.contains("value=\"saburo@example.jp\"")
        );
        assert!(
            page.body.contains("value=\"登録 太郎\""),
            "the other blocks keep what was typed"
        );
        let r = cl
            .multipart(&input.replace("/input", "/fill/org"), &parts)
            .await;
        assert_eq!(location(&r), input);
        assert!(cl.get(&input).await.body.contains("value=\"情報株式会社\""));
        assert_eq!(
            cl.multipart(&input.replace("/input", "/fill/nothing"), &parts)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }
}

/// R-L6 in the portal: the second entrance for a browser without a login certificate;
/// staff set the account to the authenticator app at the desk; access key and password,
/// then the enrolment QR code and key, then the code: a session without a certificate.
#[tokio::test]
async fn r_l6_otp_entrance_and_totp_enrolment() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = account(&ra, "OTP株式会社").await;
        let (_, mut sc) = desk_logged_in(&ra, "kanri").await;
        sc.get(&format!("/accounts/{}", a.id)).await;
        let csrf = sc.csrf.clone();
        let bad = sc
            .post(
                &format!("/accounts/{}/login-method", a.id),
                &[
                    ("csrf", &csrf),
                    ("method", "otp_mail"),
                    ("otp_email", "nope"),
                ],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = sc
            .post(
                &format!("/accounts/{}/login-method", a.id),
                &[("csrf", &csrf), ("method", "otp_totp"), ("otp_email", "")],
            )
            .await;
        assert_eq!(location(&r), format!("/accounts/{}?m=method", a.id));

        // A browser without a certificate: the page says how to get one, and offers the
        // one-time-password entrance.
        let mut cl = Client {
            app: portal(&ra),
            cert: None,
            cookie: String::new(),
            csrf: String::new(),
        };
        let home = cl.get("/").await;
        assert!(
            home.body.contains("href=\"/otp-login\""),
            "R-L6 on {}",
            db.name
        );
        let wrong = cl
            .post("/otp-login", &[("login", &a.login), ("password", "wrong")])
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        let r = cl
            .post(
                "/otp-login",
                &[("login", &a.login), ("password", &a.initial_password)],
            )
            .await;
        let code_url = location(&r);
        assert!(code_url.starts_with("/otp-login/"), "{code_url} {}", r.body);
        let page = cl.get(&code_url).await;
        assert!(page.body.contains("<svg") && page.body.contains("認証アプリの登録"));
        let secret = page
            .body
            .split("<code id=\"totp-secret\">")
            .nth(1)
            .and_then(|x| x.split('<').next())
            .unwrap_or_default()
            .to_owned();
        let code = shomei_ra::otp::totp_code(&secret, ra.now()).unwrap_or_default();
        let bad = cl.post(&code_url, &[("code", "12345x")]).await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
        let r = cl.post(&code_url, &[("code", &code)]).await;
        assert_eq!(location(&r), "/password", "{}", r.body);
        let pw = cl.get("/password").await;
        assert_eq!(pw.status, StatusCode::OK, "a session without a certificate");
        // The enrolment key is not shown again.
        let r = cl
            .post(
                "/otp-login",
                &[("login", &a.login), ("password", &a.initial_password)],
            )
            .await;
        assert!(!cl.get(&location(&r)).await.body.contains("totp-secret"));
    }
}

/// A staff member logged in at the desk (initial password changed).
async fn desk_logged_in(ra: &Ra, login: &str) -> (Created, Client) {
    let s = ra
        .create_staff(login, "審査", "ra@example.jp", "test")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut sc = Client {
        app: desk(ra),
        cert: Some(cert_of(&s)),
        cookie: String::new(),
        csrf: String::new(),
    };
    let r = sc
        .post(
            "/login",
            &[("login", login), ("password", &s.initial_password)],
        )
        .await;
    assert_eq!(location(&r), "/password");
    sc.get("/password").await;
    let csrf = sc.csrf.clone();
    let r = sc
        .post(
            "/password",
            &[
                ("csrf", &csrf),
                ("current", &s.initial_password),
                ("new", "Review-2026-desk-pass"),
                ("confirm", "Review-2026-desk-pass"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    (s, sc)
}
