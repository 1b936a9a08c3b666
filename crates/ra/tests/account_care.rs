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
            .reset_initial_password(Realm::Customer, a.id, shomei_model::Actor::Staff(1))
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
        ra.set_account_disabled(a.id, true, shomei_model::Actor::Staff(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            db.store.session("t1").await.ok().flatten().is_none(),
            "sessions end on {}",
            db.name
        );
        assert_eq!(login(pw.clone()).await, Err(LoginRefusal::Disabled));
        ra.set_account_disabled(a.id, false, shomei_model::Actor::Staff(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(login(pw).await.is_ok());
        assert!(
            ra.set_account_disabled(999_999, true, shomei_model::Actor::Staff(1))
                .await
                .is_err()
        );
    }
}

/// Issue #7 item 8: nobody can lock someone else's account. Attempts with another
/// customer's certificate, or at the one-time-password entrance for an account that logs
/// in with a certificate, are refused without counting; "locked" is said only to the
/// account's own certificate. At the OTP entrance an OTP account's failures count.
#[tokio::test]
async fn r_l4_issue7_item8_only_the_owner_can_lock_an_account() {
    for db in backends().await {
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let victim = shomei_ra::testing::account(&ra, "被害株式会社").await;
        let attacker = shomei_ra::testing::account(&ra, "攻撃株式会社").await;
        let cert_of = |pem: &str| {
            let der = shomei_ca::pki::pem_to_der(pem, "CERTIFICATE").unwrap_or_default();
            presented(&der).unwrap_or_else(|e| panic!("{e}"))
        };
        let (vcert, acert) = (cert_of(&victim.cert_pem), cert_of(&attacker.cert_pem));
        for _ in 0..8 {
            // Another customer's certificate with the victim's access key.
            let r = ra
                .login(
                    Realm::Customer,
                    Some(&acert),
                    &victim.login,
                    "wrong-password",
                )
                .await
                .ok();
            assert_eq!(r, Some(Err(LoginRefusal::CertificateNotBound)));
            // The OTP entrance (no certificate) for a certificate account.
            let r = ra
                .otp_password_step(&victim.login, "wrong-password")
                .await
                .ok();
            assert_eq!(r, Some(Err(LoginRefusal::NoCertificate)));
        }
        let creds = db
            .store
            .credentials(Realm::Customer, victim.id)
            .await
            .ok()
            .flatten();
        assert_eq!(
            creds.map(|c| (c.locked, c.failed_logins)),
            Some((false, 0)),
            "{}: nothing counted",
            db.name
        );
        assert!(
            ra.login(
                Realm::Customer,
                Some(&vcert),
                &victim.login,
                &victim.initial_password
            )
            .await
            .is_ok_and(|r| r.is_ok()),
            "the victim still logs in"
        );
        // The owner's own failures lock it; "locked" only to the owner's certificate.
        for _ in 0..5 {
            let _ = ra
                .login(
                    Realm::Customer,
                    Some(&vcert),
                    &victim.login,
                    "wrong-password",
                )
                .await;
        }
        let r = ra
            .login(
                Realm::Customer,
                Some(&vcert),
                &victim.login,
                &victim.initial_password,
            )
            .await
            .ok();
        assert_eq!(r, Some(Err(LoginRefusal::Locked)));
        let r = ra
            .login(
                Realm::Customer,
                Some(&acert),
                &victim.login,
                &victim.initial_password,
            )
            .await
            .ok();
        assert_eq!(
            r,
            Some(Err(LoginRefusal::CertificateNotBound)),
            "no 'locked' to others"
        );
        let r = ra
            .otp_password_step(&victim.login, &victim.initial_password)
            .await
            .ok();
        assert_eq!(r, Some(Err(LoginRefusal::NoCertificate)));

        // An OTP account: its failures at the OTP entrance count and lock it.
        let otp = shomei_ra::testing::account(&ra, "ワンタイム株式会社").await;
        assert!(
            ra.set_login_method(
                otp.id,
                "otp_mail",
                "otp@example.jp",
                shomei_model::Actor::Staff(1)
            )
            .await
            .is_ok_and(|r| r.is_ok())
        );
        for _ in 0..5 {
            let r = ra
                .otp_password_step(&otp.login, "wrong-password")
                .await
                .ok();
            assert_eq!(r, Some(Err(LoginRefusal::WrongPassword)));
        }
        let creds = db
            .store
            .credentials(Realm::Customer, otp.id)
            .await
            .ok()
            .flatten();
        assert_eq!(creds.map(|c| c.locked), Some(true));
        // Told "locked" with the right password; a wrong one hears the usual.
        let r = ra
            .otp_password_step(&otp.login, &otp.initial_password)
            .await
            .ok();
        assert_eq!(r, Some(Err(LoginRefusal::Locked)));
        let r = ra
            .otp_password_step(&otp.login, "wrong-password")
            .await
            .ok();
        assert_eq!(r, Some(Err(LoginRefusal::WrongPassword)));
    }
}
