//! Issue #12, crash at every step. The real binary, built with the `failpoints` feature,
//! is killed with SIGKILL at each named failpoint (`shomei_ra::failpoints::POINTS`;
//! docs/crash-testing.md) 20 times (`SHOMEI_CRASH_KILLS` for longer runs), on SQLite and
//! on PostgreSQL, against one data directory and database that keep everything the
//! kills leave behind. After each kill `serve` starts again and the invariants are
//! checked from outside — the database read directly, OCSP and CRLs fetched from the
//! public listener, the mail outbox read:
//!
//! - no serial in two certificates, each certificate's DER carries its row's serial and
//!   the TBS stored before signing; no unfinished issuance left (it resumed);
//! - a certificate signed just before the kill (kept by the dying process as evidence)
//!   has its serial and exact TBS on record, never issued under that serial;
//! - every application submitted is there and 完了 with exactly one certificate;
//! - a revocation committed before the kill is kept, one rolled back is not half there;
//!   OCSP answers revoked for every revoked certificate and good for the others; every
//!   revoked serial is on its CRL shard; CRL numbers only grow, past any CRL signed but
//!   never stored;
//! - every job done, none failed; each mail sent at least once and at most twice (a mail
//!   whose sending was not yet marked when the process died is sent again, with the same
//!   Message-ID); the audit chain intact.

use crate::common::*;
use crate::support::{self, BIN};
use shomei_ca::ocsp::HashAlg;
use shomei_store::Store;
use sqlx::Row;
use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use x509_parser::prelude::*;

/// How each point is reached: a `contract import` (issuance), a `certificate revoke` of
/// a certificate just imported (revocation, CRL, OCSP), or `serve` running the notice
/// job of an import (jobs, mail).
#[derive(Clone, Copy, PartialEq)]
enum Drive {
    Import,
    Revoke,
    Job,
}

/// Each point, how it is reached, and at which of its hits the process dies (cycled
/// through the kills): an issuance passes `store.issuance.commit` twice, in the step 4
/// transaction and in the step 6 one.
const PLAN: &[(&str, Drive, &[u64])] = &[
    ("issue.linted", Drive::Import, &[1]),
    ("store.issuance.commit", Drive::Import, &[1, 2]),
    ("issue.reserved", Drive::Import, &[1]),
    ("issue.signed", Drive::Import, &[1]),
    ("issue.committed", Drive::Import, &[1]),
    ("store.revocation.commit", Drive::Revoke, &[1]),
    ("revoke.committed", Drive::Revoke, &[1]),
    ("crl.signed", Drive::Revoke, &[1]),
    ("ocsp.signed", Drive::Revoke, &[1]),
    ("job.claimed", Drive::Job, &[1]),
    ("job.ran", Drive::Job, &[1]),
];

