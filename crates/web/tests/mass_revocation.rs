//! Issue #11 item 3 at the desk (一括失効), on every backend: the form with its labels,
//! bad input refused on the page (422) with nothing stored, a list of serials checked
//! (what it would revoke, the unknown ones named), confirmed twice but started once,
//! the progress and outcome shown; 200,001 serials refused in a sentence.

use crate::common::*;
use axum::http::StatusCode;
use shomei_store::testing::{backends, bulk_issued};
use time::macros::datetime;

#[tokio::test]
async fn issue11_desk_mass_revocation() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-30 10:00:00 UTC));
        let (staff, mut sc) = desk_logged_in(&ra, "mass").await;
        let (_, app) = shomei_ra::testing::issued(&ra, staff.id, CSR).await;
        let live = bulk_issued(&db.store, app, 2_500, 16, "aa", ra.now() + 86_400 * 30)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let r = sc.get("/revocations/mass").await;
        assert_eq!(r.status, StatusCode::OK);
        for label in [
            "<label for=\"serials\">",
            "<label for=\"key\">",
            "<label for=\"reason\">",
            "<label for=\"note\">",
            "一括失効",
        ] {
            assert!(r.body.contains(label), "{label}");
        }
        let csrf = sc.csrf.clone();
        // Bad input: the page again with the error, nothing stored.
        let r = sc
            .post(
                "/revocations/mass",
                &[
                    ("csrf", &csrf),
                    ("mode", "serials"),
                    ("serials", "7e01\nnot-a-serial"),
                    ("reason", "4"),
                    ("note", "x"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body
                .contains("シリアル番号として読めないものがあります: not-a-serial"),
            "{}",
            r.body
        );
        assert!(r.body.contains("not-a-serial"), "what was typed is kept");
        let too_many: Vec<String> = (0..200_001).map(|k| format!("7e{k:030x}")).collect();
        let r = sc
            .post(
                "/revocations/mass",
                &[
                    ("csrf", &csrf),
                    ("mode", "serials"),
                    ("serials", &too_many.join("\n")),
                    ("reason", "4"),
                    ("note", "x"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body.contains("一度に失効できるのは200000件までです"),
            "too many"
        );
        assert!(
            ra.recent_mass_revocations(5)
                .await
                .unwrap_or_default()
                .is_empty()
        );

        // The list, with one serial this CA never issued.
        let mut list = live.join("\n");
        list.push_str("\n7d00000000000000000000000000000bad");
        let r = sc
            .post(
                "/revocations/mass",
                &[
                    ("csrf", &csrf),
                    ("mode", "serials"),
                    ("serials", &list),
                    ("reason", "9"),
                    ("note", "誤発行 #42"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = location(&r);
        let r = sc.get(&page).await;
        assert!(
            r.body.contains("<dd id=\"preview-live\">2500</dd>"),
            "{}",
            r.body
        );
        assert!(r.body.contains("<dd id=\"preview-unknown\">1</dd>"));
        assert!(r.body.contains("7d00000000000000000000000000000bad"));
        assert!(r.body.contains("認証局による権限の取り消し"));
        // Confirmed twice (double submit, back and submit again): it runs once.
        let start = format!("{page}/start");
        for _ in 0..2 {
            let r = sc.post(&start, &[("csrf", &csrf)]).await;
            assert_eq!(location(&r), page);
        }
        let r = sc.get(&page).await;
        assert!(r.body.contains("失効処理中"), "{}", r.body);
        assert_eq!(ra.run_mass_revocations().await.unwrap_or_default(), 2_500);
        let r = sc.get(&page).await;
        assert!(
            r.body.contains("<dd id=\"mass-status\">完了</dd>"),
            "{}",
            r.body
        );
        assert!(r.body.contains("<dd id=\"mass-revoked\">2500</dd>"));
        // A cancel after the start changes nothing; a page that does not exist is 404.
        let r = sc.post(&format!("{page}/cancel"), &[("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(sc.get(&page).await.body.contains("完了"));
        assert_eq!(
            sc.get("/revocations/mass/999999").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            sc.get("/revocations/mass/abc").await.status,
            StatusCode::NOT_FOUND
        );
        // Without the CSRF token nothing starts.
        let r = sc
            .post(
                "/revocations/mass",
                &[
                    ("mode", "serials"),
                    ("serials", "7e01"),
                    ("reason", "4"),
                    ("note", "x"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
}
