//! Issue #12 (backups): a backup is a consistent, checked copy; a restore from it never
//! makes the CA answer "good" for a certificate it revoked after the backup (the
//! replaced database's revocations are carried over) nor reuse a CRL number (numbers
//! are at least the signing time in microseconds), and lists what was issued after it.

use shomei_ra::testing::{instance, issued, ra, request_revocation};
use time::macros::datetime;
use x509_ocsp::CertStatus;
use x509_parser::prelude::FromDer;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

#[tokio::test]
async fn issue12_restore_from_an_older_backup_keeps_revocations_and_crl_numbers() {
    let db = shomei_store::testing::sqlite().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (ra, clock, pki) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
    let staff = ra
        .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (a, app) = issued(&ra, staff.id, CSR).await;
    let serial = |app: i64| {
        let store = db.store.clone();
        async move {
            store
                .issued_certificate(app)
                .await
                .ok()
                .flatten()
                .map(|c| c.serial)
                .unwrap_or_default()
        }
    };
    let first = serial(app).await;
    let crl0 = ra
        .crl_of_certificate(&first)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // The backup, taken while the store is in use.
    let backup = dir.path().join("backup.db");
    let info = ra
        .backup_to(&backup)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.certificates, 1);
    assert!(info.schema_version >= 22);
    assert!(
        ra.backup_to(&backup).await.is_err(),
        "an existing file is never overwritten"
    );

    // After the backup: the certificate is revoked (its CRL re-signed), another issued.
    clock.advance(time::Duration::minutes(10));
    let rev = request_revocation(&ra, a.id, app, "end_of_service")
        .await
        .unwrap_or_else(|k| panic!("{k}"));
    ra.confirm_revocation(staff.id, rev)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let crl1 = ra
        .crl_of_certificate(&first)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(crl1.number > crl0.number);
    let (_, app2) = issued(&ra, staff.id, CSR).await;
    let second = serial(app2).await;

    // The restore: the backup becomes the database; the replaced one is read.
    let restored_path = dir.path().join("restored.db");
    std::fs::copy(&backup, &restored_path).unwrap_or_else(|e| panic!("{e}"));
    let restored =
        shomei_store::Store::connect(&format!("sqlite:{}?mode=rwc", restored_path.display()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let old_path = db
        .url
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    clock.advance(time::Duration::minutes(1));
    let ra2 = instance(restored, &clock, &pki);
    let carried = ra2
        .carry_over_from(std::path::Path::new(&old_path))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(carried.revocations, vec![first.clone()]);
    assert_eq!(carried.missing_certificates, vec![second.clone()]);

    // OCSP says revoked, never the backup's "good".
    let der =
        shomei_ca::pki::pem_to_der(&pki.server_ca.cert_pem, "CERTIFICATE").unwrap_or_default();
    let req = |s: &str| {
        shomei_ca::ocsp::request(
            &der,
            &hex::decode(s).unwrap_or_default(),
            shomei_ca::ocsp::HashAlg::Sha1,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let (status, _) = crate::ocsp::parse(&ra2.ocsp_answer(&req(&first)).await, &pki.ocsp.cert_pem);
    assert!(matches!(status, CertStatus::Revoked(_)), "{status:?}");
    // The certificate issued after the backup is unknown to it: never "good".
    let (status, _) = crate::ocsp::parse(&ra2.ocsp_answer(&req(&second)).await, &pki.ocsp.cert_pem);
    assert!(matches!(status, CertStatus::Unknown(_)), "{status:?}");

    // Every CRL is re-signed, listing the carried-over revocation, with a number above
    // every one published before the restore (the backup's counter was behind).
    // (The carried-over revocation already marked its shard; the rest are marked here.)
    ra2.mark_every_crl_stale()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    ra2.refresh_stale_crls()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let crl2 = ra2
        .crl_of_certificate(&first)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        crl2.number > crl1.number,
        "CRL number {} reused or lower than {}",
        crl2.number,
        crl1.number
    );
    let (_, parsed) = x509_parser::revocation_list::CertificateRevocationList::from_der(&crl2.der)
        .unwrap_or_else(|e| panic!("{e}"));
    let listed: Vec<String> = parsed
        .iter_revoked_certificates()
        .map(|r| hex::encode(r.raw_serial()))
        .collect();
    assert_eq!(listed, vec![first]);
}

#[tokio::test]
async fn issue12_a_damaged_or_foreign_file_is_not_taken_for_a_backup() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all").unwrap_or_else(|e| panic!("{e}"));
    assert!(shomei_store::backup::check_backup(&junk).await.is_err());
    let empty = dir.path().join("empty.db");
    let url = format!("sqlite:{}?mode=rwc", empty.display());
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let err = shomei_store::backup::check_backup(&empty)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("not a Shomei database"), "{err}");
}
