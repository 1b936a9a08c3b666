//! The portal through its router, in process, on every backend: R-L1, R-L2, R-L3, R-A4,
//! input errors kept on the form, 404 across accounts, CSRF, security headers, sessions.

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use shomei_store::testing::backends;
use shomei_web::tls::ClientCert;
use time::macros::datetime;
use tower::ServiceExt;

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
    // A file that does not parse loads as empty: both must hold their keys.
    assert!(
        ja.len() > 100 && en.len() > 100,
        "a message file does not parse"
    );
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

mod hardening;
