//! Reissue (再発行) on every backend: R-RI2 (until day 25, not day 26), R-RI3 (EV2.0
//! once), R-RI4 (old certificate revoked at issuance, or 14 days later by a job that
//! survives a restart), and the reissue stays in its contract.

use shomei_ra::testing::{issued, issued_ev, ra, reissued};
use shomei_store::testing::backends;
use time::Duration;
use time::macros::datetime;
use x509_parser::prelude::FromDer;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");
const CSR2: &str = include_str!("../../ca/tests/data/p256-cn-only.csr");

async fn revoked(db: &shomei_store::Store, app: i64) -> bool {
    db.application(app)
        .await
        .ok()
        .flatten()
        .is_some_and(|a| a.cert_revoked_at.is_some())
}

/// R-RI2: offered at day 25 after issuance, refused at day 26.
#[tokio::test]
async fn r_ri2_window_day_25_and_26() {
    for db in backends().await {
        let (ra, clock, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, app) = issued(&ra, staff.id, CSR).await;
        let load = || async {
            db.store
                .application(app)
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| panic!("app"))
        };
        clock.advance(Duration::days(25) + Duration::hours(23));
        assert!(
            ra.may_reissue(&load().await).await.unwrap_or(false),
            "day 25 on {}",
            db.name
        );
        clock.advance(Duration::hours(1));
        assert!(
            !ra.may_reissue(&load().await).await.unwrap_or(true),
            "day 26 on {}",
            db.name
        );
    }
}

/// R-RI4 再発行と同時に失効する: the old certificate is revoked (superseded) when the new one
/// is issued; the reissue keeps the contract (same code).
#[tokio::test]
async fn r_ri4_revoke_at_reissue() {
    for db in backends().await {
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued(&ra, staff.id, CSR).await;
        let old_serial = db
            .store
            .issued_certificate(app)
            .await
            .ok()
            .flatten()
            .map(|c| c.serial)
            .unwrap_or_default();
        let re = reissued(&ra, staff.id, a.id, app, CSR2, "now")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            revoked(&db.store, app).await,
            "old certificate revoked at once on {}",
            db.name
        );
        let (old, new) = (
            db.store.application(app).await.ok().flatten(),
            db.store.application(re).await.ok().flatten(),
        );
        assert_eq!(
            old.and_then(|x| x.contract_code),
            new.as_ref().and_then(|x| x.contract_code.clone()),
            "same contract"
        );
        assert!(new.is_some_and(|x| x.cert_not_after.is_some() && x.cert_revoked_at.is_none()));
        let crl = ra
            .crl_of_certificate(&old_serial)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, parsed) =
            x509_parser::revocation_list::CertificateRevocationList::from_der(&crl.der)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.iter_revoked_certificates().count(), 1);
    }
}

/// R-RI4 後日失効する: revoked 14 days after the reissue, by a job that survives a restart.
#[tokio::test]
async fn r_ri4_revoke_later_survives_restart() {
    for db in backends().await {
        let (ra, clock, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued(&ra, staff.id, CSR).await;
        reissued(&ra, staff.id, a.id, app, CSR2, "later")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        ra.run_due_jobs(100).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !revoked(&db.store, app).await,
            "still valid right after the reissue on {}",
            db.name
        );
        clock.advance(Duration::days(13));
        ra.run_due_jobs(100).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(!revoked(&db.store, app).await, "still valid on day 13");
        // "Restart": a new RA on the same database, 14 days after the reissue.
        let (ra2, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-12-08 10:00:01 UTC));
        ra2.run_due_jobs(100)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            revoked(&db.store, app).await,
            "revoked 14 days later on {}",
            db.name
        );
        let reason = db
            .store
            .certificate_state(
                "server",
                &db.store
                    .issued_certificate(app)
                    .await
                    .ok()
                    .flatten()
                    .map(|c| c.serial)
                    .unwrap_or_default(),
            )
            .await
            .ok();
        assert_eq!(
            reason,
            Some(shomei_store::ocsp::CertState::Revoked(
                datetime!(2026-12-08 10:00:01 UTC).unix_timestamp(),
                4
            )),
            "superseded"
        );
    }
}

/// R-RI3: EV2.0 can be reissued once within the 25 days; a second time is refused.
#[tokio::test]
async fn r_ri3_ev_reissue_once() {
    for db in backends().await {
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued_ev(&ra, staff.id, CSR).await;
        let re = reissued(&ra, staff.id, a.id, app, CSR2, "later")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let again = db
            .store
            .application(re)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert!(
            !ra.may_reissue(&again).await.unwrap_or(true),
            "second EV reissue refused on {}",
            db.name
        );
        assert!(
            reissued(&ra, staff.id, a.id, re, CSR, "later")
                .await
                .is_err()
        );
        // SR3.0 may be reissued again within the window.
        let (b, sr) = issued(&ra, staff.id, CSR).await;
        let sr_re = reissued(&ra, staff.id, b.id, sr, CSR2, "later")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let sr_again = db
            .store
            .application(sr_re)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert!(ra.may_reissue(&sr_again).await.unwrap_or(false));
    }
}
