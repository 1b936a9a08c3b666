//! Issue #11 item 3: staff revoke N certificates at once (default 100,000; target
//! < 60 s). Before: every certificate has a "good" OCSP response in memory. During: a
//! customer's application list is read in a loop (the portal's query through the RA)
//! and its latency recorded. After: every one of the N must answer "revoked" from OCSP
//! and be on its shard's CRL — a wrong answer fails the bench. SQLite, and PostgreSQL
//! too when `SHOMEI_TEST_POSTGRES_URL` is set. Prints figures; timings assert nothing.
//!
//! `cargo bench -p shomei-ra --bench mass_revoke -- 100000`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shomei_ra::ocsp_memory::OcspReply;
use shomei_store::search::{Search, SortKey};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{ocsp_status, pct, rss_mb};
use time::macros::datetime;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

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
    let mut failed = false;
    for db in dbs {
        let (mut ra, clock, pki) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-30 10:00:00 UTC));
        ra.policy.crl_shards = 16;
        let issuer = shomei_ca::pki::pem_to_der(&pki.server_ca.cert_pem, "CERTIFICATE").unwrap();
        let staff = ra
            .create_staff("mass", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .expect("staff");
        let csr = include_str!("../../ca/tests/data/rsa2048.csr");
        // The N certificates hang off one record; the portal reads another customer's
        // list (a record lists its own certificate, not N).
        let (_, app) = shomei_ra::testing::issued(&ra, staff.id, csr).await;
        let (account, _) = shomei_ra::testing::issued(&ra, staff.id, csr).await;
        let serials = shomei_store::testing::bulk_issued(
            &db.store,
            app,
            n,
            16,
            &"ab".repeat(32),
            ra.now() + 86_400 * 90,
        )
        .await
        .expect("fill");
        // Every certificate answers "good" from memory before.
        let t = Instant::now();
        for chunk in serials.chunks(5_000) {
            ra.prebuild_ocsp(chunk).await.expect("prebuild");
        }
        let prebuild = t.elapsed();
        db.store.optimize().await.ok();
        clock.advance(time::Duration::minutes(1));

        let form = shomei_ra::mass_revoke::MassForm {
            mode: "serials".into(),
            serials: serials.join("\n"),
            key: String::new(),
            reason: "1".into(),
            note: "bench".into(),
        };
        let t = Instant::now();
        let id = ra
            .draft_mass_revocation(staff.id, &form)
            .await
            .expect("draft")
            .expect("form");
        let (_, preview) = ra.mass_revocation(id).await.expect("read").expect("stored");
        let drafted = t.elapsed();
        assert_eq!(preview.map(|p| p.live), Some(n as i64));
        assert!(ra.start_mass_revocation(staff.id, id).await.expect("start"));

        // The portal meanwhile: the customer's list, read in a loop.
        let busy = Arc::new(AtomicBool::new(true));
        let (portal_ra, portal_busy) = (ra.clone(), busy.clone());
        let portal = tokio::spawn(async move {
            let mut lat = Vec::new();
            while portal_busy.load(Ordering::Relaxed) {
                let now = portal_ra.now();
                let search = Search {
                    past: false,
                    dates: None,
                    kind: None,
                    service: None,
                    downloaded: None,
                    server_type: None,
                    contains: vec![],
                    sort: (SortKey::Applied, true),
                    now,
                    issued_cutoff: now - 75 * 31 * 86_400,
                };
                let t = Instant::now();
                portal_ra
                    .search_applications(account.id, &search, 0, 20)
                    .await
                    .expect("list");
                lat.push(t.elapsed());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            lat
        });
        let t = Instant::now();
        let revoked = ra.run_mass_revocations().await.expect("run");
        let took = t.elapsed();
        busy.store(false, Ordering::Relaxed);
        let mut lat = portal.await.expect("portal");
        lat.sort();

        // Every one answers "revoked" (from memory) and is on its shard's CRL.
        let t = Instant::now();
        let mut wrong = 0;
        for s in &serials {
            let req = shomei_ca::ocsp::request(
                &issuer,
                &hex::decode(s).unwrap(),
                shomei_ca::ocsp::HashAlg::Sha1,
            )
            .unwrap();
            let ok = match ra.ocsp_reply(&req).await {
                OcspReply::Signed(r) => {
                    matches!(ocsp_status(&r.der), Some(x509_ocsp::CertStatus::Revoked(_)))
                }
                OcspReply::Error(_) => false,
            };
            if !ok {
                wrong += 1;
            }
        }
        let checked = t.elapsed();
        let mut on_crl = 0;
        for shard in 0..16 {
            if let Some(crl) = ra.current_shard_crl(shard).await.ok().flatten() {
                let (_, c) = CertificateRevocationList::from_der(&crl.der).unwrap();
                on_crl += c.iter_revoked_certificates().count();
            }
        }
        println!(
            "{:<8} mass revocation of {n}: drafted and checked in {:.2} s; revoked {revoked} in {:.2} s ({:.0}/s) incl. OCSP re-signed and 16 CRL shards; portal list during it: {} reads, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; OCSP revoked for {}/{n} (checked in {:.2} s), {on_crl} on the CRLs; prebuild of {n} good responses {:.2} s; peak RSS {:.0} MB",
            db.name,
            drafted.as_secs_f64(),
            took.as_secs_f64(),
            revoked as f64 / took.as_secs_f64(),
            lat.len(),
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            pct(&lat, 1.0),
            n - wrong,
            checked.as_secs_f64(),
            prebuild.as_secs_f64(),
            rss_mb("VmHWM:"),
        );
        if wrong > 0 || on_crl < n || revoked != n {
            eprintln!("WRONG: {wrong} not revoked in OCSP, {on_crl} of {n} on the CRLs");
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
