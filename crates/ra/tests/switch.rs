//! Service switch (別サービスへ切り替えて申請, R-R5) on every backend: an SR2.0 contract
//! (imported by staff, as SR2.0 is no longer sold) continues under SR3.0 or EV2.0 with
//! its data and its remaining paid time; the old contract ends; its certificate stays
//! valid 14 days and is then revoked as superseded by a durable job.

use shomei_model::{AppKind, Service};
use shomei_ra::Ra;
use shomei_ra::testing::{imported_sr20, issued, ra, switched};
use shomei_store::testing::backends;
use time::Duration;
use time::macros::datetime;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");
const CSR2: &str = include_str!("../../ca/tests/data/p256-cn-only.csr");

#[tokio::test]
async fn r_r5_sr20_switches_keeping_remaining_time() {
    for db in backends().await {
        let (ra, clock, _) = ra(db.store.clone(), datetime!(2026-06-01 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, old) = imported_sr20(&ra, staff.id, CSR).await;
        let load = |id| {
            let store = db.store.clone();
            async move {
                store
                    .application(id)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| panic!("app {id}"))
            }
        };
        let rec = load(old).await;
        assert_eq!(rec.service, Service::Sr20);
        assert_eq!(rec.contract_type.code(), "auto", "自動契約更新タイプ");
        // SR2.0 is no longer sold: no renewal, reissue or continuation of it; a switch.
        assert!(!Ra::may_renew(&rec), "R-R5: SR2.0 renews by switching");
        assert!(!ra.may_reissue(&rec).await.unwrap_or(true));
        assert!(ra.may_switch(&rec).await.unwrap_or(false), "{}", db.name);
        assert_eq!(
            Ra::switch_targets(Service::Sr20),
            vec![Service::Sr30, Service::Ev20]
        );
        let (_, old_end) = db
            .store
            .contract_period(old)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();

        // Three months in: switch to SR3.0, 1 year.
        clock.set(datetime!(2026-09-01 10:00:00 UTC));
        // Not to the service it already has, nor to one not sold.
        for bad in ["SR2.0", "XX"] {
            let r = switched(&ra, staff.id, a.id, old, bad, CSR2).await;
            assert!(r.is_err(), "{bad} refused");
        }
        let new = switched(&ra, staff.id, a.id, old, "SR3.0", CSR2)
            .await
            .unwrap_or_else(|e| panic!("{e} on {}", db.name));
        let rec = load(new).await;
        assert_eq!(rec.kind, AppKind::Switch);
        assert_eq!(rec.service, Service::Sr30);
        assert_eq!(rec.target_id, Some(old), "R-A1: its own record");
        assert_eq!(
            rec.details.organisation.name, "テスト株式会社",
            "the contract's data"
        );
        let (_, new_end) = db
            .store
            .contract_period(new)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let year =
            (datetime!(2028-06-01 0:00 UTC) - datetime!(2027-06-01 0:00 UTC)).whole_seconds();
        assert_eq!(
            new_end,
            old_end + year,
            "R-R5: the new term continues from the old end (no paid time lost) on {}",
            db.name
        );
        assert_ne!(
            rec.contract_code,
            load(old).await.contract_code,
            "a new contract under the new service"
        );
        // The old contract ended at the switch; no second switch, renewal or revocation.
        let (_, ended) = db
            .store
            .contract_period(old)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(ended, ra.now(), "the switched-from contract ends now");
        assert!(!ra.may_switch(&load(old).await).await.unwrap_or(true));
        assert!(
            switched(&ra, staff.id, a.id, old, "EV2.0", CSR2)
                .await
                .is_err()
        );
        let audit = db
            .store
            .audit_events_for(&format!("application:{old}"))
            .await
            .unwrap_or_default();
        assert!(audit.iter().any(|e| e.action == "contract.switched"));

        // The old certificate: valid for 14 days, then revoked (superseded) by the job,
        // which survives a restart.
        ra.run_due_jobs(100).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            load(old).await.cert_revoked_at.is_none(),
            "valid for the move"
        );
        clock.advance(Duration::days(14) + Duration::seconds(1));
        let (ra2, _, _) = ra_at(&db.store, ra.now()).await;
        ra2.run_due_jobs(100)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            load(old).await.cert_revoked_at.is_some(),
            "revoked 14 days after the switch on {}",
            db.name
        );
        assert!(load(new).await.cert_revoked_at.is_none());
        // The switched record is an ordinary SR3.0 contract now: renewal is offered, and
        // its certificate can be revoked (R-V1).
        assert!(Ra::may_renew(&load(new).await));
        assert!(
            shomei_ra::testing::request_revocation(&ra2, a.id, new, "content_change")
                .await
                .is_ok(),
            "revocation from a switch record on {}",
            db.name
        );
    }
}

async fn ra_at(
    store: &shomei_store::Store,
    now: i64,
) -> (Ra, shomei_model::FixedClock, shomei_ca::pki::DevPki) {
    let at = time::OffsetDateTime::from_unix_timestamp(now).unwrap_or_else(|e| panic!("{e}"));
    ra(store.clone(), at)
}

/// SR3.0 → EV2.0 (R-R5 "SR → EV"): staff validate the EV data; the certificate is EV.
#[tokio::test]
async fn r_r5_sr30_switches_to_ev() {
    for db in backends().await {
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, old) = issued(&ra, staff.id, CSR).await;
        assert_eq!(Ra::switch_targets(Service::Sr30), vec![Service::Ev20]);
        let new = switched(&ra, staff.id, a.id, old, "EV2.0", CSR2)
            .await
            .unwrap_or_else(|e| panic!("{e} on {}", db.name));
        let cert = db
            .store
            .issued_certificate(new)
            .await
            .ok()
            .flatten()
            .and_then(|c| c.pem)
            .unwrap_or_default();
        let der = shomei_ca::pki::pem_to_der(&cert, "CERTIFICATE").unwrap_or_default();
        // The CA/B Forum EV policy OID 2.23.140.1.1, DER-encoded.
        let ev_oid = [0x06, 0x05, 0x67, 0x81, 0x0c, 0x01, 0x01];
        assert!(
            der.windows(7).any(|w| w == ev_oid),
            "EV certificate on {}",
            db.name
        );
        // Another account cannot switch this contract.
        let other = ra
            .create_account(
                &shomei_ra::accounts::AccountInput {
                    org: "他社".into(),
                    email: "x@example.jp".into(),
                    dealer_code: None,
                },
                shomei_model::Actor::Cli,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            switched(&ra, staff.id, other.id, old, "EV2.0", CSR2)
                .await
                .is_err()
        );
    }
}