fn kills() -> usize {
    std::env::var("SHOMEI_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

#[test]
fn issue12_the_plan_covers_every_failpoint() {
    let planned: Vec<&str> = PLAN.iter().map(|p| p.0).collect();
    assert_eq!(planned, shomei_ra::failpoints::POINTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_sigkill_at_every_failpoint_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite:{}?mode=rwc",
        dir.path().join("data").join("shomei.db").display()
    );
    run(dir.path(), "sqlite", &url, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_sigkill_at_every_failpoint_postgres() {
    let Some(db) = shomei_store::testing::postgres().await else {
        eprintln!(
            "SHOMEI_TEST_POSTGRES_URL not set: the PostgreSQL half of the crash harness did not run"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let head = format!("database_url = \"{}\"\n", db.url);
    run(dir.path(), "postgres", &db.url, &head).await;
}

struct Harness {
    d: PathBuf,
    setup: support::Setup,
    access_key: String,
    store: Store,
    issuer_der: Vec<u8>,
    /// Applications submitted (each import makes one).
    submitted: i64,
    /// Revocations whose transaction committed (true) or was cut (false).
    revocations: Vec<(String, bool)>,
    /// The latest CRL seen at each path: (number, DER).
    crls: HashMap<String, (i64, Vec<u8>)>,
    /// Mails sent twice so far.
    resent: usize,
    serves: usize,
}

async fn run(d: &Path, backend: &str, url: &str, head: &str) {
    // A resumed issuance checks CAA (BR 3.2.2.8) from `serve`: a DNS server on loopback
    // answers that there is none; no remote perspectives (a laboratory setting).
    let dns = shomei_validation::testing::dns_server(Default::default()).await;
    let setup = support::setup_with(
        d,
        &format!(
            "{head}[jobs]\nlease_seconds = 2\n[validation]\nresolver = \"{dns}\"\nmin_remote_perspectives = 0\n"
        ),
    );
    let access_key = support::json_field(&setup.account, "access_key");
    let store = Store::connect(url).await.expect("store");
    let issuer_der = shomei_ca::pki::pem_to_der(
        &std::fs::read_to_string(d.join("data/pki/server-ca.crt")).expect("issuer"),
        "CERTIFICATE",
    )
    .expect("issuer der");
    std::fs::create_dir_all(d.join("evidence")).expect("evidence dir");
    let mut h = Harness {
        d: d.to_path_buf(),
        setup,
        access_key,
        store,
        issuer_der,
        submitted: 1,
        revocations: Vec::new(),
        crls: HashMap::new(),
        resent: 0,
        serves: 0,
    };
    let n = kills();
    let mut table = Vec::new();
    for &(point, drive, hits) in PLAN {
        let t = Instant::now();
        for k in 0..n {
            let fp = (point, hits[k % hits.len()]);
            match drive {
                Drive::Import => {
                    h.submitted += 1;
                    let out = h.cli(&h.import_args(), Some(fp));
                    h.assert_killed(&out, point);
                }
                Drive::Revoke => {
                    let serial = h.import();
                    let out = h.cli(
                        &[
                            "certificate",
                            "revoke",
                            "--serial",
                            &serial,
                            "--reason",
                            "superseded",
                        ],
                        Some(fp),
                    );
                    h.assert_killed(&out, point);
                    // Only the kill inside the transaction loses the revocation.
                    h.revocations
                        .push((serial, point != "store.revocation.commit"));
                }
                Drive::Job => {
                    h.import();
                    let mut i = h.serve(Some(fp));
                    let status = wait_exit(&mut i, Duration::from_secs(60));
                    assert_eq!(
                        status.and_then(|s| s.signal()),
                        Some(9),
                        "{point}: serve was not killed there\n{}",
                        log(&i)
                    );
                }
            }
            let i = h.serve(None);
            h.check(&i, point, k).await;
            h.stop(i);
        }
        table.push(format!(
            "{backend:<9} {point:<24} {n:>3} kills  invariants held  ({:.1} s)",
            t.elapsed().as_secs_f64()
        ));
    }
    println!("{}", table.join("\n"));
}

impl Harness {
    fn import_args(&self) -> Vec<String> {
        support::import_args(&self.d, &self.access_key)
    }

    /// A contract imported without a failpoint; its serial.
    fn import(&mut self) -> String {
        self.submitted += 1;
        let out = self.cli(&self.import_args(), None);
        assert!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        support::json_field(&String::from_utf8_lossy(&out.stdout), "serial")
    }

    fn cli<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], fp: Option<(&str, u64)>) -> Output {
        let mut c = Command::new(BIN);
        c.arg("--data-dir")
            .arg(self.d.join("data"))
            .arg("--config")
            .arg(self.d.join("shomei.toml"))
            .args(args)
            .env("SHOMEI_FAILPOINT_EVIDENCE", self.d.join("evidence"));
        if let Some((point, hit)) = fp {
            c.env("SHOMEI_FAILPOINTS", format!("{point}@{hit}"));
        }
        c.output().expect("run shomei")
    }

    fn assert_killed(&self, out: &Output, point: &str) {
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{point}: the command was not killed there: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `serve` on the harness's data, running (or, with a failpoint, maybe already dead).
    fn serve(&mut self, fp: Option<(&str, u64)>) -> Instance {
        self.serves += 1;
        let out = self.d.join(format!("serve-{}.out", self.serves));
        let err = self.d.join(format!("serve-{}.err", self.serves));
        let mut c = Command::new(BIN);
        c.arg("--data-dir")
            .arg(self.d.join("data"))
            .arg("--config")
            .arg(self.d.join("shomei.toml"))
            .arg("serve")
            .env("SHOMEI_FAILPOINT_EVIDENCE", self.d.join("evidence"))
            .stdout(std::fs::File::create(&out).expect("out"))
            .stderr(std::fs::File::create(&err).expect("err"));
        if let Some((point, hit)) = fp {
            c.env("SHOMEI_FAILPOINTS", format!("{point}@{hit}"));
        }
        let mut i = Instance {
            child: c.spawn().expect("spawn serve"),
            public: self.setup.public,
            portal: self.setup.portal,
            desk: 0,
            out,
            err,
        };
        if fp.is_none() {
            assert!(
                wait_running(&mut i, Duration::from_secs(60)),
                "serve did not start again after the kill\n{}",
                log(&i)
            );
        }
        i
    }

    fn stop(&self, mut i: Instance) {
        sigterm(&i);
        let status = wait_exit(&mut i, Duration::from_secs(60));
        assert!(
            status.is_some_and(|s| s.success()),
            "serve did not stop cleanly: {status:?}\n{}",
            log(&i)
        );
    }

    async fn rows(&self, sql: &str) -> Vec<sqlx::any::AnyRow> {
        sqlx::query(sql)
            .fetch_all(self.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every invariant, after the restart that followed kill `k` at `point`.
    async fn check(&mut self, i: &Instance, point: &str, k: usize) {
        let at = format!("{point}, kill {}", k + 1);
        // Certificates: serials unique, nothing left half-issued, each certificate
        // carries its row's serial; a row never issued keeps the TBS committed before
        // it was signed.
        let certs = self
            .rows("SELECT serial, status, application_id, der, tbs, revoked_at FROM certificates WHERE issuer = 'server' ORDER BY id")
            .await;
        let mut serials = std::collections::HashSet::new();
        let mut issued = Vec::new();
        let mut by_serial = HashMap::new();
        for r in &certs {
            let serial: String = r.get("serial");
            let status: String = r.get("status");
            assert!(
                serials.insert(serial.clone()),
                "{at}: serial {serial} twice"
            );
            assert!(
                !["reserved", "linted"].contains(&status.as_str()),
                "{at}: serial {serial} left {status} after the restart"
            );
            let tbs: Option<Vec<u8>> = r.get("tbs");
            by_serial.insert(serial.clone(), (status.clone(), tbs.clone()));
            if status == "issued" {
                let der: Option<Vec<u8>> = r.get("der");
                let der = der.unwrap_or_else(|| panic!("{at}: issued {serial} without DER"));
                let (_, cert) = X509Certificate::from_der(&der).expect("certificate");
                assert_eq!(hex::encode(cert.raw_serial()), serial, "{at}");
                // The DER replaced the linted TBS in the commit that issued it (the
                // signer checked it carries that TBS byte for byte).
                assert!(
                    tbs.is_none(),
                    "{at}: issued {serial} kept its TBS beside its DER"
                );
                let revoked: Option<i64> = r.get("revoked_at");
                issued.push((serial, der, revoked.is_some()));
            }
        }
        // A certificate signed just before the kill: on record, serial and TBS, and
        // never issued under that serial.
        let evidence = self.d.join("evidence").join("issue.signed.der");
        assert_eq!(evidence.exists(), point == "issue.signed", "{at}: evidence");
        if let Ok(der) = std::fs::read(&evidence) {
            let (_, cert) = X509Certificate::from_der(&der).expect("evidence");
            let serial = hex::encode(cert.raw_serial());
            let (status, tbs) = by_serial.get(&serial).unwrap_or_else(|| {
                panic!("{at}: a signed certificate's serial {serial} is not on record")
            });
            assert_eq!(status, "abandoned", "{at}: {serial}");
            assert_eq!(
                tbs.as_deref(),
                Some(cert.tbs_certificate.as_ref()),
                "{at}: TBS"
            );
            std::fs::remove_file(&evidence).expect("rm");
        }
        // Every application submitted is there, 完了, with exactly one certificate.
        assert_eq!(
            self.count("SELECT COUNT(*) FROM applications").await,
            self.submitted,
            "{at}: applications"
        );
        let open: Vec<(i64, String)> = self
            .rows("SELECT id, status FROM applications WHERE status <> 'completed'")
            .await
            .iter()
            .map(|r| (r.get("id"), r.get("status")))
            .collect();
        assert!(
            open.is_empty(),
            "{at}: applications not 完了 after the restart: {open:?}\n{}",
            log(i)
        );
        assert_eq!(
            self.count("SELECT COUNT(*) FROM applications a WHERE (SELECT COUNT(*) FROM certificates c WHERE c.application_id = a.id AND c.status = 'issued') <> 1").await,
            0,
            "{at}: an application without exactly one certificate"
        );
        // Revocations: kept when committed, absent when cut.
        for (serial, committed) in &self.revocations {
            let revoked = issued.iter().any(|(s, _, r)| s == serial && *r);
            assert_eq!(revoked, *committed, "{at}: revocation of {serial}");
        }
        // OCSP from the restarted server: revoked or good as recorded.
        for (serial, _, revoked) in &issued {
            let bytes = hex::decode(serial).expect("hex");
            let req =
                shomei_ca::ocsp::request(&self.issuer_der, &bytes, HashAlg::Sha1).expect("request");
            let (status, body) = ocsp_post(i.public, &req);
            assert_eq!(status, 200, "{at}");
            let state = ocsp_state(&body);
            let want = if *revoked { "revoked" } else { "good" };
            assert_eq!(state, want, "{at}: OCSP for {serial}");
        }
        self.check_crls(i, &issued, &at);
        self.check_jobs(point, &at).await;
        assert!(
            self.store
                .verify_audit_chain()
                .await
                .expect("audit")
                .is_ok(),
            "{at}: audit chain broken"
        );
    }

    /// Every revoked serial on its shard; numbers only grow; a CRL signed but never
    /// stored is passed by the next one.
    fn check_crls(&mut self, i: &Instance, issued: &[(String, Vec<u8>, bool)], at: &str) {
        let mut lost = None;
        let evidence = self.d.join("evidence").join("crl.signed.der");
        assert_eq!(
            evidence.exists(),
            at.starts_with("crl.signed,"),
            "{at}: evidence"
        );
        if let Ok(der) = std::fs::read(&evidence) {
            let (_, crl) = CertificateRevocationList::from_der(&der).expect("evidence CRL");
            lost = Some((crl_path(&crl), crl_number(&crl)));
            std::fs::remove_file(&evidence).expect("rm");
        }
        let mut paths: Vec<String> = issued.iter().map(|(_, der, _)| cdp_path(der)).collect();
        paths.push("/crl/server.crl".into());
        paths.sort();
        paths.dedup();
        for path in paths {
            let (status, der) = get(i.public, &path);
            assert_eq!(status, 200, "{at}: GET {path}");
            let (_, crl) = CertificateRevocationList::from_der(&der).expect("CRL");
            let number = crl_number(&crl);
            if let Some((last, last_der)) = self.crls.get(&path) {
                assert!(
                    number > *last || (number == *last && der == *last_der),
                    "{at}: {path} number {number} after {last}"
                );
            }
            if let Some((lost_path, lost_number)) = &lost
                && *lost_path == path
            {
                assert!(
                    number > *lost_number,
                    "{at}: {path} {number} not past the lost {lost_number}"
                );
            }
            let listed: std::collections::HashSet<String> = crl
                .iter_revoked_certificates()
                .map(|e| hex::encode(e.raw_serial()))
                .collect();
            for (serial, cert, revoked) in issued {
                if *revoked && cdp_path(cert) == path {
                    assert!(
                        listed.contains(serial),
                        "{at}: revoked {serial} missing from {path}"
                    );
                }
            }
            self.crls.insert(path, (number, der));
        }
    }

    /// Jobs all done (a job of a dead process is run again once its lease expires),
    /// none failed; each notice mail sent once, or twice when the process died after
    /// sending it and before marking it done.
    async fn check_jobs(&mut self, point: &str, at: &str) {
        let t = Instant::now();
        loop {
            let open = self
                .count("SELECT COUNT(*) FROM jobs WHERE status IN ('pending', 'running')")
                .await;
            if open == 0 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{at}: {open} jobs still open"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(
            self.count("SELECT COUNT(*) FROM jobs WHERE status <> 'done'")
                .await,
            0,
            "{at}: a job failed"
        );
        let mut sent: HashMap<String, usize> = HashMap::new();
        for f in std::fs::read_dir(self.d.join("data/outbox"))
            .expect("outbox")
            .flatten()
        {
            let text = std::fs::read_to_string(f.path()).unwrap_or_default();
            let id = text
                .lines()
                .find_map(|l| l.strip_prefix("Message-ID: "))
                .unwrap_or_else(|| panic!("{at}: a mail without Message-ID"))
                .to_owned();
            *sent.entry(id).or_default() += 1;
        }
        for r in self
            .rows("SELECT id, kind FROM jobs WHERE kind LIKE 'mail.%'")
            .await
        {
            let (id, kind): (i64, String) = (r.get("id"), r.get("kind"));
            let copies: usize = sent
                .iter()
                .filter(|(m, _)| m.contains(&format!(".{id}@")) && m.contains(&kind))
                .map(|(_, n)| n)
                .sum();
            assert!(
                (1..=2).contains(&copies),
                "{at}: job {id} ({kind}) sent {copies} times"
            );
        }
        // Sent twice exactly when the process died after sending.
        let resent = sent.values().filter(|n| **n == 2).count();
        let expected = self.resent + usize::from(point == "job.ran");
        assert_eq!(resent, expected, "{at}: mails sent twice");
        self.resent = resent;
    }
}

fn crl_number(crl: &CertificateRevocationList) -> i64 {
    crl.crl_number()
        .and_then(|n| i64::try_from(n).ok())
        .expect("CRL number")
}

/// The path of a CRL's issuingDistributionPoint (the undivided CRL has none).
fn crl_path(crl: &CertificateRevocationList) -> String {
    for ext in crl.extensions() {
        if let ParsedExtension::IssuingDistributionPoint(idp) = ext.parsed_extension()
            && let Some(DistributionPointName::FullName(names)) = &idp.distribution_point
            && let Some(GeneralName::URI(uri)) = names.first()
        {
            return path_of(uri);
        }
    }
    "/crl/server.crl".into()
}

/// The path of a certificate's CRL distribution point.
fn cdp_path(der: &[u8]) -> String {
    let (_, cert) = X509Certificate::from_der(der).expect("certificate");
    for ext in cert.extensions() {
        if let ParsedExtension::CRLDistributionPoints(cdp) = ext.parsed_extension()
            && let Some(DistributionPointName::FullName(names)) = cdp
                .points
                .first()
                .and_then(|p| p.distribution_point.as_ref())
            && let Some(GeneralName::URI(uri)) = names.first()
        {
            return path_of(uri);
        }
    }
    panic!("a certificate without a CRL distribution point")
}

fn path_of(uri: &str) -> String {
    uri.strip_prefix("http://pki.example.jp")
        .unwrap_or(uri)
        .to_owned()
}
