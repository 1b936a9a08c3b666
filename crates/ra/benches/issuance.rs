//! Issue #11 item 4: durable issuance through the RA's single issuance path
//! ([`shomei_ra::Ra::issue`]: CSR checks → serial stored → lint → TBS stored → sign →
//! certificate, contract, 完了, audit and notice committed → OCSP pre-built), N
//! applications awaiting their certificate, C concurrent issuances (default 20,000 and
//! 32). Prints certificates per second and the latency of each issuance (p50, p99,
//! max), SQLite and, when `SHOMEI_TEST_POSTGRES_URL` is set, PostgreSQL. Checks after:
//! every application 完了 with its own serial, every serial distinct, every certificate
//! answering "good" from OCSP, the audit chain intact — a wrong answer fails the bench.
//! Timings assert nothing.
//!
//! `cargo bench -p shomei-ra --bench issuance -- 20000 32`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shomei_ra::ocsp_memory::OcspReply;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{ocsp_status, pct, rss_mb};
use time::macros::datetime;

mod support;

/// The binary's allocator (crates/shomei/src/main.rs), so the figures stand for it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU seconds this process used so far (user + system).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the ")".
    (ticks(11) + ticks(12)) / 100.0
}

/// Context switches so far (voluntary + involuntary) of this process's threads, by
/// thread name: each is a thread put to sleep or pre-empted, most of them a hand-off
/// between threads (a task woken on another thread, a job handed to a pool).
fn switches() -> std::collections::BTreeMap<String, u64> {
    let mut by = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by;
    };
    for t in tasks.flatten() {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let mut name = String::new();
        let mut n = 0;
        for line in status.lines() {
            if let Some(v) = line.strip_prefix("Name:") {
                name = v.trim().to_owned();
            } else if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                n += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
        *by.entry(name).or_insert(0) += n;
    }
    by
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let n = args.next().unwrap_or(20_000);
    let concurrency = args.next().unwrap_or(32).max(1);
    let mut dbs = vec![shomei_store::testing::sqlite().await];
    if let Some(pg) = shomei_store::testing::postgres().await {
        dbs.push(pg);
    }
    let mut failed = false;
    for db in dbs {
        let (ra, _clock, pki) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-30 10:00:00 UTC));
        let issuer = shomei_ca::pki::pem_to_der(&pki.server_ca.cert_pem, "CERTIFICATE").unwrap();
        let staff = ra
            .create_staff("bench", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .expect("staff");
        let csr = include_str!("../../ca/tests/data/rsa2048.csr");
        // One real record through the portal's path and the desk's approval, then N
        // copies of it waiting for their certificate (審査中).
        let (account, first) = shomei_ra::testing::issued(&ra, staff.id, csr).await;
        let ids = shomei_store::testing::clone_application(&db.store, first, n, "under_review")
            .await
            .expect("fill");
        // db.store.optimize().await.ok();

        let next = Arc::new(AtomicUsize::new(0));
        let ids = Arc::new(ids);
        let (t, cpu0, sw0) = (Instant::now(), cpu_secs(), switches());
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (ra, next, ids) = (ra.clone(), next.clone(), ids.clone());
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&id) = ids.get(i) else { break };
                        let t = Instant::now();
                        let r = ra.issue(id, shomei_model::Actor::System).await;
                        out.push((
                            id,
                            t.elapsed(),
                            r.map(|i| i.serial).map_err(|e| e.to_string()),
                        ));
                    }
                    out
                })
            })
            .collect();
        let mut results = Vec::with_capacity(n);
        for w in workers {
            results.extend(w.await.expect("worker"));
        }
        let took = t.elapsed();
        let cores = (cpu_secs() - cpu0) / took.as_secs_f64();
        let peak = rss_mb("VmHWM:");
        // Threads that ended during the run are not counted (none do: the pools keep
        // theirs for longer than a run).
        let per_cert: Vec<String> = switches()
            .into_iter()
            .map(|(name, n)| (n.saturating_sub(sw0.get(&name).copied().unwrap_or(0)), name))
            .filter(|(n, _)| *n > 0)
            .map(|(d, name)| format!("{name} {:.1}", d as f64 / n as f64))
            .collect();

        // Every one issued once, with its own serial, answering "good".
        let mut lat: Vec<Duration> = results.iter().map(|r| r.1).collect();
        lat.sort();
        let errors: Vec<&String> = results.iter().filter_map(|r| r.2.as_ref().err()).collect();
        let serials: Vec<&String> = results.iter().filter_map(|r| r.2.as_ref().ok()).collect();
        let distinct: HashSet<&&String> = serials.iter().collect();
        let mut not_good = 0;
        for s in &serials {
            let req = shomei_ca::ocsp::request(
                &issuer,
                &hex::decode(s).unwrap(),
                shomei_ca::ocsp::HashAlg::Sha1,
            )
            .unwrap();
            match ra.ocsp_reply(&req).await {
                OcspReply::Signed(r)
                    if matches!(ocsp_status(&r.der), Some(x509_ocsp::CertStatus::Good(_))) => {}
                _ => not_good += 1,
            }
        }
        let completed = {
            let mut done = 0;
            for id in ids.iter() {
                let app = db.store.application(*id).await.unwrap().unwrap();
                if app.status == shomei_model::AppStatus::Completed {
                    done += 1;
                }
            }
            done
        };
        let chain = db.store.verify_audit_chain().await;
        println!(
            "{:<8} issuance of {n} at {concurrency} concurrent: {:.2} s, {:.0} certificates/s ({cores:.2} cores busy); latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; peak RSS {:.0} MB; {} errors, {} distinct serials, {completed} 完了, OCSP good for {}, audit chain {}",
            db.name,
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            pct(&lat, 1.0),
            peak,
            errors.len(),
            distinct.len(),
            serials.len() - not_good,
            if matches!(chain, Ok(Ok(_))) {
                "intact"
            } else {
                "BROKEN"
            },
        );
        println!(
            "{:<8} context switches per certificate, by thread: {}",
            db.name,
            per_cert.join(", ")
        );
        let _ = account;
        if !errors.is_empty()
            || distinct.len() != n
            || completed != n
            || not_good > 0
            || !matches!(chain, Ok(Ok(_)))
        {
            eprintln!("WRONG: {:?}", errors.first());
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
