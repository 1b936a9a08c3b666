//! The RA's rules on every backend: login factors (R-L1, R-L2, R-L3), forced password
//! change (R-P1), submission (R-A4), approval and issuance with the SC-081 caps.

use shomei_ca::client::presented;
use shomei_model::AppStatus;
use shomei_ra::accounts::AccountInput;
use shomei_ra::issue::Approval;
use shomei_ra::login::LoginRefusal;
use shomei_ra::testing::{ra, sr30_form};
use shomei_store::Realm;
use shomei_store::testing::backends;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

fn cert_of(pem: &str) -> shomei_ca::client::PresentedCert {
    let der = shomei_ca::pki::pem_to_der(pem, "CERTIFICATE").unwrap_or_default();
    presented(&der).unwrap_or_else(|e| panic!("{e}"))
}

fn input(org: &str) -> AccountInput {
    AccountInput {
        org: org.into(),
        email: "ops@example.jp".into(),
        dealer_code: None,
    }
}

/// R-L1, R-L2, R-L3: each missing or wrong factor is refused; the right three log in
/// and must change the initial password first.
#[tokio::test]
async fn r_l1_r_l2_login_factors() {
    for db in backends().await {
        let (ra, clock, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = ra
            .create_account(&input("テスト株式会社"), shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let b = ra
            .create_account(&input("別会社"), shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (ca, cb) = (cert_of(&a.cert_pem), cert_of(&b.cert_pem));
        let login = |c: Option<&shomei_ca::client::PresentedCert>, k: &str, p: &str| {
            let (ra, c, k, p) = (ra.clone(), c.cloned(), k.to_owned(), p.to_owned());
            async move {
                ra.login(Realm::Customer, c.as_ref(), &k, &p)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };
        assert_eq!(
            login(None, &a.login, &a.initial_password).await,
            Err(LoginRefusal::NoCertificate),
            "R-L1 on {}",
            db.name
        );
        assert_eq!(
            login(Some(&cb), &a.login, &a.initial_password).await,
            Err(LoginRefusal::CertificateNotBound),
            "R-L2 on {}",
            db.name
        );
        assert_eq!(
            login(Some(&ca), &a.login, "wrong password!").await,
            Err(LoginRefusal::WrongPassword)
        );
        assert_eq!(
            login(Some(&ca), "ZZZZZZZZ", &a.initial_password).await,
            Err(LoginRefusal::UnknownLogin)
        );
        assert_eq!(
            login(Some(&ca), "", "").await,
            Err(LoginRefusal::UnknownLogin)
        );
        let ok = login(Some(&ca), &a.login, &a.initial_password)
            .await
            .unwrap_or_else(|r| panic!("{r:?}"));
        assert!(
            ok.must_change_password,
            "R-L3: initial password must be changed"
        );
        // R-L3: the initial password expires after 30 days.
        clock.advance(Duration::days(31));
        assert_eq!(
            login(Some(&cb), &b.login, &b.initial_password).await,
            Err(LoginRefusal::InitialPasswordExpired)
        );
        // Every attempt is in the audit log.
        let events = db
            .store
            .audit_events_for(&format!("customer:{}", a.id))
            .await
            .unwrap_or_default();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.action == "login.failure")
                .count(),
            3
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| e.action == "login.success")
                .count(),
            1
        );
    }
}

/// R-P1: the new password twice, the policy, then the login no longer asks for a change.
#[tokio::test]
async fn r_p1_forced_password_change() {
    for db in backends().await {
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = ra
            .create_account(&input("テスト株式会社"), shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let c = cert_of(&a.cert_pem);
        let change = |cur: &str, new: &str, conf: &str| {
            let (ra, cur, new, conf, id) = (
                ra.clone(),
                cur.to_owned(),
                new.to_owned(),
                conf.to_owned(),
                a.id,
            );
            async move {
                ra.change_password(Realm::Customer, id, &cur, &new, &conf)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };
        assert_eq!(
            change("wrong", "Sakura-2026-blossom", "Sakura-2026-blossom").await,
            Err("err.pw_current")
        );
        assert_eq!(
            change(
                &a.initial_password,
                "Sakura-2026-blossom",
                "Sakura-2026-blossoM"
            )
            .await,
            Err("err.pw_mismatch")
        );
        assert_eq!(
            change(&a.initial_password, "short", "short").await,
            Err("err.pw_short")
        );
        let with_key = format!("x{}-abcdef", a.login);
        assert_eq!(
            change(&a.initial_password, &with_key, &with_key).await,
            Err("err.pw_login")
        );
        assert_eq!(
            change(
                &a.initial_password,
                &a.initial_password,
                &a.initial_password
            )
            .await,
            Err("err.pw_same")
        );
        assert_eq!(
            change(
                &a.initial_password,
                "Sakura-2026-blossom",
                "Sakura-2026-blossom"
            )
            .await,
            Ok(())
        );
        let ok = ra
            .login(Realm::Customer, Some(&c), &a.login, "Sakura-2026-blossom")
            .await
            .ok()
            .and_then(Result::ok);
        assert_eq!(
            ok.map(|l| l.must_change_password),
            Some(false),
            "{}",
            db.name
        );
        assert!(
            ra.login(Realm::Customer, Some(&c), &a.login, &a.initial_password)
                .await
                .is_ok_and(|r| r.is_err())
        );
    }
}

/// An account, a staff member and a submitted SR3.0 application: (account, staff, application).
async fn submitted(ra: &shomei_ra::Ra) -> (i64, i64, i64) {
    let a = ra
        .create_account(&input("テスト株式会社"), shomei_model::Actor::Cli)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let staff = ra
        .create_staff(
            "reviewer",
            "審査 太郎",
            "ra@example.jp",
            shomei_model::Actor::Cli,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = shomei_ra::testing::submit_as(ra, a.id, shomei_model::AppKind::New, &sr30_form(CSR))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|i| panic!("{i:?}"));
    (a.id, staff.id, id)
}

async fn issue_at(
    db: &shomei_store::testing::TestDb,
    at: OffsetDateTime,
) -> (
    x509_parser::prelude::X509Certificate<'static>,
    shomei_ra::Ra,
    i64,
) {
    let (ra, _, _) = ra(db.store.clone(), at);
    let (_, staff_id, id) = submitted(&ra).await;
    let approval = Approval {
        org_method: "registry".into(),
        ev_method: None,
        domain_methods: vec![
            ("www.example.jp".into(), "phone".into()),
            ("example.jp".into(), "email-constructed".into()),
        ],
        domain_notes: vec![
            ("www.example.jp".into(), "登録担当者に電話で確認".into()),
            ("example.jp".into(), "admin@example.jp で確認".into()),
        ],
    };
    let issued = ra
        .approve(staff_id, id, &approval)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(shomei_model::ContractCode::parse(&issued.contract_code).is_some());
    let rec = db
        .store
        .issued_certificate(id)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no certificate"));
    let der: &'static [u8] = Box::leak(rec.der.unwrap_or_default().into_boxed_slice());
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        db.store
            .application(id)
            .await
            .ok()
            .flatten()
            .map(|a| a.status),
        Some(AppStatus::Completed)
    );
    (cert, ra, id)
}

fn days(c: &x509_parser::prelude::X509Certificate<'_>) -> i64 {
    let secs = (c.validity().not_after.to_datetime() - c.validity().not_before.to_datetime())
        .whole_seconds()
        + 1;
    assert_eq!(secs % 86_400, 0, "whole days");
    secs / 86_400
}

/// Issue #2 item 7: validity caps across 2026-03-15, 2027-03-15, 2029-03-15, and the
/// contract's end (a 1年 contract issued before SC-081 gets 365 days, not 397).
#[tokio::test]
async fn validity_caps_across_sc081_dates() {
    for db in backends().await {
        for (at, want) in [
            (datetime!(2026-03-14 12:00:00 UTC), 365),
            (datetime!(2026-03-15 00:00:00 UTC), 199),
            (datetime!(2027-03-14 23:00:00 UTC), 199),
            (datetime!(2027-03-15 00:00:00 UTC), 99),
            (datetime!(2029-03-15 00:00:00 UTC), 46),
        ] {
            let db2 = match db.name {
                "sqlite" => shomei_store::testing::sqlite().await,
                _ => shomei_store::testing::postgres()
                    .await
                    .unwrap_or_else(|| panic!("pg")),
            };
            let (cert, _, _) = issue_at(&db2, at).await;
            assert_eq!(days(&cert), want, "issued at {at} on {}", db.name);
            assert_eq!(cert.validity().not_before.to_datetime(), at);
        }
    }
}

/// The issuance path: serial stored before signing, audit trail, issuance notice queued.
#[tokio::test]
async fn issuance_records_everything() {
    for db in backends().await {
        let (cert, ra, id) = issue_at(&db, datetime!(2026-11-24 10:00:00 UTC)).await;
        let serial = hex::encode(cert.tbs_certificate.raw_serial());
        let rows = ra.store().certificate_rows(id).await.unwrap_or_default();
        assert_eq!(
            rows,
            vec![(rows[0].0, serial.clone(), "issued".to_string())],
            "{}",
            db.name
        );
        let actions: Vec<String> = ra
            .store()
            .audit_events_for(&format!("application:{id}"))
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            [
                "application.submitted",
                "application.approved",
                "serial.reserved",
                "certificate.issued"
            ]
        );
        assert_eq!(
            ra.store()
                .pending_jobs("mail.issued")
                .await
                .map(|j| j.len())
                .ok(),
            Some(1)
        );
        assert_eq!(
            ra.store().validations_of(id).await.map(|v| v.len()).ok(),
            Some(3),
            "org + 2 domains"
        );
        assert_eq!(
            ra.store()
                .verify_audit_chain()
                .await
                .ok()
                .map(|r| r.is_ok()),
            Some(true)
        );
        // Approving twice is refused; nothing is issued twice.
        let again = ra.approve(1, id, &Approval::default()).await;
        assert!(again.is_err());
    }
}

#[tokio::test]
async fn approval_requires_a_method_for_every_domain() {
    for db in backends().await {
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let (_, staff_id, id) = submitted(&ra).await;
        let partial = Approval {
            org_method: "registry".into(),
            ev_method: None,
            domain_methods: vec![("www.example.jp".into(), "phone".into())],
            domain_notes: vec![("www.example.jp".into(), "電話で確認".into())],
        };
        assert!(matches!(
            ra.approve(staff_id, id, &partial).await,
            Err(shomei_ra::RaError::Invalid("err.domain_method"))
        ));
        // Issue #10: a method the validation engine performs needs its passed check;
        // any other needs a record of what staff did.
        let both = |m: &str, note: &str| Approval {
            org_method: "registry".into(),
            ev_method: None,
            domain_methods: vec![
                ("www.example.jp".into(), m.into()),
                ("example.jp".into(), m.into()),
            ],
            domain_notes: vec![
                ("www.example.jp".into(), note.into()),
                ("example.jp".into(), note.into()),
            ],
        };
        assert!(matches!(
            ra.approve(staff_id, id, &both("dns-change", "")).await,
            Err(shomei_ra::RaError::Invalid("err.domain_unchecked"))
        ));
        assert!(matches!(
            ra.approve(staff_id, id, &both("http-file", "見た")).await,
            Err(shomei_ra::RaError::Invalid("err.domain_unchecked"))
        ));
        assert!(matches!(
            ra.approve(staff_id, id, &both("phone", "  ")).await,
            Err(shomei_ra::RaError::Invalid("err.domain_note"))
        ));
        assert_eq!(
            db.store
                .application(id)
                .await
                .ok()
                .flatten()
                .map(|a| a.status),
            Some(AppStatus::Received)
        );
    }
}

/// A process killed after approval (validations stored, status 審査中) and after the
/// serial and linted TBS were stored, but before the commit: on restart the half-done
/// rows are kept as abandoned records and issuance completes with a fresh serial.
#[tokio::test]
async fn interrupted_issuance_resumes_on_restart() {
    for db in backends().await {
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let (_, staff_id, id) = submitted(&ra).await;
        // What approve() does before the crash: validations, then serial and TBS stored.
        let v = [shomei_store::Validation {
            kind: "domain".into(),
            subject: "www.example.jp".into(),
            method: "dns-change".into(),
            validated_at: 1,
        }];
        assert_eq!(
            db.store.approve_application(id, staff_id, &v, 1).await.ok(),
            Some(true)
        );
        db.store
            .write_issuances(
                &[shomei_store::certificates::LintedCert {
                    issuer: "server".into(),
                    serial: "5a99".into(),
                    application_id: id,
                    not_before: 1,
                    not_after: 2,
                    spki_sha256: "x".into(),
                    crl_shard: 0,
                    tbs: b"tbs".to_vec(),
                    actor: shomei_model::Actor::Staff(1),
                    at: 1,
                }],
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Restart.
        let (ra2, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:05:00 UTC));
        let resumed = ra2
            .resume_interrupted_issuance()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resumed.len(), 1, "{}", db.name);
        assert!(resumed[0].1.is_ok(), "{:?}", resumed[0].1);
        assert_eq!(
            db.store
                .application(id)
                .await
                .ok()
                .flatten()
                .map(|a| a.status),
            Some(AppStatus::Completed)
        );
        let rows = db.store.certificate_rows(id).await.unwrap_or_default();
        assert_eq!(
            rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(),
            ["abandoned", "issued"]
        );
        assert_eq!(rows[0].1, "5a99", "the interrupted serial stays on record");
        assert!(
            ra2.resume_interrupted_issuance()
                .await
                .is_ok_and(|r| r.is_empty()),
            "nothing left to resume"
        );
    }
}

mod failures;
