//! Account care (issue #4; R-L4) on every backend: five failures in a row lock the
//! account, even the right factors are then refused; staff unlock it by setting a new
//! initial password (valid 30 days, to be changed first); staff disable an account and
//! its sessions end at once.

use shomei_ca::client::presented;
use shomei_ra::login::LoginRefusal;
use shomei_ra::testing::ra;
use shomei_store::Realm;
use shomei_store::sessions::Session;
use shomei_store::testing::backends;
use time::macros::datetime;

#[tokio::test]
async fn r_l4_lock_after_five_unlock_and_disable() {
    for db in backends().await {
        let (ra, clock, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = shomei_ra::testing::account(&ra, "テスト株式会社").await;
        let der = shomei_ca::pki::pem_to_der(&a.cert_pem, "CERTIFICATE").unwrap_or_default();
        let cert = presented(&der).unwrap_or_else(|e| panic!("{e}"));
        let login = |pw: String| {
            let (ra, cert, key) = (ra.clone(), cert.clone(), a.login.clone());
            async move {
                ra.login(Realm::Customer, Some(&cert), &key, &pw)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };
        for i in 1..=4 {
            assert_eq!(
                login("wrong-password".into()).await,
                Err(LoginRefusal::WrongPassword),
                "failure {i}"
            );
        }
        // A success in between resets the count (failures must be in a row).
        assert!(login(a.initial_password.clone()).await.is_ok());
        for _ in 1..=5 {
            let _ = login("wrong-password".into()).await;
        }
        assert_eq!(
            login(a.initial_password.clone()).await,
            Err(LoginRefusal::Locked),
            "locked after 5 in a row on {}",
            db.name
        );
        let events = db
            .store
            .recent_events_for(&format!("customer:{}", a.id), 50)
            .await
            .unwrap_or_default();
        assert!(events.iter().any(|e| e.action == "account.locked"));

        // Unlock: a new initial password; the old one no longer works.
        let (pw, expires) = ra
            .reset_initial_password(Realm::Customer, a.id, "staff:1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(expires - ra.now(), 30 * 86_400, "valid 30 days");
        assert_eq!(
            login(a.initial_password.clone()).await,
            Err(LoginRefusal::WrongPassword)
        );
        let ok = login(pw.clone()).await.unwrap_or_else(|r| panic!("{r:?}"));
        assert!(ok.must_change_password, "R-L3: changed first");
        clock.set(datetime!(2026-12-25 10:00:00 UTC));
        assert_eq!(
            login(pw.clone()).await,
            Err(LoginRefusal::InitialPasswordExpired)
        );
        clock.set(datetime!(2026-11-24 11:00:00 UTC));

        // Disable: sessions end at once, logins are refused; enable again.
        let session = Session {
            token_hash: "t1".into(),
            realm: Realm::Customer,
            principal_id: a.id,
            cert_fingerprint: cert.fingerprint.clone(),
            csrf_token: "c".into(),
            created_at: ra.now(),
            last_seen_at: ra.now(),
        };
        db.store
            .create_session(&session)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        ra.set_account_disabled(a.id, true, "staff:1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            db.store.session("t1").await.ok().flatten().is_none(),
            "sessions end on {}",
            db.name
        );
        assert_eq!(login(pw.clone()).await, Err(LoginRefusal::Disabled));
        ra.set_account_disabled(a.id, false, "staff:1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(login(pw).await.is_ok());
        assert!(
            ra.set_account_disabled(999_999, true, "staff:1")
                .await
                .is_err()
        );
    }
}
