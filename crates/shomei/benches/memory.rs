//! Issue #11 item 6: memory and start-up of the real `shomei serve` holding the OCSP
//! responses of N certificates (default 100,000). A data directory gets one certificate
//! through `contract import`, then N more issued certificates with their stored "good"
//! responses, signed by the directory's own responder — the state issuance leaves. Then
//! `serve` starts: how long until OCSP answers, how long until all N + 1 responses are in
//! memory, its resident memory after the fill and after 5 seconds of OCSP requests for
//! random serials from 8 keep-alive clients, and its second start on the same data
//! directory. Every answer must be the stored response's bytes, else the run fails.
//!
//! `cargo bench -p shomei --bench memory -- 100000`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shomei_ca::ocsp::{HashAlg, OcspResponder, Status};
use shomei_store::ocsp::StoredOcsp;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::request;
use tokio::net::TcpStream;

mod support;

fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn ocsp_head(public: u16, len: usize) -> String {
    format!(
        "POST /ocsp/server HTTP/1.1\r\nHost: 127.0.0.1:{public}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// Waits until the public listener answers an OCSP request with 200; returns when.
async fn until_answering(public: u16, req: &[u8], from: Instant) -> Duration {
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", public)).await
            && request(&mut s, &ocsp_head(public, req.len()), req)
                .await
                .is_some_and(|r| r.0 == 200)
        {
            return from.elapsed();
        }
        assert!(
            from.elapsed() < Duration::from_secs(60),
            "serve never answered"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until the log says how many responses memory holds; returns (count, when).
async fn until_filled(log: &Path, from: Instant) -> (u64, Duration) {
    loop {
        // The log's colours (escape sequences) dropped.
        let raw = std::fs::read_to_string(log).unwrap_or_default();
        let mut text = String::with_capacity(raw.len());
        let mut escape = false;
        for ch in raw.chars() {
            match (escape, ch) {
                (false, '\u{1b}') => escape = true,
                (true, 'm') => escape = false,
                (true, _) => {}
                (false, c) => text.push(c),
            }
        }
        if let Some(line) = text
            .lines()
            .find(|l| l.contains("OCSP responses in memory"))
        {
            let n = line
                .split("n=")
                .nth(1)
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| {
                    v.trim_end_matches(|c: char| !c.is_ascii_digit())
                        .parse()
                        .ok()
                })
                .unwrap_or(0);
            return (n, from.elapsed());
        }
        assert!(
            from.elapsed() < Duration::from_secs(120),
            "memory never filled: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let setup = support::setup(&d);
    let pki = d.join("data").join("pki");
    let read = |f: &str| std::fs::read_to_string(pki.join(f)).unwrap();
    let issuer_der = shomei_ca::pki::pem_to_der(&read("server-ca.crt"), "CERTIFICATE").unwrap();
    let responder =
        OcspResponder::from_pem(&read("server-ca.crt"), &read("ocsp.crt"), &read("ocsp.key"))
            .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // N issued certificates with their stored responses.
        let t = Instant::now();
        let url = format!("sqlite:{}?mode=rwc", d.join("data").join("shomei.db").display());
        let store = shomei_store::Store::connect(&url).await.unwrap();
        let app: i64 = sqlx::query_scalar("SELECT MIN(id) FROM applications")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let serials = shomei_store::testing::bulk_issued(
            &store,
            app,
            n,
            16,
            &"ab".repeat(32),
            now + 90 * 86_400,
        )
        .await
        .unwrap();
        let mut stored = std::collections::HashMap::new();
        for chunk in serials.chunks(5_000) {
            let list: Vec<(String, StoredOcsp)> = chunk
                .iter()
                .map(|s| {
                    let der = responder
                        .respond(HashAlg::Sha1, &hex::decode(s).unwrap(), Status::Good, now, now + 4 * 86_400)
                        .unwrap();
                    (
                        s.clone(),
                        StoredOcsp {
                            der,
                            this_update: now,
                            next_update: now + 4 * 86_400,
                            revoked: false,
                        },
                    )
                })
                .collect();
            store.save_ocsp_many("server", &list).await.unwrap();
            for (s, o) in list {
                stored.insert(s, o.der);
            }
        }
        store.pool().close().await;
        let filled_db = t.elapsed();

        // The first start after the fill.
        let cert = std::fs::read_to_string(&setup.cert).unwrap();
        let der = shomei_ca::pki::pem_to_der(&cert, "CERTIFICATE").unwrap();
        let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
        let req = shomei_ca::ocsp::request(&issuer_der, x.raw_serial(), HashAlg::Sha1).unwrap();
        let log = d.join("serve.log");
        let t = Instant::now();
        let server = support::serve(&d, "info", &log);
        let pid = server.0.id();
        let answering = until_answering(setup.public, &req, t).await;
        let (in_memory, filled) = until_filled(&log, t).await;
        let rss_filled = status_kb(pid, "VmRSS:");

        // 5 seconds of requests for random serials, each answer checked byte for byte.
        let serials = Arc::new(serials);
        let stored = Arc::new(stored);
        let (answers, wrong) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut tasks = Vec::new();
        for c in 0..8u64 {
            let (serials, stored, answers, wrong, issuer) =
                (serials.clone(), stored.clone(), answers.clone(), wrong.clone(), issuer_der.clone());
            let public = setup.public;
            tasks.push(tokio::spawn(async move {
                let mut s = TcpStream::connect(("127.0.0.1", public)).await.unwrap();
                let mut k = c.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                while Instant::now() < deadline {
                    k ^= k << 13;
                    k ^= k >> 7;
                    k ^= k << 17;
                    let serial = &serials[(k % serials.len() as u64) as usize];
                    let req = shomei_ca::ocsp::request(&issuer, &hex::decode(serial).unwrap(), HashAlg::Sha1).unwrap();
                    match request(&mut s, &ocsp_head(public, req.len()), &req).await {
                        Some((200, body)) if stored.get(serial).is_some_and(|d| *d == body) => {
                            answers.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            wrong.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let rss_load = status_kb(pid, "VmRSS:");
        let peak = status_kb(pid, "VmHWM:");
        drop(server);

        // The second start on the same data directory.
        let t = Instant::now();
        let log2 = d.join("serve2.log");
        let server = support::serve(&d, "info", &log2);
        let answering2 = until_answering(setup.public, &req, t).await;
        let (in_memory2, filled2) = until_filled(&log2, t).await;
        let rss2 = status_kb(server.0.id(), "VmRSS:");
        drop(server);

        let answers = answers.load(Ordering::Relaxed);
        let wrong = wrong.load(Ordering::Relaxed);
        println!(
            "serve with {} certificates (filled in {:.1} s): first start answers OCSP after {:.2} s, {in_memory} responses in memory after {:.2} s, RSS {:.0} MB; after 5 s of random-serial OCSP from 8 clients ({answers} answers, {:.0}/s, {wrong} wrong): RSS {:.0} MB, peak {:.0} MB; second start answers after {:.2} s, {in_memory2} in memory after {:.2} s, RSS {:.0} MB",
            n + 1,
            filled_db.as_secs_f64(),
            answering.as_secs_f64(),
            filled.as_secs_f64(),
            rss_filled as f64 / 1024.0,
            answers as f64 / 5.0,
            rss_load as f64 / 1024.0,
            peak as f64 / 1024.0,
            answering2.as_secs_f64(),
            filled2.as_secs_f64(),
            rss2 as f64 / 1024.0,
        );
        if wrong > 0 || answers == 0 || in_memory < n as u64 {
            eprintln!("WRONG: {wrong} wrong answers, {in_memory} of {} in memory", n + 1);
            std::process::exit(1);
        }
    });
}
