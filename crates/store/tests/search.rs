//! お申込一覧 and 検索 (R-LS1–R-LS6) in SQL, on every backend: R-LS1 at its exact
//! boundary, current and past (R-LS4), each criterion alone and combined, both sort
//! directions, paging.

use shomei_model::{AppKind, ServerType, Service};
use shomei_store::Store;
use shomei_store::principals::{NewPrincipal, Realm};
use shomei_store::search::{DateKind, Search, SortKey, TextField};
use shomei_store::testing::{BulkApp, backends, bulk_applications};

const DAY: i64 = 86_400;
const NOW: i64 = 1_795_000_000; // 2026-11-18

async fn account(s: &Store, key: &str) -> i64 {
    let p = NewPrincipal {
        login: key.into(),
        name: "テスト株式会社".into(),
        email: "ops@example.jp".into(),
        dealer_code: None,
        password_hash: "$argon2id$fake".into(),
        password_expires_at: 1_000,
        cert_serial: format!("5a{key}"),
        cert_subject: format!("CN={key}"),
        cert_fingerprint: format!("fp{key}"),
    };
    s.create_principal(Realm::Customer, &p, shomei_model::Actor::Cli, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn app(i: i64) -> BulkApp {
    BulkApp {
        kind: if i % 3 == 0 { "renewal" } else { "new" },
        service: if i % 2 == 0 { "SR3.0" } else { "EV2.0" },
        status: "completed",
        server_type: if i % 4 == 0 { "iis" } else { "nginx" },
        org_name: if i % 5 == 0 {
            "アルファ株式会社".into()
        } else {
            "Beta_100% Inc.".into()
        },
        names: vec![format!("www{i}.example.jp"), format!("shop{i}.example.jp")],
        created_at: NOW - (100 - i) * DAY,
        updated_at: NOW - (50 - i / 2) * DAY,
        downloaded: i % 2 == 1,
        coupon: (i % 7 == 0).then(|| format!("CPN-{i:04}")),
        contract: Some((NOW - (100 - i) * DAY, NOW + 300 * DAY)),
        cert: Some((NOW - (100 - i) * DAY, NOW + 100 * DAY)),
    }
}

fn all() -> Search {
    Search {
        past: false,
        dates: None,
        kind: None,
        service: None,
        downloaded: None,
        server_type: None,
        contains: vec![],
        sort: (SortKey::Applied, true),
        now: NOW,
        issued_cutoff: NOW - 2_000 * DAY,
    }
}

async fn ids(s: &Store, acct: i64, q: &Search) -> Vec<i64> {
    s.search_applications(acct, q, 0, 1000)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
        .iter()
        .map(|a| a.id)
        .collect()
}

#[tokio::test]
async fn r_ls_search_criteria_sort_and_paging() {
    for db in backends().await {
        let s = &db.store;
        let acct = account(s, "SEARCH01").await;
        let other = account(s, "SEARCH02").await;
        let rows: Vec<BulkApp> = (0..40).map(app).collect();
        let id = bulk_applications(s, acct, &rows)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        bulk_applications(s, other, &rows[..5])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let count = |q: Search| async move { ids(s, acct, &q).await.len() };

        assert_eq!(
            count(all()).await,
            40,
            "only this account's, on {}",
            db.name
        );
        // Each criterion alone.
        let q = Search {
            kind: Some(AppKind::Renewal),
            ..all()
        };
        assert_eq!(count(q).await, 14);
        let q = Search {
            service: Some(Service::Sr30),
            ..all()
        };
        assert_eq!(count(q).await, 20);
        let q = Search {
            downloaded: Some(true),
            ..all()
        };
        assert_eq!(count(q).await, 20);
        let q = Search {
            downloaded: Some(false),
            ..all()
        };
        assert_eq!(count(q).await, 20);
        let q = Search {
            server_type: Some(ServerType::Iis),
            ..all()
        };
        assert_eq!(count(q).await, 10);
        let q = Search {
            contains: vec![(TextField::OrgName, "アルファ".into())],
            ..all()
        };
        assert_eq!(count(q).await, 8);
        // Wildcards are literal, matching is case-insensitive.
        let q = Search {
            contains: vec![(TextField::OrgName, "_100%".into())],
            ..all()
        };
        assert_eq!(count(q).await, 32);
        let q = Search {
            contains: vec![(TextField::OrgName, "beta".into())],
            ..all()
        };
        assert_eq!(count(q).await, 32);
        let q = Search {
            contains: vec![
                (TextField::OrgName, "%".into()),
                (TextField::OrgName, "x%y".into()),
            ],
            ..all()
        };
        assert_eq!(count(q).await, 0);
        let q = Search {
            contains: vec![(TextField::ServerName, "shop12.".into())],
            ..all()
        };
        assert_eq!(
            ids(s, acct, &q).await,
            vec![id[12]],
            "any DNS name of the record"
        );
        let q = Search {
            contains: vec![(TextField::Coupon, "cpn-0014".into())],
            ..all()
        };
        assert_eq!(ids(s, acct, &q).await, vec![id[14]]);
        let code = s
            .application(id[3])
            .await
            .ok()
            .flatten()
            .and_then(|a| a.contract_code)
            .unwrap_or_default();
        let q = Search {
            contains: vec![(TextField::ContractCode, code)],
            ..all()
        };
        assert_eq!(ids(s, acct, &q).await, vec![id[3]]);
        // Dates: お申込日 from/to (to exclusive), 更新日.
        let q = Search {
            dates: Some((
                DateKind::Applied,
                Some(NOW - 70 * DAY),
                Some(NOW - 60 * DAY),
            )),
            ..all()
        };
        assert_eq!(count(q).await, 10);
        let q = Search {
            dates: Some((DateKind::Updated, Some(NOW - 31 * DAY), None)),
            ..all()
        };
        assert_eq!(count(q).await, 2, "updated_at of i = 38, 39");
        // Combined: かつ.
        let q = Search {
            service: Some(Service::Sr30),
            server_type: Some(ServerType::Iis),
            contains: vec![
                (TextField::OrgName, "アルファ".into()),
                (TextField::ServerName, "www20".into()),
            ],
            ..all()
        };
        assert_eq!(ids(s, acct, &q).await, vec![id[20]]);

        // Sorts, both ways (ties broken by id the same way).
        let asc = ids(
            s,
            acct,
            &Search {
                sort: (SortKey::Applied, false),
                ..all()
            },
        )
        .await;
        let desc = ids(
            s,
            acct,
            &Search {
                sort: (SortKey::Applied, true),
                ..all()
            },
        )
        .await;
        assert_eq!(asc, id);
        assert_eq!(desc, id.iter().rev().copied().collect::<Vec<_>>());
        for key in [
            SortKey::Updated,
            SortKey::Service,
            SortKey::Status,
            SortKey::Kind,
            SortKey::Validity,
            SortKey::Contract,
            SortKey::OrgName,
            SortKey::Server,
        ] {
            let a = ids(
                s,
                acct,
                &Search {
                    sort: (key, false),
                    ..all()
                },
            )
            .await;
            let d = ids(
                s,
                acct,
                &Search {
                    sort: (key, true),
                    ..all()
                },
            )
            .await;
            assert_eq!(a.len(), 40);
            assert_eq!(
                a,
                d.iter().rev().copied().collect::<Vec<_>>(),
                "{key:?} both ways on {}",
                db.name
            );
        }
        let by_org = s
            .search_applications(
                acct,
                &Search {
                    sort: (SortKey::OrgName, false),
                    ..all()
                },
                0,
                1,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            by_org.items[0]
                .details
                .organisation
                .name
                .starts_with("Beta")
        );
        // Coupons: "none" is the smallest value, the same on every backend.
        let c = ids(
            s,
            acct,
            &Search {
                sort: (SortKey::Coupon, true),
                ..all()
            },
        )
        .await;
        assert_eq!(&c[..6], &[id[35], id[28], id[21], id[14], id[7], id[0]]);
        let c = ids(
            s,
            acct,
            &Search {
                sort: (SortKey::Coupon, false),
                ..all()
            },
        )
        .await;
        assert_eq!(&c[34..], &[id[0], id[7], id[14], id[21], id[28], id[35]]);

        // Paging: 20 a page, the total counts all.
        let p2 = s
            .search_applications(
                acct,
                &Search {
                    sort: (SortKey::Applied, false),
                    ..all()
                },
                20,
                20,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p2.total, 40);
        assert_eq!(p2.items.first().map(|a| a.id), Some(id[20]));
        assert_eq!(p2.items.len(), 20);
    }
}

/// R-LS1 at its exact boundary, and R-LS4 current / past.
#[tokio::test]
async fn r_ls1_boundary_and_r_ls4_past() {
    for db in backends().await {
        let s = &db.store;
        let acct = account(s, "SEARCH03").await;
        let cutoff = NOW - 2_280 * DAY;
        let mk = |issued: i64, ends: i64, status: &'static str| BulkApp {
            status,
            contract: Some((issued, ends)),
            cert: Some((issued, issued + 300 * DAY)),
            ..app(1)
        };
        let id = bulk_applications(
            s,
            acct,
            &[
                mk(cutoff, NOW + DAY, "completed"), // issued exactly 75 months ago
                mk(cutoff + 1, NOW + DAY, "completed"), // one second later
                mk(NOW - DAY, NOW - 1, "completed"), // contract ended
                BulkApp {
                    status: "withdrawn",
                    contract: None,
                    cert: None,
                    ..app(2)
                },
                BulkApp {
                    status: "received",
                    contract: None,
                    cert: None,
                    ..app(3)
                },
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let q = Search {
            issued_cutoff: cutoff,
            sort: (SortKey::Applied, false),
            ..all()
        };
        let mut current = ids(s, acct, &q).await;
        current.sort_unstable();
        assert_eq!(
            current,
            vec![id[1], id[4]],
            "R-LS1 boundary and R-LS4 on {}",
            db.name
        );
        let mut past = ids(s, acct, &Search { past: true, ..q }).await;
        past.sort_unstable();
        assert_eq!(past, vec![id[2], id[3]], "ended contract, withdrawn");
    }
}

/// Issue #8 item 4: a rejected application stays in the current list for 30 days after
/// its rejection (so the customer sees it and its reason), then moves to the past list;
/// a withdrawn one is past at once.
#[tokio::test]
async fn r_ls4_issue8_item4_rejected_kept_in_the_list_for_30_days() {
    for db in backends().await {
        let acct = account(&db.store, "REJ00001").await;
        let mk = |status: &'static str, updated_days_ago: i64| BulkApp {
            status,
            contract: None,
            cert: None,
            updated_at: NOW - updated_days_ago * DAY,
            ..app(1)
        };
        let ids_in = bulk_applications(
            &db.store,
            acct,
            &[mk("rejected", 29), mk("rejected", 31), mk("withdrawn", 1)],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let current = ids(&db.store, acct, &all()).await;
        let past = ids(
            &db.store,
            acct,
            &Search {
                past: true,
                ..all()
            },
        )
        .await;
        assert_eq!(current, vec![ids_in[0]], "{}", db.name);
        let mut p = past.clone();
        p.sort_unstable();
        assert_eq!(p, vec![ids_in[1], ids_in[2]]);
    }
}

/// Issue #11 item 5: the total behind "N件" is kept between requests, yet it is always
/// the count the query gives: after a record is added or changes, after a contract ends,
/// when a rejected record's 30 days are over, when a certificate passes the 75-month
/// cut-off (R-LS1), and when the clock goes back. The current and the past list alike.
#[tokio::test]
async fn issue11_kept_totals_are_always_exact() {
    for db in backends().await {
        let s = &db.store;
        let acct = account(s, "COUNT001").await;
        let cutoff = |t: i64| t - 2_280 * DAY;
        let mk = |contract_end: i64, status: &'static str, updated: i64, issued: i64| BulkApp {
            status,
            updated_at: updated,
            contract: Some((issued, contract_end)),
            cert: Some((issued, issued + 300 * DAY)),
            ..app(1)
        };
        let rows = [
            // Its contract ends in 10 days.
            mk(NOW + 10 * DAY, "completed", NOW - DAY, NOW - 50 * DAY),
            // Rejected 25 days ago: current for 5 more days.
            BulkApp {
                contract: None,
                cert: None,
                ..mk(0, "rejected", NOW - 25 * DAY, 0)
            },
            // Issued 75 months less 3 days ago: shown for 3 more days.
            mk(
                NOW + 400 * DAY,
                "completed",
                NOW - DAY,
                cutoff(NOW) + 3 * DAY,
            ),
            mk(NOW + 400 * DAY, "completed", NOW - DAY, NOW - 10 * DAY),
        ];
        bulk_applications(s, acct, &rows)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let check = |at: i64, past: bool, what: &'static str| {
            let q = Search {
                past,
                now: at,
                issued_cutoff: cutoff(at),
                ..all()
            };
            async move {
                // Twice: the second total is the kept one.
                for _ in 0..2 {
                    let page = s
                        .search_applications(acct, &q, 0, 1000)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    let one = s
                        .search_applications(acct, &q, 0, 1)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(
                        (page.total, one.total),
                        (page.items.len() as i64, page.items.len() as i64),
                        "{what} (past: {past}) on {}",
                        db.name
                    );
                }
                page_len(s, acct, &q).await
            }
        };
        let mut seen = Vec::new();
        for (at, what) in [
            (NOW, "now"),
            (NOW + 2 * DAY, "two days on"),
            (NOW + 3 * DAY + 1, "a certificate past the cut-off"),
            (NOW + 5 * DAY + 1, "the rejected record's 30 days over"),
            (NOW + 10 * DAY + 1, "a contract ended"),
            (NOW, "the clock back"),
        ] {
            seen.push((check(at, false, what).await, check(at, true, what).await));
        }
        assert_eq!(
            seen,
            vec![(4, 0), (4, 0), (3, 0), (2, 1), (1, 2), (4, 0)],
            "{}",
            db.name
        );
        // A new record, then a change to one: the totals follow at once.
        bulk_applications(s, acct, &[mk(NOW + 400 * DAY, "completed", NOW, NOW)])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check(NOW, false, "a new record").await, 5);
        sqlx::query("UPDATE applications SET status = 'withdrawn' WHERE account_id = $1 AND status = 'rejected'")
            .bind(acct)
            .execute(s.pool())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check(NOW, false, "a record withdrawn").await, 4);
        assert_eq!(check(NOW, true, "a record withdrawn").await, 1);
    }
}

async fn page_len(s: &Store, acct: i64, q: &Search) -> i64 {
    s.search_applications(acct, q, 0, 1000)
        .await
        .map(|p| p.total)
        .unwrap_or(-1)
}
