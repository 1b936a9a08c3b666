//! Issue #11 item 4 through ACME: durable issuance measured at the finalize request
//! (RFC 8555 7.4) — JWS checked, nonce spent, the order's names and the CSR checked,
//! CAA looked up from every perspective, then the RA's single issuance path (serial and
//! linted TBS committed → signed → certificate, ACME 発行 record, audit committed, OCSP
//! pre-built) — N finalize requests for ready orders, C at a time (default 2,000 and
//! 32), SQLite and, with `SHOMEI_TEST_POSTGRES_URL`, PostgreSQL. The requests go
//! through the ACME router in process; the domain was validated once by dns-01 against
//! a real DNS server on loopback, and every order reuses that authorization. Orders and
//! CSRs (fresh P-256 keys) are made before the clock starts. Prints certificates per
//! second and the latency of each finalize (p50, p99, max). Checks after: every answer
//! `valid` with its certificate, every certificate downloaded with a distinct serial,
//! the audit chain intact — a wrong answer fails the bench. Timings assert nothing.
//!
//! `cargo bench -p shomei-acme --bench finalize -- 2000 32`
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/account.rs"]
#[allow(dead_code, unused_imports)]
mod account;
#[path = "../tests/orders.rs"]
#[allow(dead_code, unused_imports)]
mod orders;

use account::{BASE, jws};
use shomei_ra::acme_orders::RateLimits;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The binary's allocator (crates/shomei/src/main.rs), so the figures stand for it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let n = args.next().unwrap_or(2_000);
    let concurrency = args.next().unwrap_or(32).max(1);
    let mut dbs = vec![shomei_store::testing::sqlite().await];
    if let Some(pg) = shomei_store::testing::postgres().await {
        dbs.push(pg);
    }
    let mut failed = false;
    for db in dbs {
        // Rate limits out of the way: the bench orders far more than an hour allows.
        let limits = RateLimits {
            orders_per_account: i64::MAX / 2,
            orders_per_contract: i64::MAX / 2,
            ..RateLimits::default()
        };
        let (c, zone, _ra, kid, hmac, _code, _account, _clock) =
            orders::setup(&db, limits, "1", None).await;
        let c: &'static account::Client = Box::leak(Box::new(c));
        let a = Arc::new(orders::register(c, &kid, &hmac).await);
        let names = ["www.example.jp"];
        let ids = orders::identifiers(&names);
        // The domain validated once (dns-01); later orders reuse the authorization.
        let o = a.post("/acme/new-order", &ids).await;
        let authz = o.body["authorizations"][0].as_str().unwrap().to_owned();
        let r = orders::pass_dns01(&a, &zone, &authz, names[0]).await;
        assert_eq!(r.body["status"], "valid", "{}", r.body);
        let t = Instant::now();
        let mut ready = Vec::with_capacity(n);
        for _ in 0..n {
            let o = a.post("/acme/new-order", &ids).await;
            assert_eq!(o.body["status"], "ready", "{}", o.body);
            let finalize = o.body["finalize"].as_str().unwrap().to_owned();
            let payload = serde_json::json!({ "csr": orders::csr(&names) }).to_string();
            ready.push((finalize, payload));
        }
        let prepared = t.elapsed();

        let ready = Arc::new(ready);
        let next = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (a, ready, next) = (a.clone(), ready.clone(), next.clone());
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((finalize, payload)) = ready.get(i) else {
                            break;
                        };
                        let nonce = a.c.nonce().await;
                        let protected = serde_json::json!({ "alg": "ES256", "nonce": nonce, "url": finalize, "kid": a.url });
                        let body = jws(&a.key, protected, payload);
                        let started = Instant::now();
                        let r = a.c.post(finalize.trim_start_matches(BASE), body).await;
                        let took = started.elapsed();
                        let cert = (r.status.is_success() && r.body["status"] == "valid")
                            .then(|| r.body["certificate"].as_str().map(str::to_owned))
                            .flatten();
                        if cert.is_none() {
                            eprintln!("finalize failed: {} {}", r.status, r.text);
                        }
                        out.push((took, cert));
                    }
                    out
                })
            })
            .collect();
        let mut results = Vec::with_capacity(n);
        for w in workers {
            results.extend(w.await.unwrap());
        }
        let took = t.elapsed();

        let mut latencies: Vec<Duration> = results.iter().map(|r| r.0).collect();
        latencies.sort();
        let certs: Vec<String> = results.into_iter().filter_map(|r| r.1).collect();
        let errors = n - certs.len();
        // Every certificate downloaded; every serial distinct.
        let mut serials = HashSet::new();
        for url in &certs {
            let r = a.get(url).await;
            let der = pem_certificate(&r.text);
            let serial = x509_parser::parse_x509_certificate(&der)
                .map(|(_, x)| x.raw_serial().to_vec())
                .unwrap_or_default();
            serials.insert(serial);
        }
        let chain = db.store.verify_audit_chain().await;
        println!(
            "{:<8} ACME finalize of {n} at {concurrency} concurrent: {:.2} s, {:.0} certificates/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {errors} errors, {} distinct serials downloaded, audit chain {} ({n} ready orders made in {:.1} s)",
            db.name,
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            pct(&latencies, 0.5),
            pct(&latencies, 0.99),
            pct(&latencies, 1.0),
            serials.len(),
            if matches!(chain, Ok(Ok(_))) {
                "intact"
            } else {
                "BROKEN"
            },
            prepared.as_secs_f64(),
        );
        if errors > 0 || serials.len() != n || !matches!(chain, Ok(Ok(_))) {
            failed = true;
        }
    }
    if failed {
        eprintln!("wrong answers: see above");
        std::process::exit(1);
    }
}

/// The first certificate of a PEM chain, DER.
fn pem_certificate(chain: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = chain
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END CERTIFICATE-----").next())
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap_or_default()
}
