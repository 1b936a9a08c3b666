//! Coupons (R-CP1, R-N2, R-R4) on every backend: staff issue them for a dealer code;
//! accounts with that code see them; a matching, unused, unexpired coupon is used once —
//! also under 20 concurrent submissions — and is released by a withdrawal.

use shomei_ra::Ra;
use shomei_ra::accounts::{AccountInput, Created};
use shomei_ra::coupons::{CouponForm, CouponState, state};
use shomei_ra::testing::{ra, sr30_form};
use shomei_store::testing::backends;
use time::macros::datetime;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

async fn account(ra: &Ra, dealer: Option<&str>) -> Created {
    ra.create_account(
        &AccountInput {
            org: "テスト株式会社".into(),
            email: "ops@example.jp".into(),
            dealer_code: dealer.map(str::to_owned),
        },
        shomei_model::Actor::Cli,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Submits an SR3.0 1-year application with `coupon` through a fresh draft.
async fn submit(ra: &Ra, account_id: i64, coupon: &str) -> Result<i64, Vec<&'static str>> {
    let mut form = sr30_form(CSR);
    form.coupon = coupon.into();
    shomei_ra::testing::submit_as(ra, account_id, shomei_model::AppKind::New, &form)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .map_err(|issues| issues.iter().map(|i| i.key).collect())
}

#[tokio::test]
async fn r_cp1_issue_list_and_use_once() {
    for db in backends().await {
        let (ra, clock, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let form = |count: &str, expires: &str, dealer: &str| CouponForm {
            service: "SR3.0".into(),
            term: "1".into(),
            dealer_code: dealer.into(),
            expires: expires.into(),
            count: count.into(),
            batch: shomei_ra::random_token(16).unwrap_or_default(),
            confirm: "1".into(),
        };
        // Bad input is explained per field.
        let bad = ra
            .issue_coupons(staff.id, &form("0", "2026-11-01", "ディーラー"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .err()
            .unwrap_or_default();
        let fields: Vec<_> = bad.iter().map(|i| i.field).collect();
        assert_eq!(fields, vec!["dealer_code", "expires", "count"]);
        assert!(
            ra.issue_coupons(staff.id, &form("101", "2027-01-31", "D-100"))
                .await
                .ok()
                .is_some_and(|r| r.is_err()),
            "at most 100 at once"
        );
        let numbers = ra
            .issue_coupons(staff.id, &form("2", "2027-01-31", "D-100"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|i| panic!("{i:?}"));
        assert_eq!(numbers.len(), 2);
        // The same form sent twice (double submit) issues once.
        let twice = CouponForm {
            batch: "same-batch-token-0001".into(),
            ..form("3", "2027-01-31", "D-300")
        };
        let first = ra
            .issue_coupons(staff.id, &twice)
            .await
            .ok()
            .and_then(|r| r.ok());
        let again = ra
            .issue_coupons(staff.id, &twice)
            .await
            .ok()
            .and_then(|r| r.ok());
        assert_eq!(first, again);
        assert_eq!(
            db.store
                .coupons_of_dealer("D-300")
                .await
                .map(|v| v.len())
                .ok(),
            Some(3)
        );

        // クーポン管理: only with a dealer code, only that dealer's coupons.
        let a = account(&ra, Some("D-100")).await;
        let other = account(&ra, Some("D-200")).await;
        let none = account(&ra, None).await;
        assert_eq!(ra.coupons_of(none.id).await.ok(), Some(None));
        assert_eq!(
            ra.coupons_of(a.id).await.ok().flatten().map(|v| v.len()),
            Some(2)
        );
        assert_eq!(
            ra.coupons_of(other.id)
                .await
                .ok()
                .flatten()
                .map(|v| v.len()),
            Some(0)
        );
        let sr = shomei_model::Service::Sr30;
        let ev = shomei_model::Service::Ev20;
        assert_eq!(
            ra.usable_coupons(a.id, sr, 1).await.map(|v| v.len()).ok(),
            Some(2)
        );
        assert_eq!(
            ra.usable_coupons(a.id, ev, 1).await.map(|v| v.len()).ok(),
            Some(0)
        );
        assert_eq!(
            ra.usable_coupons(a.id, sr, 2).await.map(|v| v.len()).ok(),
            Some(0)
        );

        // Another dealer's account, or an unknown number: refused on the coupon field.
        assert_eq!(
            submit(&ra, other.id, &numbers[0]).await,
            Err(vec!["err.coupon"])
        );
        assert_eq!(
            submit(&ra, a.id, "NOPE-NOPE-NOPE").await,
            Err(vec!["err.coupon"])
        );

        // 20 concurrent submissions with the same coupon: exactly one gets it.
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let ra = ra.clone();
            let n = numbers[0].clone();
            let id = a.id;
            tasks.push(tokio::spawn(async move { submit(&ra, id, &n).await }));
        }
        let mut won = Vec::new();
        let mut lost = 0;
        for t in tasks {
            match t.await.unwrap_or_else(|e| panic!("{e}")) {
                Ok(id) => won.push(id),
                Err(keys) => {
                    assert_eq!(keys, vec!["err.coupon"]);
                    lost += 1;
                }
            }
        }
        assert_eq!((won.len(), lost), (1, 19), "used once on {}", db.name);
        let rec = db
            .store
            .application(won[0])
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert_eq!(rec.coupon.as_deref(), Some(numbers[0].as_str()));
        let now = ra.now();
        let listed = ra.coupons_of(a.id).await.ok().flatten().unwrap_or_default();
        let used = listed
            .iter()
            .find(|c| c.number == numbers[0])
            .map(|c| state(c, now));
        assert_eq!(used, Some(CouponState::Used(won[0])));

        // A withdrawal gives it back.
        assert!(ra.withdraw(a.id, won[0]).await.unwrap_or(false));
        assert_eq!(
            ra.usable_coupons(a.id, sr, 1).await.map(|v| v.len()).ok(),
            Some(2)
        );

        // After its last day it is expired and refused.
        clock.set(datetime!(2027-02-01 00:00:00 UTC));
        let listed = ra.coupons_of(a.id).await.ok().flatten().unwrap_or_default();
        assert!(
            listed
                .iter()
                .all(|c| state(c, ra.now()) == CouponState::Expired)
        );
        assert_eq!(
            submit(&ra, a.id, &numbers[1]).await,
            Err(vec!["err.coupon"])
        );
    }
}

/// Issue #8 item 5: issuing to a dealer code no account has, or the same coupons again
/// within 10 minutes, is asked about first; confirmed, it issues once per form.
#[tokio::test]
async fn r_cp1_issue8_item5_unknown_dealer_and_repeat_are_confirmed_first() {
    for db in backends().await {
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("cpn", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let input = shomei_ra::accounts::AccountInput {
            org: "特約店株式会社".into(),
            email: "d@example.jp".into(),
            dealer_code: Some("DEMO-001".into()),
        };
        assert!(
            ra.create_account(&input, shomei_model::Actor::Cli)
                .await
                .is_ok()
        );
        let form = |dealer: &str, confirm: &str, batch: &str| CouponForm {
            service: "SR3.0".into(),
            term: "1".into(),
            dealer_code: dealer.into(),
            expires: "2027-03-31".into(),
            count: "2".into(),
            batch: batch.into(),
            confirm: confirm.into(),
        };
        let keys = |r: shomei_ra::field_issue::Checked<Vec<String>>| {
            r.err()
                .unwrap_or_default()
                .iter()
                .map(|i| i.key)
                .collect::<Vec<_>>()
        };
        // A typo of the dealer code: asked first, nothing issued.
        let r = ra
            .issue_coupons(staff.id, &form("DEMO-01", "", "b1-aaaaaaaaaaaaaaaa"))
            .await;
        assert_eq!(
            keys(r.unwrap_or_else(|e| panic!("{e}"))),
            vec!["coupon.confirm_unknown_dealer"]
        );
        assert!(
            db.store
                .coupon_batch("b1-aaaaaaaaaaaaaaaa")
                .await
                .unwrap_or_default()
                .is_empty()
        );
        // Confirmed: issued.
        let r = ra
            .issue_coupons(staff.id, &form("DEMO-01", "1", "b1-aaaaaaaaaaaaaaaa"))
            .await;
        assert_eq!(
            r.ok().and_then(|r| r.ok()).map(|n| n.len()),
            Some(2),
            "{}",
            db.name
        );
        // A known dealer: issued at once; the same again (a new form after going back)
        // is asked about; the very same form again just shows its batch.
        let first = ra
            .issue_coupons(staff.id, &form("DEMO-001", "", "b2-aaaaaaaaaaaaaaaa"))
            .await;
        let first = first.ok().and_then(|r| r.ok()).unwrap_or_default();
        assert_eq!(first.len(), 2);
        let again = ra
            .issue_coupons(staff.id, &form("DEMO-001", "", "b3-aaaaaaaaaaaaaaaa"))
            .await;
        assert_eq!(
            keys(again.unwrap_or_else(|e| panic!("{e}"))),
            vec!["coupon.confirm_repeat"]
        );
        let same = ra
            .issue_coupons(staff.id, &form("DEMO-001", "", "b2-aaaaaaaaaaaaaaaa"))
            .await;
        assert_eq!(same.ok().and_then(|r| r.ok()), Some(first));
    }
}
