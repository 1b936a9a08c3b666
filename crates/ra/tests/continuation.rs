//! 継続発行 (issue #3 item 8; CA/B Forum SC-081, BR 4.2.1) on every backend: offered from
//! 30 days before the certificate ends while the contract runs on; issued without the
//! desk while the recorded validations are fresh (organisation < 398 days, domains <
//! the SC-081 reuse period), in the same contract and capped by its end; otherwise the
//! desk decides.

use shomei_model::AppStatus;
use shomei_ra::testing::{continued, issued, ra};
use shomei_store::testing::backends;
use time::macros::datetime;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");
const CSR2: &str = include_str!("../../ca/tests/data/p256-cn-only.csr");

#[tokio::test]
async fn continuation_reuses_fresh_validations() {
    for db in backends().await {
        // Issued 2026-06-01: 199 days, ends 2026-12-16; the 1-year contract runs on.
        let (ra, clock, _) = ra(db.store.clone(), datetime!(2026-06-01 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued(&ra, staff.id, CSR).await;
        let load = |id| {
            let store = db.store.clone();
            async move {
                store
                    .application(id)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| panic!("app"))
            }
        };
        assert!(
            !ra.may_continue(&load(app).await).await.unwrap_or(true),
            "not yet: more than 30 days left"
        );
        clock.set(datetime!(2026-11-24 10:00:00 UTC)); // 22 days left
        assert!(
            ra.may_continue(&load(app).await).await.unwrap_or(false),
            "offered within 30 days on {}",
            db.name
        );
        let id = continued(&ra, a.id, app, CSR)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let rec = load(id).await;
        assert_eq!(
            rec.status,
            AppStatus::Completed,
            "fresh validations (176 days < 200): no desk on {}",
            db.name
        );
        assert_eq!(
            rec.contract_code,
            load(app).await.contract_code,
            "same contract"
        );
        let (_, contract_end) = db
            .store
            .contract_period(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        assert!(
            rec.cert_not_after.is_some_and(|na| na < contract_end),
            "capped by the contract's end"
        );
        // The reused validations keep their original dates.
        let v = db.store.validations_of(id).await.unwrap_or_default();
        assert!(
            v.iter()
                .all(|x| x.validated_at == datetime!(2026-06-01 10:00:00 UTC).unix_timestamp())
        );
        let events = db
            .store
            .audit_events_for(&format!("application:{id}"))
            .await
            .unwrap_or_default();
        assert!(
            events
                .iter()
                .any(|e| e.action == "application.approved_by_reuse" && e.actor == "system")
        );
        // The continued record holds the contract's certificate: it can be revoked
        // (R-V1) and renewed (R-R1) like any other.
        assert!(shomei_ra::Ra::may_renew(&rec));
        assert!(
            shomei_ra::testing::request_revocation(&ra, a.id, id, "content_change")
                .await
                .is_ok(),
            "revocation from a continuation record on {}",
            db.name
        );
    }
}

#[tokio::test]
async fn continuation_with_stale_domain_validation_goes_to_the_desk() {
    for db in backends().await {
        // Issued 2026-11-24 (ends 2027-06-11); continued 2027-05-20: the domain validation
        // is 177 days old, over the 100 days allowed from 2027-03-15.
        let (ra, clock, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued(&ra, staff.id, CSR).await;
        clock.set(datetime!(2027-05-20 10:00:00 UTC));
        let id = continued(&ra, a.id, app, CSR2)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let rec = db
            .store
            .application(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert_eq!(
            rec.status,
            AppStatus::Received,
            "waits for staff on {}",
            db.name
        );
        // Staff validate again; it is issued in the same contract, 99 days at most.
        let approval = shomei_ra::issue::Approval {
            org_method: "registry".into(),
            ev_method: None,
            domain_methods: rec
                .names
                .iter()
                .map(|n| (n.clone(), "phone".to_string()))
                .collect(),
            domain_notes: rec
                .names
                .iter()
                .map(|n| (n.clone(), "電話で確認".to_string()))
                .collect(),
        };
        ra.approve(staff.id, id, &approval)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let rec = db
            .store
            .application(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        let days =
            (rec.cert_not_after.unwrap_or(0) - rec.cert_not_before.unwrap_or(0) + 1) / 86_400;
        assert!(days <= 99, "{days} days");
    }
}
