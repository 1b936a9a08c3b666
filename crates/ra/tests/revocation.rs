//! Revocation on every backend: R-V1, R-V2 (reasons → RFC 5280 codes), R-V4 (phone
//! confirmation revokes), the BR 4.9.1.1 deadlines, key-compromise blocking, and the CRL
//! (number strictly increasing, entries with reasons, signed by the issuing CA).

use shomei_model::AppStatus;
use shomei_ra::testing::{issued, ra, request_revocation};
use shomei_store::testing::backends;
use time::macros::datetime;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");
const CSR_EC: &str = include_str!("../../ca/tests/data/p256-cn-only.csr");

fn crl_entries(der: &[u8]) -> Vec<(String, Option<u8>)> {
    let (_, crl) = CertificateRevocationList::from_der(der).unwrap_or_else(|e| panic!("{e}"));
    crl.iter_revoked_certificates()
        .map(|r| {
            (
                hex::encode(r.raw_serial()),
                r.reason_code().map(|(_, c)| c.0),
            )
        })
        .collect()
}

fn crl_number(der: &[u8]) -> u64 {
    let (_, crl) = CertificateRevocationList::from_der(der).unwrap_or_else(|e| panic!("{e}"));
    crl.crl_number()
        .and_then(|n| n.to_u64_digits().first().copied())
        .unwrap_or(0)
}

/// R-V2 → R-V4: the request waits for the phone confirmation; the confirmation revokes
/// with superseded (4), and the next CRL lists it, with a higher CRL number.
#[tokio::test]
async fn r_v4_phone_confirmation_revokes_and_crl_lists_it() {
    for db in backends().await {
        let (ra, clock, pki) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued(&ra, staff.id, CSR).await;
        let serial = db
            .store
            .issued_certificate(app)
            .await
            .ok()
            .flatten()
            .map(|c| c.serial)
            .unwrap_or_default();
        // Issue #11: the certificate's CRL is its shard's.
        let crl0 = ra
            .crl_of_certificate(&serial)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(crl_entries(&crl0.der).is_empty());

        let rev = request_revocation(&ra, a.id, app, "content_change")
            .await
            .unwrap_or_else(|k| panic!("{k}"));
        let rec = db
            .store
            .application(rev)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no record"));
        assert_eq!(
            rec.status,
            AppStatus::PhoneConfirmationPending,
            "{}",
            db.name
        );
        assert_eq!(rec.target_id, Some(app), "R-A1: its own record");
        // A second request while one is pending is refused.
        assert_eq!(
            request_revocation(&ra, a.id, app, "switching").await,
            Err("err.revoke_not_allowed")
        );
        // Not revoked before the confirmation.
        assert!(
            db.store
                .issued_certificate(app)
                .await
                .ok()
                .flatten()
                .is_some()
        );
        assert!(
            crl_entries(
                &ra.crl_of_certificate(&serial)
                    .await
                    .map(|c| c.der)
                    .unwrap_or_default()
            )
            .is_empty()
        );

        clock.advance(time::Duration::hours(2));
        let revoked = ra
            .confirm_revocation(staff.id, rev)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(revoked, vec![serial.clone()]);
        let crl = ra
            .crl_of_certificate(&serial)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            crl_entries(&crl.der),
            vec![(serial.clone(), Some(4))],
            "superseded on {}",
            db.name
        );
        assert!(
            crl_number(&crl.der) > crl_number(&crl0.der),
            "CRL number strictly increasing"
        );
        assert!(crl.next_update - crl.this_update <= 7 * 86_400);
        // Signed by the issuing CA.
        let ca_der =
            shomei_ca::pki::pem_to_der(&pki.server_ca.cert_pem, "CERTIFICATE").unwrap_or_default();
        let (_, ca) = X509Certificate::from_der(&ca_der).unwrap_or_else(|e| panic!("{e}"));
        let (_, parsed) =
            CertificateRevocationList::from_der(&crl.der).unwrap_or_else(|e| panic!("{e}"));
        assert!(parsed.verify_signature(ca.public_key()).is_ok());
        // Confirming twice is refused; the record is 完了; revoking again is not offered.
        assert!(ra.confirm_revocation(staff.id, rev).await.is_err());
        assert_eq!(
            db.store
                .application(rev)
                .await
                .ok()
                .flatten()
                .map(|r| r.status),
            Some(AppStatus::Completed)
        );
        let target = db
            .store
            .application(app)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("target"));
        assert!(!ra.may_revoke(&target).await.unwrap_or(true));
        // The CRL number survives a "restart" (a new RA on the same store).
        let (ra2, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-26 10:00:00 UTC));
        assert!(ra2.refresh_crl().await.unwrap_or_else(|e| panic!("{e}")) > 0);
        let crl2 = ra2
            .crl_of_certificate(&serial)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(crl2.number > crl.number);
    }
}

