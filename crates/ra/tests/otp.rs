//! One-time-password login (R-L6) on every backend: the mailed code (6 digits, 10
//! minutes, once, at most 5 tries) and the authenticator app (TOTP, ±1 step, a code
//! accepted once; enrolment shows the secret until the first code).

use shomei_ra::login::LoginRefusal;
use shomei_ra::otp::{OtpRefusal, totp_code};
use shomei_ra::testing::ra;
use shomei_store::testing::backends;
use time::Duration;
use time::macros::datetime;

fn codes(dir: &std::path::Path) -> Vec<String> {
    use base64::Engine;
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        if let Some(rest) = decoded.split("ワンタイムパスワード: ").nth(1) {
            out.push(rest.chars().take(6).collect());
        }
    }
    out
}

#[tokio::test]
async fn r_l6_mailed_code_and_totp() {
    for db in backends().await {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (ra, clock, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let ra = ra.with_mail(shomei_ra::testing::outbox_mail(dir.path()));
        let a = shomei_ra::testing::account(&ra, "OTP株式会社").await;
        let pw = a.initial_password.clone();
        // A certificate account cannot use this entrance.
        assert_eq!(
            ra.otp_login_start(&a.login, &pw).await.ok(),
            Some(Err(LoginRefusal::NoCertificate))
        );
        assert_eq!(
            ra.set_login_method(
                a.id,
                "otp_mail",
                "not-an-address",
                shomei_model::Actor::Staff(1)
            )
            .await
            .ok(),
            Some(Err("err.email"))
        );
        ra.set_login_method(
            a.id,
            "otp_mail",
            "otp@example.jp",
            shomei_model::Actor::Staff(1),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|k| panic!("{k}"));
        // Wrong password: no mail, counted.
        assert_eq!(
            ra.otp_login_start(&a.login, "wrong").await.ok(),
            Some(Err(LoginRefusal::WrongPassword))
        );
        let ch = ra
            .otp_login_start(&a.login, &pw)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|r| panic!("{r:?}"));
        assert_eq!(ch.kind, "mail");
        let code = codes(dir.path()).pop().unwrap_or_default();
        assert_eq!(code.len(), 6, "mailed on {}", db.name);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        assert_eq!(
            ra.otp_login_finish(&ch.token, wrong).await.ok(),
            Some(Err(OtpRefusal::WrongCode))
        );
        let ok = ra
            .otp_login_finish(&ch.token, &code)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(ok.is_ok_and(|l| l.id == a.id && l.must_change_password));
        assert_eq!(
            ra.otp_login_finish(&ch.token, &code).await.ok(),
            Some(Err(OtpRefusal::Expired)),
            "single use"
        );
        // Expiry: 10 minutes.
        let ch = ra
            .otp_login_start(&a.login, &pw)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("start"));
        let code = codes(dir.path()).into_iter().last().unwrap_or_default();
        clock.advance(Duration::seconds(601));
        assert_eq!(
            ra.otp_login_finish(&ch.token, &code).await.ok(),
            Some(Err(OtpRefusal::Expired))
        );
        // At most 5 tries (and five wrong codes also lock the account, R-L4).
        let ch = ra
            .otp_login_start(&a.login, &pw)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("start"));
        for i in 1..=5 {
            let r = ra.otp_login_finish(&ch.token, "abcdef").await.ok();
            let want = if i < 5 {
                OtpRefusal::WrongCode
            } else {
                OtpRefusal::TooManyTries
            };
            assert_eq!(r, Some(Err(want)), "try {i}");
        }
        assert_eq!(
            ra.otp_login_start(&a.login, &pw).await.ok(),
            Some(Err(LoginRefusal::Locked))
        );
        ra.reset_initial_password(
            shomei_store::Realm::Customer,
            a.id,
            shomei_model::Actor::Staff(1),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));

        // TOTP: enrolment shows the secret until the first right code.
        ra.set_login_method(a.id, "otp_totp", "", shomei_model::Actor::Staff(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|k| panic!("{k}"));
        let (pw, _) = ra
            .reset_initial_password(
                shomei_store::Realm::Customer,
                a.id,
                shomei_model::Actor::Staff(1),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let ch = ra
            .otp_login_start(&a.login, &pw)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("start"));
        assert_eq!(ch.kind, "totp");
        let enrol = ra
            .otp_enrolment(&ch.token)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("enrolment on {}", db.name));
        assert!(
            enrol.url.starts_with("otpauth://totp/Shomei:") && enrol.url.contains(&enrol.secret)
        );
        let now = ra.now();
        let c0 = totp_code(&enrol.secret, now).unwrap_or_default();
        assert!(
            ra.otp_login_finish(&ch.token, &c0)
                .await
                .is_ok_and(|r| r.is_ok())
        );
        // Replay of the same code in a new challenge: refused.
        let ch2 = ra
            .otp_login_start(&a.login, &pw)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("start"));
        assert!(
            ra.otp_enrolment(&ch2.token).await.ok().flatten().is_none(),
            "shown once"
        );
        assert_eq!(
            ra.otp_login_finish(&ch2.token, &c0).await.ok(),
            Some(Err(OtpRefusal::Replayed))
        );
        // The previous step's code (−1, allowed skew) is older than the accepted one.
        let prev = totp_code(&enrol.secret, now - 30).unwrap_or_default();
        let r = ra.otp_login_finish(&ch2.token, &prev).await.ok();
        assert!(matches!(
            r,
            Some(Err(OtpRefusal::Replayed | OtpRefusal::WrongCode))
        ));
        // Next step: accepted; two steps ahead: not.
        clock.advance(Duration::seconds(30));
        let ch3 = ra
            .otp_login_start(&a.login, &pw)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("start"));
        let far = totp_code(&enrol.secret, ra.now() + 90).unwrap_or_default();
        assert_eq!(
            ra.otp_login_finish(&ch3.token, &far).await.ok(),
            Some(Err(OtpRefusal::WrongCode))
        );
        let next = totp_code(&enrol.secret, ra.now()).unwrap_or_default();
        assert!(
            ra.otp_login_finish(&ch3.token, &next)
                .await
                .is_ok_and(|r| r.is_ok()),
            "{}",
            db.name
        );
    }
}

