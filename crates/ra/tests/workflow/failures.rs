//! Issue #7 item 4 (a failed issuance goes back to the desk), weak keys through
//! contract import (R-S2) and documents submitted while 書類提出待ち (R-LS3).

use super::*;

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
        let (account_id, staff_id, id) = submitted(&good).await;
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
        let id2 = good
            .submit(
                account_id,
                &shomei_ra::testing::open_draft(
                    &good,
                    account_id,
                    shomei_model::AppKind::New,
                    &sr30_form(CSR),
                )
                .await
                .unwrap_or_else(|e| panic!("draft: {e}")),
            )
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
async fn r_s2_issue7_item1_weak_keys_refused_through_contract_import() {
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
            .create_account(&input("テスト株式会社"), shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let staff = ra
            .create_staff(
                "importer",
                "審査 太郎",
                "ra@example.jp",
                shomei_model::Actor::Cli,
            )
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
async fn r_ls3_issue8_item2_documents_submitted_while_pending() {
    for db in backends().await {
        let at = datetime!(2026-11-24 10:00:00 UTC);
        let (ra, _, _) = ra(db.store.clone(), at);
        let (account_id, staff_id, id) = submitted(&ra).await;
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
            .create_account(&input("他社株式会社"), shomei_model::Actor::Cli)
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
