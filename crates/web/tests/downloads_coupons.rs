//! Through the portal's router on every backend: web stickers and the public seal page
//! (R-D1), coupons (R-CP1, R-N2), the list, search and CSV (R-LS1–R-LS6).

use crate::common::*;
use axum::http::{StatusCode, header};
use shomei_ra::accounts::AccountInput;
use shomei_store::Realm;
use shomei_store::testing::backends;
use shomei_web::{AppState, WebConfig};
use std::sync::Arc;
use time::macros::datetime;

/// R-D1 web stickers: SVG and PNG in two sizes on the download page, linking to the
/// public verification page, which shows organisation, domain, validity and the live
/// status (valid → revoked); R-D2: none before 完了, none for another account.
#[tokio::test]
async fn r_d1_stickers_and_public_seal_page() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
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
            root_crl: None,
            throttle: Default::default(),
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

/// R-CP1, R-N2: クーポン管理 lists the dealer's coupons and their state; the input page
/// offers the unused matching ones; the chosen one is shown on the confirmation and
/// used by the application; a used coupon chosen again gets a message on the form.
#[tokio::test]
async fn r_cp1_coupon_list_and_pick() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let a = ra
            .create_account(
                &AccountInput {
                    org: "テスト株式会社".into(),
                    email: "ops@example.jp".into(),
                    dealer_code: Some("D-100".into()),
                },
                shomei_model::Actor::Cli,
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
                    confirm: String::new(),
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
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
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