/// CA-RULES "Key compromise": revoke every certificate with the key, refuse it from then on.
#[tokio::test]
async fn key_compromise_blocks_the_key_everywhere() {
    for db in backends().await {
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app1) = issued(&ra, staff.id, CSR_EC).await;
        let (_, app2) = issued(&ra, staff.id, CSR_EC).await; // another account, same key
        let rev = request_revocation(&ra, a.id, app1, "key_compromise")
            .await
            .unwrap_or_else(|k| panic!("{k}"));
        let rec = db
            .store
            .application(rev)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert_eq!(
            shomei_ra::Ra::revocation_deadline(&rec),
            Some(rec.created_at + 86_400),
            "24 h for key compromise"
        );
        let revoked = ra
            .confirm_revocation(staff.id, rev)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            revoked.len(),
            2,
            "both certificates with the key on {}",
            db.name
        );
        for serial in &revoked {
            let crl = ra
                .crl_of_certificate(serial)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let entries = crl_entries(&crl.der);
            assert!(entries.contains(&(serial.clone(), Some(1))));
            assert!(entries.iter().all(|(_, r)| *r == Some(1)));
        }
        // The key is refused on submission from now on.
        let refused = ra
            .submit(
                a.id,
                &shomei_ra::testing::open_draft(
                    &ra,
                    a.id,
                    shomei_model::AppKind::New,
                    &shomei_ra::testing::sr30_form(CSR_EC),
                )
                .await
                .unwrap_or_else(|e| panic!("draft: {e}")),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(refused.is_err_and(|i| i.iter().any(|x| x.key == "csr.blocked_key")));
        let _ = app2;
    }
}

/// BR 4.9.1.1: 5 days for the other reasons; R-V1: only 完了 records with a live certificate.
#[tokio::test]
async fn r_v1_deadlines_and_eligibility() {
    for db in backends().await {
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued(&ra, staff.id, CSR).await;
        let rev = request_revocation(&ra, a.id, app, "end_of_service")
            .await
            .unwrap_or_else(|k| panic!("{k}"));
        let rec = db
            .store
            .application(rev)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert_eq!(
            shomei_ra::Ra::revocation_deadline(&rec),
            Some(rec.created_at + 5 * 86_400)
        );
        // A revocation record itself cannot be revoked; neither can another account's record.
        assert_eq!(
            request_revocation(&ra, a.id, rev, "end_of_service").await,
            Err("err.revoke_not_allowed")
        );
        let other = ra
            .create_account(
                &shomei_ra::accounts::AccountInput {
                    org: "B社".into(),
                    email: "b@example.jp".into(),
                    dealer_code: None,
                },
                shomei_model::Actor::Cli,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            request_revocation(&ra, other.id, app, "end_of_service").await,
            Err("err.revoke_not_allowed"),
            "{}",
            db.name
        );
        assert_eq!(
            request_revocation(&ra, a.id, app, "bogus").await,
            Err("err.revoke_reason")
        );
    }
}

/// Issue #8 item 7: the phone call's other outcomes. "Could not reach" is recorded and
/// the request keeps waiting (deadline unchanged); "denies" rejects the request with the
/// note and revokes nothing; neither applies twice or to a request already decided.
#[tokio::test]
async fn r_v4_issue8_item7_unreachable_and_denied_outcomes() {
    for db in backends().await {
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued(&ra, staff.id, CSR).await;
        let rev = request_revocation(&ra, a.id, app, "content_change")
            .await
            .unwrap_or_else(|k| panic!("{k}"));
        let before = db.store.application(rev).await.ok().flatten();
        let deadline = before.as_ref().and_then(shomei_ra::Ra::revocation_deadline);
        assert!(matches!(
            ra.revocation_unreachable(staff.id, rev, "").await,
            Err(shomei_ra::RaError::Invalid("err.rev_note"))
        ));
        assert!(
            ra.revocation_unreachable(staff.id, rev, "10:05 留守電")
                .await
                .is_ok()
        );
        let after = db.store.application(rev).await.ok().flatten();
        assert_eq!(
            after.as_ref().map(|a| a.status),
            Some(AppStatus::PhoneConfirmationPending)
        );
        assert_eq!(
            after.as_ref().and_then(shomei_ra::Ra::revocation_deadline),
            deadline,
            "{}",
            db.name
        );
        let events = db
            .store
            .audit_events_for(&format!("application:{rev}"))
            .await
            .unwrap_or_default();
        assert!(
            events
                .iter()
                .any(|e| e.action == "revocation.unreachable" && e.detail.contains("留守電"))
        );
        // Denied: rejected with the note; the certificate stays valid.
        assert!(
            ra.revocation_denied(staff.id, rev, "本人が否認")
                .await
                .is_ok()
        );
        let after = db.store.application(rev).await.ok().flatten();
        assert_eq!(
            after.map(|a| (a.status, a.reject_reason)),
            Some((AppStatus::Rejected, Some("本人が否認".into())))
        );
        let cert = db.store.application(app).await.ok().flatten();
        assert_eq!(
            cert.and_then(|c| c.cert_revoked_at),
            None,
            "nothing revoked"
        );
        assert!(matches!(
            ra.revocation_denied(staff.id, rev, "again").await,
            Err(shomei_ra::RaError::WrongState)
        ));
        assert!(matches!(
            ra.confirm_revocation(staff.id, rev).await,
            Err(shomei_ra::RaError::WrongState)
        ));
        // A new request can be made after a denied one.
        assert!(
            request_revocation(&ra, a.id, app, "content_change")
                .await
                .is_ok()
        );
    }
}

