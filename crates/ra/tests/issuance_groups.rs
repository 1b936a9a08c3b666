//! Issue #11 item 4: concurrent issuances share their commits (group commit) and no
//! guarantee weakens (CA-RULES "Serial numbers"; docs/issuance-cycle.md): each
//! certificate is issued once, with a serial of its own, its linted TBS and its DER on
//! record, OCSP "good" from the first moment, one audit event each in an intact chain;
//! an issuance that cannot complete (its record was completed meanwhile) fails alone,
//! and the certificate it signed stays on record, never handed out. Both backends.

use super::ocsp::{request, status_of};
use shomei_model::{Actor, AppStatus};
use shomei_store::testing::backends;
use std::collections::HashSet;
use time::macros::datetime;
use x509_ocsp::CertStatus;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue11_concurrent_issuances_share_commits_and_keep_every_guarantee() {
    for db in backends().await {
        let (ra, _, pki) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-30 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, first) = shomei_ra::testing::issued(&ra, staff.id, CSR).await;
        let ids = shomei_store::testing::clone_application(&db.store, first, 40, "under_review")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // 40 records at once, the last one twice.
        let mut tasks = Vec::new();
        for id in ids.iter().chain(ids.last()) {
            let (ra, id) = (ra.clone(), *id);
            tasks.push(tokio::spawn(async move {
                (id, ra.issue(id, Actor::System).await)
            }));
        }
        let mut serials = HashSet::new();
        let mut failed = Vec::new();
        for t in tasks {
            let (id, r) = t.await.unwrap_or_else(|e| panic!("{e}"));
            match r {
                Ok(issued) => assert!(serials.insert(issued.serial), "serial reused"),
                Err(e) => failed.push((id, e.to_string())),
            }
        }
        let twice = *ids.last().unwrap_or(&0);
        assert_eq!(failed.len(), 1, "{}: {failed:?}", db.name);
        assert_eq!(failed[0].0, twice, "{}", db.name);
        assert_eq!(serials.len(), 40, "{}", db.name);
        for id in &ids {
            let app = db.store.application(*id).await.ok().flatten();
            assert_eq!(
                app.map(|a| a.status),
                Some(AppStatus::Completed),
                "{}",
                db.name
            );
            // Every row on record: the issued certificate with its TBS inside its DER.
            let cert = db
                .store
                .issued_certificate(*id)
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| panic!("{}: no certificate for {id}", db.name));
            assert!(serials.contains(&cert.serial), "{}", db.name);
            let der = cert.der.unwrap_or_default();
            let (_, x) =
                x509_parser::parse_x509_certificate(&der).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(hex::encode(x.raw_serial()), cert.serial);
            // OCSP says good from the first moment.
            let reply = ra
                .ocsp_reply(&request(
                    &pki.server_ca.cert_pem,
                    &hex::decode(&cert.serial).unwrap_or_default(),
                ))
                .await;
            assert!(
                matches!(
                    status_of(&reply, &pki.ocsp.cert_pem),
                    Some(CertStatus::Good(_))
                ),
                "{}",
                db.name
            );
        }
        // The record issued twice: one certificate issued; the other call either found
        // it 完了 already or, if both passed their checks, its signed certificate stays
        // on record as its linted TBS (never handed out, its serial never reused).
        let rows = db
            .store
            .certificate_rows(twice)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            rows.iter().filter(|r| r.2 == "issued").count(),
            1,
            "{}: {rows:?}",
            db.name
        );
        assert!(
            rows.iter().all(|r| r.2 == "issued" || r.2 == "linted"),
            "{}: {rows:?}",
            db.name
        );
        assert_eq!(
            db.store.verify_audit_chain().await.ok().map(|r| r.is_ok()),
            Some(true),
            "{}",
            db.name
        );
        let issued_events: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'certificate.issued'",
        )
        .fetch_one(db.store.pool())
        .await
        .unwrap_or_default();
        assert_eq!(issued_events, 41, "{}", db.name);
    }
}

/// Issue #11 item 4: on SQLite the issuance's first read runs in place, on a read-only
/// connection of its own inside the first CPU job (store/src/issuance_read.rs); it reads
/// exactly what the async read reads — the record, its contract's end, whether its key
/// was blocked since (key compromise refuses the issuance) — and nothing for a record
/// that does not exist.
#[tokio::test]
async fn issue11_the_issuance_read_in_place_reads_what_the_async_read_reads() {
    let db = shomei_store::testing::sqlite().await;
    assert!(db.store.reads_in_place());
    let (ra, _, _) = shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-30 10:00:00 UTC));
    let staff = ra
        .create_staff("rev", "審査", "ra@example.jp", Actor::Cli)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, first) = shomei_ra::testing::issued(&ra, staff.id, CSR).await;
    let ids = shomei_store::testing::clone_application(&db.store, first, 1, "under_review")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let both = |id: i64| {
        let store = db.store.clone();
        async move {
            let read = store
                .issuance_read(id)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let in_place = store
                .issuance_read_now(id)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(read, in_place, "record {id}");
            read
        }
    };
    let done = both(first)
        .await
        .unwrap_or_else(|| panic!("record {first}"));
    assert_eq!(done.app.status, AppStatus::Completed);
    assert!(
        done.contract_ends_at.is_some(),
        "an issued record has its contract"
    );
    assert!(!done.key_blocked);
    let copy = ids.first().copied().unwrap_or_default();
    let waiting = both(copy).await.unwrap_or_else(|| panic!("record {copy}"));
    assert_eq!(waiting.app.status, AppStatus::UnderReview);
    assert!(both(i64::MAX).await.is_none());
    // The key compromised meanwhile: both reads say so.
    sqlx::query("INSERT INTO blocked_keys (spki_sha256, reason, source, blocked_at) VALUES ($1, 'keyCompromise', 'test', 0)")
        .bind(&waiting.app.spki_sha256)
        .execute(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(both(copy).await.is_some_and(|r| r.key_blocked));
    let refused = ra.issue(copy, Actor::System).await;
    assert!(
        matches!(refused, Err(shomei_ra::RaError::Invalid("csr.blocked_key"))),
        "{refused:?}"
    );
}
