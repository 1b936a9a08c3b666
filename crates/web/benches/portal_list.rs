//! Issue #11 item 5: the portal's application list under load. One account with N
//! applications (default 100,000); S customer sessions (default 32), each logged in
//! through the portal (client certificate, access key, password), ask for the list page
//! in a closed loop for D seconds (default 10) through the portal's router — the whole
//! request path (session, authorisation, the search through the RA, the template) but
//! not TLS or sockets. Every answer must be 200 and show the newest application; anything
//! else fails the run. Prints requests per second and the latency p50 / p99 / max, SQLite
//! and, when `SHOMEI_TEST_POSTGRES_URL` is set, PostgreSQL. Timings assert nothing.
//!
//! `cargo bench -p shomei-web --bench portal_list -- 100000 32 10`
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../tests/common/mod.rs"]
mod common;

use axum::http::StatusCode;
use std::time::{Duration, Instant};

const NOW: i64 = 1_795_000_000;

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let n = args.next().unwrap_or(100_000) as i64;
    let sessions = args.next().unwrap_or(32).max(1) as usize;
    let secs = args.next().unwrap_or(10).max(1);
    let mut dbs = vec![shomei_store::testing::sqlite().await];
    if let Some(pg) = shomei_store::testing::postgres().await {
        dbs.push(pg);
    }
    let mut failed = false;
    for db in dbs {
        let at = time::OffsetDateTime::from_unix_timestamp(NOW).unwrap();
        let (ra, _clock, _pki) = shomei_ra::testing::ra(db.store.clone(), at);
        let account = common::account(&ra, "負荷試験株式会社").await;
        let t = Instant::now();
        let rows: Vec<_> = (0..n)
            .map(|i| shomei_store::testing::sample_app(i, n, NOW))
            .collect();
        shomei_store::testing::bulk_applications(&db.store, account.id, &rows)
            .await
            .expect("fill");
        db.store.optimize().await.ok();
        let filled = t.elapsed();

        // S sessions: the first login changes the initial password, the others log in
        // with the new one.
        let mut clients = vec![common::logged_in(&ra, &account).await];
        while clients.len() < sessions {
            let mut cl = common::Client {
                app: common::portal(&ra),
                cert: Some(common::cert_of(&account)),
                cookie: String::new(),
                csrf: String::new(),
            };
            let r = cl
                .post(
                    "/login",
                    &[
                        ("login", &account.login),
                        ("password", "Sakura-2026-blossom"),
                    ],
                )
                .await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "login: {}", r.body);
            clients.push(cl);
        }
        // The newest application the list shows (withdrawn ones are not listed).
        let shown = (0..n).rev().find(|i| i % 5 != 4).unwrap_or(0);
        let newest = format!("www{shown}.example.jp");
        let deadline = Instant::now() + Duration::from_secs(secs);
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|mut cl| {
                let newest = newest.clone();
                tokio::spawn(async move {
                    let (mut lat, mut wrong) = (Vec::new(), 0usize);
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let r = cl.get("/applications").await;
                        lat.push(t.elapsed());
                        if r.status != StatusCode::OK || !r.body.contains(&newest) {
                            if wrong == 0 {
                                eprintln!(
                                    "wrong answer: {} {}",
                                    r.status,
                                    r.body.chars().take(300).collect::<String>()
                                );
                            }
                            wrong += 1;
                        }
                    }
                    (lat, wrong)
                })
            })
            .collect();
        let (mut lat, mut wrong) = (Vec::new(), 0);
        for t in tasks {
            let (l, w) = t.await.expect("session");
            lat.extend(l);
            wrong += w;
        }
        lat.sort();
        println!(
            "{:<8} list page of an account with {n} applications, {sessions} sessions for {secs} s: {} pages, {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {wrong} wrong answers; filled in {:.1} s; peak RSS {:.0} MB",
            db.name,
            lat.len(),
            lat.len() as f64 / secs as f64,
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            pct(&lat, 1.0),
            filled.as_secs_f64(),
            rss_mb(),
        );
        if wrong > 0 || lat.is_empty() {
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
