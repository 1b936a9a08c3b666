//! Issue #11 item 2: how long signing every CRL shard takes, and the memory it needs,
//! with N revoked certificates spread over the shards (SQLite; PostgreSQL too when
//! `SHOMEI_TEST_POSTGRES_URL` is set). Prints figures; asserts nothing.
//!
//! `cargo bench -p shomei-ra --bench crl -- 1000000` (default 100000 entries, 16 shards).
//! Compare with `openssl ca -gencrl` over an index of the same size: `.ci/bench.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;
use support::rss_kb;
use time::macros::datetime;

mod support;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let mut dbs = vec![shomei_store::testing::sqlite().await];
    if let Some(pg) = shomei_store::testing::postgres().await {
        dbs.push(pg);
    }
    for db in dbs {
        let (mut ra, clock, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        ra.policy.crl_shards = 16;
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .expect("staff");
        let (_, app) = shomei_ra::testing::issued(
            &ra,
            staff.id,
            include_str!("../../ca/tests/data/rsa2048.csr"),
        )
        .await;
        let t = Instant::now();
        shomei_store::testing::bulk_revoked(
            &db.store,
            app,
            n,
            16,
            ra.now() - 3600,
            ra.now() + 86_400 * 90,
        )
        .await
        .expect("fill");
        let fill = t.elapsed();
        db.store.optimize().await.ok();
        clock.advance(time::Duration::minutes(1));
        let before = rss_kb("VmRSS:");
        let t = Instant::now();
        let signed = ra.refresh_crl().await.expect("crl");
        let took = t.elapsed();
        let peak = rss_kb("VmHWM:");
        let mut bytes = 0;
        for s in 0..16 {
            bytes += ra
                .current_shard_crl(s)
                .await
                .ok()
                .flatten()
                .map(|c| c.der.len())
                .unwrap_or(0);
        }
        println!(
            "{:<8} {n} revoked in 16 shards (filled in {:.1?}): {signed} CRLs signed in {:.2} s, {:.1} MB of CRLs; RSS before {:.0} MB, peak {:.0} MB",
            db.name,
            fill,
            took.as_secs_f64(),
            bytes as f64 / 1e6,
            before as f64 / 1024.0,
            peak as f64 / 1024.0
        );
    }
}