/// A one-time-password challenge after the access key and password.
async fn start(ra: &shomei_ra::Ra, login: &str, pw: &str) -> shomei_ra::otp::OtpChallenge {
    ra.otp_login_start(login, pw)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("otp start for {login}"))
}

/// Issue #7 item 13: TOTP secrets are stored encrypted (AES-256-GCM with a key kept
/// outside the database), bound to their account; a secret from before encryption is
/// sealed at start-up; rotation re-seals every secret under the new key.
#[tokio::test]
async fn r_l6_issue7_item13_totp_secrets_are_encrypted_at_rest() {
    use shomei_ra::secrets::SecretKeys;
    use std::sync::Arc;
    for db in backends().await {
        let (mut ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        ra.policy.secrets = Arc::new(SecretKeys::from_raw(&[[7u8; 32]]).unwrap_or_default());
        let a = shomei_ra::testing::account(&ra, "暗号株式会社").await;
        assert!(
            ra.set_login_method(a.id, "otp_totp", "", shomei_model::Actor::Staff(1))
                .await
                .is_ok_and(|r| r.is_ok())
        );
        let stored = db
            .store
            .otp_settings(a.id)
            .await
            .ok()
            .flatten()
            .and_then(|s| s.totp_secret)
            .unwrap_or_default();
        assert!(stored.starts_with("v1:"), "{}: {stored}", db.name);
        let ch = start(&ra, &a.login, &a.initial_password).await;
        let enrol = ra.otp_enrolment(&ch.token).await.ok().flatten();
        let secret = enrol.map(|e| e.secret).unwrap_or_default();
        assert_eq!(secret.len(), 32, "base32 of 160 bits");
        assert!(!stored.contains(&secret));
        // Another account's row cannot take this ciphertext.
        let b = shomei_ra::testing::account(&ra, "別株式会社").await;
        assert!(
            ra.set_login_method(b.id, "otp_totp", "", shomei_model::Actor::Staff(1))
                .await
                .is_ok_and(|r| r.is_ok())
        );
        let b_stored = db
            .store
            .otp_settings(b.id)
            .await
            .ok()
            .flatten()
            .and_then(|s| s.totp_secret);
        let b_stored = b_stored.unwrap_or_default();
        assert!(
            db.store
                .replace_totp_secret(b.id, &b_stored, &stored)
                .await
                .unwrap_or(false)
        );
        let chb = start(&ra, &b.login, &b.initial_password).await;
        assert!(
            ra.otp_enrolment(&chb.token).await.is_err(),
            "bound to account a"
        );
        // A clear-text secret from before encryption is sealed at start-up.
        assert!(
            db.store
                .replace_totp_secret(b.id, &stored, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
                .await
                .unwrap_or(false)
        );
        assert_eq!(ra.seal_totp_secrets().await.ok(), Some(1));
        let sealed_b = db
            .store
            .otp_settings(b.id)
            .await
            .ok()
            .flatten()
            .and_then(|s| s.totp_secret);
        assert!(sealed_b.as_deref().is_some_and(|s| s.starts_with("v1:")));
        // Rotation: new key first, old key second; everything re-sealed; the new key
        // alone then reads every secret.
        let new_line = SecretKeys::new_key_line().unwrap_or_default();
        let rotated = SecretKeys::parse(&format!("{new_line}\n{}\n", hex::encode([7u8; 32])))
            .unwrap_or_else(|e| panic!("{e}"));
        ra.policy.secrets = Arc::new(rotated);
        assert_eq!(ra.seal_totp_secrets().await.ok(), Some(2));
        ra.policy.secrets =
            Arc::new(SecretKeys::parse(&new_line).unwrap_or_else(|e| panic!("{e}")));
        let ch = start(&ra, &a.login, &a.initial_password).await;
        let again = ra
            .otp_enrolment(&ch.token)
            .await
            .ok()
            .flatten()
            .map(|e| e.secret);
        assert_eq!(again.as_deref(), Some(secret.as_str()));
    }
}