/// Issue #11: a request never builds a CRL — concurrent GETs of a stale CRL get the
/// latest signed one, not one build each — and the periodic refresh publishes a
/// revocation whose CRL a crash prevented, once.
#[tokio::test]
async fn crl_requests_never_build_and_stale_crls_catch_up_once() {
    for db in backends().await {
        let (ra, clock, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, app) = issued(&ra, staff.id, CSR).await;
        let cert = db
            .store
            .issued_certificate(app)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("certificate"));
        let crl0 = ra
            .crl_of_certificate(&cert.serial)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Revoked, and the process dies before signing the CRL.
        clock.advance(time::Duration::seconds(5));
        db.store
            .revoke_certificate(cert.id, 4, false, shomei_model::Actor::System, ra.now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let gets = (0..8).map(|_| {
            let ra = ra.clone();
            let serial = cert.serial.clone();
            tokio::spawn(async move { ra.crl_of_certificate(&serial).await.map(|c| c.number) })
        });
        for g in gets {
            let n = g.await.ok().and_then(Result::ok);
            assert_eq!(
                n,
                Some(crl0.number),
                "a GET served the latest CRL on {}",
                db.name
            );
        }
        // The periodic task catches up: one new CRL with the serial, then nothing more.
        clock.advance(time::Duration::seconds(1));
        ra.refresh_stale_crls()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let crl1 = ra
            .crl_of_certificate(&cert.serial)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // One new CRL: numbered with its signing time in microseconds (a second one
        // signed now would be one more).
        assert!(crl1.number > crl0.number);
        assert_eq!(crl1.number, ra.now() * 1_000_000);
        assert_eq!(crl_entries(&crl1.der), vec![(cert.serial.clone(), Some(4))]);
        clock.advance(time::Duration::seconds(60));
        ra.refresh_stale_crls()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ra.crl_of_certificate(&cert.serial)
                .await
                .map(|c| c.number)
                .ok(),
            Some(crl1.number),
            "not signed again on {}",
            db.name
        );
    }
}

/// CA-RULES "Key compromise": an application submitted before its key was blocked is
/// refused at issuance (the key is read with the record, `Ra::issue`), goes back to 受付
/// with the reason for staff, and nothing is signed for it.
#[tokio::test]
async fn a_key_blocked_after_submission_is_refused_at_issuance() {
    for db in backends().await {
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app1) = issued(&ra, staff.id, CSR_EC).await;
        // The same key, submitted while it is still good: waiting at the desk.
        let waiting = shomei_ra::testing::submit_as(
            &ra,
            a.id,
            shomei_model::AppKind::New,
            &shomei_ra::testing::sr30_form(CSR_EC),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|i| panic!("{i:?}"));
        let rev = request_revocation(&ra, a.id, app1, "key_compromise")
            .await
            .unwrap_or_else(|k| panic!("{k}"));
        ra.confirm_revocation(staff.id, rev)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let app = db
            .store
            .application(waiting)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        let refused = ra
            .approve(staff.id, waiting, &shomei_ra::testing::approval_for(&app))
            .await;
        assert!(
            matches!(refused, Err(shomei_ra::RaError::Invalid("csr.blocked_key"))),
            "{refused:?} on {}",
            db.name
        );
        let app = db
            .store
            .application(waiting)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert_eq!(
            app.status,
            AppStatus::Received,
            "back to 受付 on {}",
            db.name
        );
        assert_eq!(app.issuance_error.as_deref(), Some("csr.blocked_key"));
        assert!(app.contract_code.is_none(), "nothing issued on {}", db.name);
    }
}
