//! Issue #12, several instances on one database: two RAs, each with its own connection
//! pool (as two `shomei serve` processes have), share sessions — a customer logged in
//! on one is logged in on the other, and logging out on one ends it on both — and the
//! same application approved on both at once is issued once.

use shomei_ra::sessions::SessionLimits;
use shomei_ra::testing::{approval_for, instance, ra, sr30_form, submit_as};
use shomei_store::Realm;
use shomei_store::testing::backends;
use time::macros::datetime;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

#[tokio::test]
async fn issue12_two_instances_share_sessions_and_issue_one_application_once() {
    for db in backends().await {
        let n = db.name;
        let (one, clock, pki) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let second_pool = shomei_store::Store::connect(&db.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let two = instance(second_pool, &clock, &pki);
        let staff = one
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let a = one
            .create_account(
                &shomei_ra::accounts::AccountInput {
                    org: "テスト株式会社".into(),
                    email: "ops@example.jp".into(),
                    dealer_code: None,
                },
                shomei_model::Actor::Cli,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        // A session opened on one instance is resumed on the other; a logout on the
        // other ends it everywhere.
        let limits = SessionLimits {
            idle: 1800,
            absolute: 28_800,
        };
        let s = one
            .open_session(
                Realm::Customer,
                a.id,
                "t0ken-hash".into(),
                "fp".into(),
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let resumed = two
            .resume_session("t0ken-hash", Realm::Customer, Some("fp"), limits)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resumed.map(|r| r.principal_id), Some(a.id), "{n}");
        two.logout(&s).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            one.resume_session("t0ken-hash", Realm::Customer, Some("fp"), limits)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none(),
            "{n}: the session outlived its logout on another instance"
        );

        // Staff on both instances approve the same application at the same moment.
        let id = submit_as(&one, a.id, shomei_model::AppKind::New, &sr30_form(CSR))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let app = one
            .store()
            .application(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("{n}"));
        let approval = approval_for(&app);
        let (r1, r2) = tokio::join!(
            one.approve(staff.id, id, &approval),
            two.approve(staff.id, id, &approval)
        );
        assert_eq!(
            usize::from(r1.is_ok()) + usize::from(r2.is_ok()),
            1,
            "{n}: exactly one approval issues: {r1:?} / {r2:?}"
        );
        let issued: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM certificates WHERE application_id = $1 AND der IS NOT NULL",
        )
        .bind(id)
        .fetch_one(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(issued, 1, "{n}: one certificate signed and stored");
        let serials: Vec<String> =
            sqlx::query_scalar("SELECT serial FROM certificates WHERE application_id = $1")
                .bind(id)
                .fetch_all(db.store.pool())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        let mut distinct = serials.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), serials.len(), "{n}: a serial used twice");
        let events: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'certificate.issued' AND subject = $1",
        )
        .bind(format!("application:{id}"))
        .fetch_one(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(events, 1, "{n}");
    }
}
