//! Site seals (R-D1, issue #3 "Downloads and stickers") on every backend: the public
//! verification page's facts come from the issued certificate, and its status is live:
//! valid, then revoked after a confirmed revocation, or expired after notAfter.

use shomei_ra::seal::SealStatus;
use shomei_ra::testing::{issued, ra, request_revocation};
use shomei_store::testing::backends;
use time::macros::datetime;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

#[tokio::test]
async fn r_d1_seal_shows_live_status() {
    for db in backends().await {
        let (ra, clock, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued(&ra, staff.id, CSR).await;
        let cert = db
            .store
            .issued_certificate(app)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no certificate"));

        let seal = ra
            .seal(&cert.serial.to_uppercase())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("seal by upper-case serial on {}", db.name));
        assert_eq!(seal.status, SealStatus::Valid, "{}", db.name);
        assert_eq!(seal.serial, cert.serial);
        assert_eq!(seal.not_after, cert.not_after);
        assert!(
            seal.organization.as_deref().is_some_and(|o| !o.is_empty()),
            "an OV certificate names its organisation: {seal:?}"
        );
        assert!(seal.dns_names.contains(&seal.domain), "{seal:?}");

        // Unknown, malformed and hostile serials are simply "not found".
        for bad in [
            "",
            "zz",
            "00",
            "1'; DROP TABLE certificates; --",
            &"a".repeat(200),
        ] {
            assert!(
                ra.seal(bad)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .is_none(),
                "{bad:?}"
            );
        }

        // After notAfter: expired.
        clock.set(datetime!(2027-12-01 00:00:00 UTC));
        let later = ra.seal(&cert.serial).await.ok().flatten().map(|s| s.status);
        assert_eq!(later, Some(SealStatus::Expired), "{}", db.name);

        // Revoked (R-V4 confirmation): revoked, whatever the date.
        clock.set(datetime!(2026-11-25 10:00:00 UTC));
        let rev = request_revocation(&ra, a.id, app, "content_change")
            .await
            .unwrap_or_else(|k| panic!("{k}"));
        ra.confirm_revocation(staff.id, rev)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let now = ra.seal(&cert.serial).await.ok().flatten().map(|s| s.status);
        assert!(
            matches!(now, Some(SealStatus::Revoked(_))),
            "{now:?} on {}",
            db.name
        );
    }
}
