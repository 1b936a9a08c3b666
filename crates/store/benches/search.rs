//! Search latency (issue #4): 100,000 applications in one account, then the list and
//! search queries a customer runs (first page, a deep page, every sort, filters, two
//! "contains" conditions), each timed end to end through the store (page + total).
//! Prints p50 / p99 / max per backend. Figures go to docs/performance.md.
//!
//! `cargo bench -p shomei-store --bench search` (SQLite), and with
//! `SHOMEI_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test` PostgreSQL too.
//! `SEARCH_BENCH_N` changes the number of applications.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shomei_model::{AppKind, ServerType, Service};
use shomei_store::principals::{NewPrincipal, Realm};
use shomei_store::search::{DateKind, Search, SortKey, TextField};
use shomei_store::testing::{BulkApp, TestDb, bulk_applications, postgres, sqlite};
use std::time::{Duration, Instant};

const DAY: i64 = 86_400;
const NOW: i64 = 1_795_000_000;

fn base() -> Search {
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
        issued_cutoff: NOW - 2_280 * DAY,
    }
}

fn queries() -> Vec<(&'static str, Search, i64)> {
    let mut q = vec![
        ("list, page 1", base(), 0),
        ("list, page 200", base(), 200 * 20),
        (
            "past contracts",
            Search {
                past: true,
                ..base()
            },
            0,
        ),
        (
            "org contains, sorted by org",
            Search {
                contains: vec![(TextField::OrgName, "組織0042".into())],
                sort: (SortKey::OrgName, false),
                ..base()
            },
            0,
        ),
        (
            "server contains + contract contains",
            Search {
                contains: vec![
                    (TextField::ServerName, "api123".into()),
                    (TextField::ContractCode, "B".into()),
                ],
                ..base()
            },
            0,
        ),
        (
            "filters combined, by update date",
            Search {
                dates: Some((
                    DateKind::Updated,
                    Some(NOW - 400 * DAY),
                    Some(NOW - 100 * DAY),
                )),
                kind: Some(AppKind::Renewal),
                service: Some(Service::Sr30),
                downloaded: Some(false),
                server_type: Some(ServerType::Nginx),
                ..base()
            },
            0,
        ),
    ];
    for (name, key) in [
        ("sort: validity", SortKey::Validity),
        ("sort: contract", SortKey::Contract),
        ("sort: server", SortKey::Server),
        ("sort: status", SortKey::Status),
        ("sort: coupon", SortKey::Coupon),
    ] {
        q.push((
            name,
            Search {
                sort: (key, false),
                ..base()
            },
            0,
        ));
    }
    q
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

async fn run(db: TestDb, n: i64) {
    let s = &db.store;
    let p = NewPrincipal {
        login: "BENCH001".into(),
        name: "Bench".into(),
        email: "bench@example.jp".into(),
        dealer_code: None,
        password_hash: "$argon2id$fake".into(),
        password_expires_at: 0,
        cert_serial: "5a01".into(),
        cert_subject: "CN=bench".into(),
        cert_fingerprint: "fp".into(),
    };
    let acct = s
        .create_principal(Realm::Customer, &p, shomei_model::Actor::Cli, 0)
        .await
        .unwrap();
    let t = Instant::now();
    let rows: Vec<BulkApp> = (0..n)
        .map(|i| shomei_store::testing::sample_app(i, n, NOW))
        .collect();
    bulk_applications(s, acct, &rows).await.unwrap();
    println!(
        "{}: {n} applications inserted in {:.1?}",
        db.name,
        t.elapsed()
    );
    // What the daily maintenance (and PostgreSQL's autovacuum) does.
    s.optimize().await.unwrap();
    let mut all = Vec::new();
    for (name, q, offset) in queries() {
        // Warm once, then time.
        s.search_applications(acct, &q, offset, 20).await.unwrap();
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..20 {
            let t = Instant::now();
            let r = s.search_applications(acct, &q, offset, 20).await.unwrap();
            times.push(t.elapsed());
            total = r.total;
        }
        all.extend(times.iter().copied());
        let (p50, p99) = (pct(&mut times, 0.5), pct(&mut times, 0.99));
        println!(
            "{:>9} {:<38} matches {:>6}  p50 {:>7.2} ms  p99 {:>7.2} ms",
            db.name,
            name,
            total,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    let (p50, p99, max) = (pct(&mut all, 0.5), pct(&mut all, 0.99), pct(&mut all, 1.0));
    println!(
        "{:>9} ALL ({} timed queries)                 p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        db.name,
        all.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() {
    let n: i64 = std::env::var("SEARCH_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    run(sqlite().await, n).await;
    if let Some(pg) = postgres().await {
        run(pg, n).await;
    }
}
