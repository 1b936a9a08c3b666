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
            .create_account(&input("テスト株式会社"), "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let b = ra
            .create_account(&input("別会社"), "test")
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
            .create_account(&input("テスト株式会社"), "test")
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
async fn submitted(ra: &shomei_ra::Ra, at: OffsetDateTime) -> (i64, i64, i64) {
    let a = ra
        .create_account(&input("テスト株式会社"), "test")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let staff = ra
        .create_staff("reviewer", "審査 太郎", "ra@example.jp", "test")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let draft = shomei_store::Draft {
        id: format!("d{}", a.id),
        account_id: a.id,
        kind: shomei_model::AppKind::New,
        data: "{}".into(),
        step: "confirm".into(),
        application_id: None,
    };
    ra.store
        .create_draft(&draft, at.unix_timestamp())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = ra
        .submit(a.id, &draft.id, &sr30_form(CSR))
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
    let (_, staff_id, id) = submitted(&ra, at).await;
    let approval = Approval {
        org_method: "registry".into(),
        ev_method: None,
        domain_methods: vec![
            ("www.example.jp".into(), "dns-change".into()),
            ("example.jp".into(), "http-file".into()),
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
        let rows = ra.store.certificate_rows(id).await.unwrap_or_default();
        assert_eq!(
            rows,
            vec![(rows[0].0, serial.clone(), "issued".to_string())],
            "{}",
            db.name
        );
        let actions: Vec<String> = ra
            .store
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
            ra.store
                .pending_jobs("mail.issued")
                .await
                .map(|j| j.len())
                .ok(),
            Some(1)
        );
        assert_eq!(
            ra.store.validations_of(id).await.map(|v| v.len()).ok(),
            Some(3),
            "org + 2 domains"
        );
        assert_eq!(
            ra.store.verify_audit_chain().await.ok().map(|r| r.is_ok()),
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
        let (_, staff_id, id) = submitted(&ra, datetime!(2026-11-24 10:00:00 UTC)).await;
        let partial = Approval {
            org_method: "registry".into(),
            ev_method: None,
            domain_methods: vec![("www.example.jp".into(), "dns-change".into())],
        };
        assert!(matches!(
            ra.approve(staff_id, id, &partial).await,
            Err(shomei_ra::RaError::Invalid("err.domain_method"))
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
        let (_, staff_id, id) = submitted(&ra, datetime!(2026-11-24 10:00:00 UTC)).await;
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
        let cert_id = db
            .store
            .reserve_serial("server", "5a99", id, 1, 2, "x", "staff", 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        db.store
            .store_linted(cert_id, b"tbs")
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

/// Issue #7 item 4: a failure after the serial is reserved (here: the CA's key does not
/// match its certificate, so the signature does not verify) leaves the application back
/// at 受付 with the reason for staff, the reserved serial marked failed (never reused),
/// nothing issued; staff can then reject it. Same for a failure before reservation (the
/// CSR's key put on the weak-key list after approval).
#[tokio::test]
async fn issue7_item4_failed_signing_goes_back_to_the_desk_with_the_reason() {
    for db in backends().await {
        let at = datetime!(2026-11-24 10:00:00 UTC);
        let (good, clock, pki) = ra(db.store.clone(), at);
        let (account_id, staff_id, id) = submitted(&good, at).await;
        // The same store, but an issuing CA whose key is another CA's.
        let wrong = shomei_ca::IssuingCa::from_pem(
            &pki.server_ca.cert_pem,
            &pki.staff_ca.key_pem,
            shomei_ca::CaUrls::under("http://pki.example.jp", shomei_ra::SERVER_CA),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let login = shomei_ca::pki::ClientCa::from_pem(
            &pki.login_ca.cert_pem,
            &pki.login_ca.key_pem,
            &pki.root.cert_pem,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let staff_ca = shomei_ca::pki::ClientCa::from_pem(
            &pki.staff_ca.cert_pem,
            &pki.staff_ca.key_pem,
            &pki.root.cert_pem,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let broken = shomei_ra::Ra::new(
            db.store.clone(),
            std::sync::Arc::new(clock.clone()),
            wrong,
            login,
            staff_ca,
            shomei_ra::Policy::default(),
        );
        let app = db.store.application(id).await.ok().flatten();
        let approval = shomei_ra::testing::approval_for(&app.unwrap_or_else(|| panic!("app")));
        let r = broken.approve(staff_id, id, &approval).await;
        assert!(
            matches!(
                r,
                Err(shomei_ra::RaError::Ca(shomei_ca::CaError::SignatureCheck))
            ),
            "{}: {r:?}",
            db.name
        );
        let app = db.store.application(id).await.ok().flatten();
        let app = app.unwrap_or_else(|| panic!("app"));
        assert_eq!(app.status, AppStatus::Received, "{}", db.name);
        assert!(
            app.issuance_error
                .as_deref()
                .is_some_and(|e| e.contains("signature does not verify")),
            "{:?}",
            app.issuance_error
        );
        let rows = db.store.certificate_rows(id).await.unwrap_or_default();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].2, "failed", "the reserved serial is kept as failed");
        assert!(
            db.store
                .issued_certificate(id)
                .await
                .ok()
                .flatten()
                .is_none()
        );
        let actions: Vec<String> = db
            .store
            .audit_events_for(&format!("application:{id}"))
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert!(
            actions.contains(&"issuance.failed".to_string()),
            "{actions:?}"
        );
        // Not picked up as an interrupted issuance; staff approve again with the right
        // key: a new serial, the error cleared.
        assert_eq!(db.store.interrupted_issuances().await.ok(), Some(vec![]));
        let issued = good
            .approve(staff_id, id, &approval)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(Some(&issued.serial), rows.first().map(|r| &r.1));
        let app = db.store.application(id).await.ok().flatten();
        assert_eq!(app.as_ref().map(|a| a.status), Some(AppStatus::Completed));
        assert_eq!(app.and_then(|a| a.issuance_error), None);

        // Before reservation: the key goes on the weak-key list after approval began.
        let staff2 = staff_id;
        let draft = shomei_store::Draft {
            id: "second".into(),
            account_id,
            kind: shomei_model::AppKind::New,
            data: "{}".into(),
            step: "confirm".into(),
            application_id: None,
        };
        assert!(
            db.store
                .create_draft(&draft, at.unix_timestamp())
                .await
                .is_ok()
        );
        let id2 = good
            .submit(account_id, "second", &sr30_form(CSR))
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_else(|| panic!("second submission"));
        let mut listed = good.clone();
        let mut list = shomei_ca::WeakKeyList::default();
        let fp = shomei_ca::keys::debian_fingerprint_of_csr(CSR.as_bytes());
        assert!(list.add_lines(&fp.unwrap_or_default()).is_ok());
        assert_eq!(list.len(), 1, "the test CSR is RSA");
        listed.policy.keys = std::sync::Arc::new(shomei_ca::KeyPolicy { weak_keys: list });
        {
            let app2 = db.store.application(id2).await.ok().flatten();
            let approval2 =
                shomei_ra::testing::approval_for(&app2.unwrap_or_else(|| panic!("app")));
            let r = listed.approve(staff2, id2, &approval2).await;
            assert!(
                matches!(r, Err(shomei_ra::RaError::Invalid("csr.weak_debian"))),
                "{r:?}"
            );
            let app2 = db.store.application(id2).await.ok().flatten();
            assert_eq!(
                app2.map(|a| (a.status, a.issuance_error)),
                Some((AppStatus::Received, Some("csr.weak_debian".into())))
            );
            // Staff reject it.
            assert!(good.reject(staff2, id2, "weak key").await.is_ok());
        }
    }
}

/// Issue #7 item 1: the generated weak keys are refused through `contract import` too
/// (the same form and CSR checks), each with its own message key, and nothing is
/// recorded as an application.
#[tokio::test]
async fn issue7_item1_weak_keys_refused_through_contract_import() {
    for db in backends().await {
        let at = datetime!(2026-11-24 10:00:00 UTC);
        let (mut ra, _, _) = ra(db.store.clone(), at);
        let weak = |n: &str| {
            std::fs::read_to_string(format!(
                "{}/../ca/tests/data/weak/{n}.csr",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap_or_default()
        };
        let mut list = shomei_ca::WeakKeyList::default();
        let fp =
            shomei_ca::keys::debian_fingerprint_of_csr(weak("rsa2048-debian-listed").as_bytes());
        assert!(list.add_lines(&fp.unwrap_or_default()).is_ok());
        ra.policy.keys = std::sync::Arc::new(shomei_ca::KeyPolicy { weak_keys: list });
        let a = ra
            .create_account(&input("テスト株式会社"), "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let staff = ra
            .create_staff("importer", "審査 太郎", "ra@example.jp", "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for (name, key) in [
            ("rsa2048-roca", "csr.weak_roca"),
            ("rsa2048-fermat", "csr.weak_fermat"),
            ("rsa2048-e3", "csr.rsa_exponent"),
            ("rsa2048-debian-listed", "csr.weak_debian"),
            ("rsa2048-no-null", "csr.non_canonical_key"),
        ] {
            let form = sr30_form(&weak(name));
            let r = ra
                .import_contract(
                    staff.id,
                    a.id,
                    &form,
                    shomei_model::ContractType::FixedTerm,
                    &Approval::default(),
                )
                .await;
            let keys: Vec<&str> = match &r {
                Ok(Err(issues)) => issues.iter().map(|i| i.key).collect(),
                other => panic!("{name}: {other:?}"),
            };
            assert_eq!(keys, vec![key], "{name} on {}", db.name);
        }
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

/// Issue #8 item 2: while 書類提出待ち the customer submits documents (PDF, PNG, JPEG by
/// content, at most 5 MiB); the same file twice is kept once; others' or other states'
/// uploads are refused; each upload is audited; approval clears the documents mark.
#[tokio::test]
async fn issue8_item2_documents_submitted_while_pending() {
    for db in backends().await {
        let at = datetime!(2026-11-24 10:00:00 UTC);
        let (ra, _, _) = ra(db.store.clone(), at);
        let (account_id, staff_id, id) = submitted(&ra, at).await;
        let pdf = b"%PDF-1.7\n% test document\n".to_vec();
        // Not waiting for documents yet.
        assert!(matches!(
            ra.submit_document(account_id, id, "a.pdf", &pdf).await,
            Err(shomei_ra::RaError::WrongState)
        ));
        assert!(
            ra.request_documents(staff_id, id, "登記事項証明書")
                .await
                .is_ok()
        );
        let first = ra
            .submit_document(account_id, id, "C:\\docs\\登記.pdf", &pdf)
            .await;
        let first = first.ok().and_then(|r| r.ok());
        assert!(first.is_some(), "{}", db.name);
        let again = ra.submit_document(account_id, id, "again.pdf", &pdf).await;
        assert_eq!(
            again.ok().and_then(|r| r.ok()),
            first,
            "the same file is kept once"
        );
        let html = ra.submit_document(account_id, id, "x.pdf", b"<html>").await;
        assert_eq!(html.ok().and_then(|r| r.err()), Some("err.doc_type"));
        let big = vec![b'%'; shomei_ra::documents::MAX_DOCUMENT_BYTES + 1];
        let r = ra.submit_document(account_id, id, "big.pdf", &big).await;
        assert_eq!(r.ok().and_then(|r| r.err()), Some("err.doc_size"));
        // Another account's upload is refused.
        let other = ra
            .create_account(&input("他社株式会社"), "test")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            ra.submit_document(other.id, id, "a.pdf", &pdf).await,
            Err(shomei_ra::RaError::WrongState)
        ));
        let docs = db.store.documents_of(id).await.unwrap_or_default();
        assert_eq!(docs.len(), 1);
        assert_eq!(
            (docs[0].filename.as_str(), docs[0].content_type.as_str()),
            ("登記.pdf", "application/pdf")
        );
        let stored = db
            .store
            .document(id, docs[0].id)
            .await
            .ok()
            .flatten()
            .map(|d| d.1);
        assert_eq!(stored, Some(pdf.clone()));
        let events = db
            .store
            .audit_events_for(&format!("application:{id}"))
            .await
            .unwrap_or_default();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.action == "documents.uploaded")
                .count(),
            1
        );
        // Approval straight from 書類提出待ち clears the mark.
        let app = db.store.application(id).await.ok().flatten();
        let approval = shomei_ra::testing::approval_for(&app.unwrap_or_else(|| panic!("app")));
        assert!(ra.approve(staff_id, id, &approval).await.is_ok());
        let app = db.store.application(id).await.ok().flatten();
        assert_eq!(
            app.map(|a| (a.status, a.documents_note)),
            Some((AppStatus::Completed, None))
        );
    }
}
