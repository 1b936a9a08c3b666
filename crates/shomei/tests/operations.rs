//! Issue #12, operations with the real binary: several `shomei serve` on one PostgreSQL
//! and one shared data directory start together (one makes the PKI, the secrets key and
//! the demo accounts; the others use them), all serve the same CA; an instance with
//! another PKI is refused; SIGTERM lets a request in flight finish and exits 0; the
//! metrics listener and health checks; `shomei backup` while serving and `shomei
//! restore` only when stopped.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../benches/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use support::{BIN, free_port};

struct Instance {
    child: Child,
    public: u16,
    out: PathBuf,
    err: PathBuf,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `shomei serve` on `data` with its own ports (and `database_url` if given).
fn start(dir: &Path, name: &str, data: &Path, database_url: Option<&str>) -> Instance {
    start_with(dir, name, data, database_url, "", &[])
}

/// As [`start`], with more `[listen]` lines.
fn start_with(
    dir: &Path,
    name: &str,
    data: &Path,
    database_url: Option<&str>,
    listen: &str,
    env: &[(&str, &str)],
) -> Instance {
    let (public, portal, desk, acme) = (free_port(), free_port(), free_port(), free_port());
    let db = database_url
        .map(|u| format!("database_url = \"{u}\"\n"))
        .unwrap_or_default();
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!("{db}[listen]\n{listen}public = \"127.0.0.1:{public}\"\nportal = \"127.0.0.1:{portal}\"\ndesk = \"127.0.0.1:{desk}\"\nacme = \"127.0.0.1:{acme}\"\n[pki]\npublic_base_url = \"http://pki.example.jp\"\n"),
    )
    .expect("config");
    let out = dir.join(format!("{name}.out"));
    let err = dir.join(format!("{name}.err"));
    let child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(&out).expect("out"))
        .stderr(std::fs::File::create(&err).expect("err"))
        .spawn()
        .expect("spawn serve");
    Instance {
        child,
        public,
        out,
        err,
    }
}

/// Waits until the instance says it is running (true) or exits (false).
fn wait_running(i: &mut Instance, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if std::fs::read_to_string(&i.out).is_ok_and(|s| s.contains("Shomei is running.")) {
            return true;
        }
        if i.child.try_wait().expect("try_wait").is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn log(i: &Instance) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        std::fs::read_to_string(&i.out).unwrap_or_default(),
        std::fs::read_to_string(&i.err).unwrap_or_default()
    )
}

/// GET on the public listener: status and body.
fn get(port: u16, path: &str) -> (u16, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: pki.example.jp\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response")
        + 4;
    let status = String::from_utf8_lossy(&buf[9..12])
        .parse()
        .expect("status");
    (status, buf[head_end..].to_vec())
}

/// Waits for the exit status (at most `limit`).
fn wait_exit(i: &mut Instance, limit: Duration) -> Option<std::process::ExitStatus> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Some(s) = i.child.try_wait().expect("try_wait") {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn sigterm(i: &Instance) {
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(i.child.id().to_string())
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -TERM failed");
}

#[tokio::test]
async fn issue12_three_instances_start_together_on_one_postgresql_and_serve_one_ca() {
    let Some(db) = shomei_store::testing::postgres().await else {
        eprintln!("SHOMEI_TEST_POSTGRES_URL not set: the several-instance test needs PostgreSQL");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Started together on an empty data directory and an empty database.
    let mut all: Vec<Instance> = (0..3)
        .map(|k| start(dir.path(), &format!("i{k}"), &data, Some(&db.url)))
        .collect();
    for (k, i) in all.iter_mut().enumerate() {
        assert!(
            wait_running(i, Duration::from_secs(120)),
            "instance {k} did not start:\n{}",
            log(i)
        );
    }
    // One CA: every instance serves the same root and issuing CA, and the shared PKI is
    // complete.
    let roots: Vec<Vec<u8>> = all
        .iter()
        .map(|i| get(i.public, "/ca/root.crt").1)
        .collect();
    let issuing: Vec<Vec<u8>> = all
        .iter()
        .map(|i| get(i.public, "/ca/server.crt").1)
        .collect();
    assert!(
        !roots[0].is_empty() && roots.iter().all(|r| *r == roots[0]),
        "roots differ"
    );
    assert!(
        !issuing[0].is_empty() && issuing.iter().all(|r| *r == issuing[0]),
        "issuing CAs differ"
    );
    for n in ["root", "server-ca", "login-ca", "staff-ca", "tls", "ocsp"] {
        let pem = std::fs::read_to_string(data.join("pki").join(format!("{n}.crt"))).expect("crt");
        assert!(
            pem.starts_with("-----BEGIN CERTIFICATE-----"),
            "{n}.crt: {pem}"
        );
        let key = std::fs::read_to_string(data.join("pki").join(format!("{n}.key"))).expect("key");
        assert!(key.contains("PRIVATE KEY-----"), "{n}.key");
    }
    // Each serves the CRL of the same CA.
    for i in &all {
        let (status, body) = get(i.public, "/crl/server.crl");
        assert_eq!(status, 200, "{}", log(i));
        assert!(!body.is_empty());
    }
    // The first start's demo accounts were made once, not once per instance.
    let count = |sql: &'static str| {
        let pool = db.store.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM accounts").await,
        1,
        "demo accounts made more than once"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM staff").await,
        1,
        "demo staff made more than once"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_events WHERE action = 'system.start'").await,
        3
    );

    // An instance started with its own data directory (hence its own development PKI)
    // on the same database is refused before it signs anything.
    let mut foreign = start(
        dir.path(),
        "foreign",
        &dir.path().join("other"),
        Some(&db.url),
    );
    assert!(
        !wait_running(&mut foreign, Duration::from_secs(120)),
        "a foreign PKI was accepted"
    );
    let status = foreign.child.wait().expect("wait");
    assert!(!status.success());
    let err = log(&foreign);
    assert!(
        err.contains("belongs to the CA") && err.contains("share the same PKI"),
        "{err}"
    );

    // SIGTERM: each stops cleanly, with exit status 0.
    for (k, i) in all.iter_mut().enumerate() {
        sigterm(i);
        let status = wait_exit(i, Duration::from_secs(60));
        assert!(
            status.is_some_and(|s| s.success()),
            "instance {k}: {status:?}\n{}",
            log(i)
        );
        assert!(log(i).contains("stopped"), "{}", log(i));
    }
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_events WHERE action = 'system.stop'").await,
        3
    );
}

#[test]
fn issue12_sigterm_lets_a_request_in_flight_finish_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut i = start(dir.path(), "one", &dir.path().join("data"), None);
    assert!(
        wait_running(&mut i, Duration::from_secs(120)),
        "{}",
        log(&i)
    );
    // A request whose body has not all arrived when SIGTERM comes.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", i.public)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let body = b"not an OCSP request";
    write!(
        s,
        "POST /ocsp/server HTTP/1.1\r\nHost: pki.example.jp\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("head");
    s.write_all(&body[..5]).expect("part of the body");
    s.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&i);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        i.child.try_wait().expect("try_wait").is_none(),
        "exited with a request in flight"
    );
    // New connections are no longer accepted.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", i.public)).is_err(),
        "still accepting after SIGTERM"
    );
    s.write_all(&body[5..]).expect("rest of the body");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.starts_with("HTTP/1.1 "),
        "no answer to the request in flight: {text:?}"
    );
    assert!(
        text.to_ascii_lowercase()
            .contains("application/ocsp-response"),
        "{text:?}"
    );
    let status = wait_exit(&mut i, Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        log(&i)
    );
    assert!(log(&i).contains("stopped"), "{}", log(&i));
}

#[test]
fn issue12_metrics_listener_and_health_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut i = start_with(
        dir.path(),
        "m",
        &dir.path().join("data"),
        None,
        &format!("metrics = \"127.0.0.1:{port}\"\n"),
        &[],
    );
    assert!(
        wait_running(&mut i, Duration::from_secs(120)),
        "{}",
        log(&i)
    );
    // Health checks on the public listener (for a load balancer) and on the metrics one.
    for p in [i.public, port] {
        assert_eq!(get(p, "/health/live"), (200, b"ok\n".to_vec()));
        assert_eq!(get(p, "/health/ready"), (200, b"ready\n".to_vec()));
    }
    // /metrics only on its own listener.
    assert_eq!(get(i.public, "/metrics").0, 404);
    let _ = get(i.public, "/crl/server.crl");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", i.public)).expect("connect");
    write!(
        s,
        "POST /ocsp/server HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    )
    .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let (status, body) = get(port, "/metrics");
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{text}");
    for want in [
        "shomei_ocsp_responses_total{status=\"malformed_request\"} 1",
        "shomei_jobs{status=\"pending\"}",
        "shomei_crl_age_seconds{crl=\"server",
        "shomei_db_connections{pool=\"reader\"",
        "shomei_issuance_seconds_count{path=\"acme\"} 0",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    assert!(log(&i).contains(&format!("metrics http://127.0.0.1:{port}/metrics")));
    sigterm(&i);
    let status = wait_exit(&mut i, Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        log(&i)
    );
}

/// `shomei ARGS` on a data directory and configuration: (success, stdout, stderr).
fn cli(data: &Path, cfg: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .expect("run shomei");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn issue12_backup_while_serving_and_restore_only_when_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let cfg = dir.path().join("b.toml");
    let mut i = start(dir.path(), "b", &data, None);
    assert!(
        wait_running(&mut i, Duration::from_secs(120)),
        "{}",
        log(&i)
    );
    let backup = dir.path().join("backup.db");
    let b = backup.display().to_string();
    let (ok, out, err) = cli(&data, &cfg, &["backup", "--out", &b]);
    assert!(ok, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["integrity_check"], "ok", "{out}");
    assert!(v["bytes"].as_u64().unwrap_or(0) > 0, "{out}");
    // Never over an existing file.
    let (ok, _, err) = cli(&data, &cfg, &["backup", "--out", &b]);
    assert!(!ok && err.contains("exists"), "{err}");
    // Never under a running server.
    let (ok, _, err) = cli(&data, &cfg, &["restore", "--from", &b]);
    assert!(!ok && err.contains("is running"), "{err}");
    assert_eq!(get(i.public, "/health/ready").0, 200, "still serving");
    sigterm(&i);
    assert!(wait_exit(&mut i, Duration::from_secs(60)).is_some_and(|s| s.success()));
    // Not a backup: refused, nothing replaced.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"junk").expect("write");
    let (ok, _, err) = cli(
        &data,
        &cfg,
        &["restore", "--from", &junk.display().to_string()],
    );
    assert!(!ok && err.contains("cannot be restored"), "{err}");
    // Stopped: restored; the replaced database kept beside it.
    let (ok, out, err) = cli(&data, &cfg, &["restore", "--from", &b]);
    assert!(ok, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let kept = v["replaced_database_kept_as"]
        .as_str()
        .expect("kept")
        .to_owned();
    assert!(Path::new(&kept).exists(), "{kept}");
    assert_eq!(
        v["revocations_carried_over"],
        serde_json::json!([]),
        "{out}"
    );
    // And it serves again.
    let mut again = start(dir.path(), "b2", &data, None);
    assert!(
        wait_running(&mut again, Duration::from_secs(120)),
        "{}",
        log(&again)
    );
    assert_eq!(get(again.public, "/health/ready").0, 200);
    assert_eq!(get(again.public, "/crl/server.crl").0, 200);
}

#[test]
fn issue12_json_logs_carry_each_requests_operation_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut i = start_with(
        dir.path(),
        "j",
        &dir.path().join("data"),
        None,
        "",
        &[
            ("SHOMEI_LOG_FORMAT", "json"),
            ("SHOMEI_LOG", "info,shomei_web=debug"),
        ],
    );
    assert!(
        wait_running(&mut i, Duration::from_secs(120)),
        "{}",
        log(&i)
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", i.public)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET /crl/server.crl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-operation-id: "))
        .expect("an operation id")
        .trim()
        .to_owned();
    assert_eq!(id.len(), 12, "{id}");
    // Every stderr line is JSON; the request's lines name its operation.
    let t = Instant::now();
    let line = loop {
        let err = std::fs::read_to_string(&i.err).unwrap_or_default();
        if let Some(l) = err.lines().find(|l| l.contains(&id)) {
            break l.to_owned();
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no log line names {id}:\n{err}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(v["span"]["operation"], id.as_str(), "{line}");
    assert_eq!(v["span"]["path"], "/crl/server.crl", "{line}");
    for l in std::fs::read_to_string(&i.err).unwrap_or_default().lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok(),
            "not JSON: {l}"
        );
    }
}

/// A TCP proxy in front of PostgreSQL that can be cut (every connection closed, new
/// ones refused) and restored: the database "stops" for this instance only.
struct Proxy {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, o) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if c.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let pairs = [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ];
                if let Ok(mut list) = o.lock() {
                    list.extend(client.try_clone());
                    list.extend(server.try_clone());
                }
                for (from, to) in pairs {
                    if let (Ok(mut from), Ok(mut to)) = (from, to) {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
            }
        });
        Proxy { port, cut, open }
    }

    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut list) = self.open.lock() {
            for s in list.drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

fn ocsp_post(port: u16, req: &[u8]) -> (u16, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut msg = format!(
        "POST /ocsp/server HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        req.len()
    )
    .into_bytes();
    msg.extend_from_slice(req);
    s.write_all(&msg).expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response")
        + 4;
    let status = String::from_utf8_lossy(&buf[9..12])
        .parse()
        .expect("status");
    (status, buf[head_end..].to_vec())
}

/// GET with the response head (status, head, body).
fn get_head(port: u16, path: &str) -> (u16, String, String) {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new(), String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn issue12_postgresql_lost_and_back_503_pages_ocsp_from_memory_recovery_without_restart() {
    use x509_parser::prelude::FromDer;
    let Some(db) = shomei_store::testing::postgres().await else {
        eprintln!("SHOMEI_TEST_POSTGRES_URL not set: the storage-failure test needs PostgreSQL");
        return;
    };
    let proxy = Proxy::start(5432);
    let url = db.url.replace(":5432/", &format!(":{}/", proxy.port));
    assert_ne!(
        url, db.url,
        "the test database is expected at port 5432: {}",
        db.url
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let setup = support::setup_with(d, &format!("database_url = \"{url}\"\n"));
    let _server = support::serve(d, "info", &d.join("serve.log"));
    let t = Instant::now();
    while get_head(setup.public, "/health/ready").0 != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "{}",
            std::fs::read_to_string(d.join("serve.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Memory is dropped when the change listener connects: warm it after that.
    let t = Instant::now();
    while !std::fs::read_to_string(d.join("serve.log"))
        .unwrap_or_default()
        .contains("listening for status changes")
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the listener did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The certificate's OCSP request.
    let pem = std::fs::read_to_string(&setup.cert).expect("cert");
    let der = shomei_ca::pki::pem_to_der(&pem, "CERTIFICATE").expect("der");
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).expect("parse");
    let issuer = shomei_ca::pki::pem_to_der(
        &std::fs::read_to_string(d.join("data/pki/server-ca.crt")).expect("issuer"),
        "CERTIFICATE",
    )
    .expect("issuer der");
    let req = shomei_ca::ocsp::request(&issuer, cert.raw_serial(), shomei_ca::ocsp::HashAlg::Sha1)
        .expect("request");
    let (status, good) = ocsp_post(setup.public, &req);
    assert_eq!(status, 200);
    // Served from memory from now on (filled at start, or kept after the first answer).
    assert_eq!(ocsp_post(setup.public, &req), (200, good.clone()));

    // The database goes away.
    proxy.cut();
    let (status, head, body) = get_head(setup.public, "/crl/server.crl");
    assert_eq!(status, 503, "{head}\n{body}");
    assert!(head.contains("retry-after: 30"), "{head}");
    assert!(
        body.contains("ただいまご利用いただけません") && body.contains("temporarily unavailable"),
        "{body}"
    );
    assert_eq!(get_head(setup.public, "/health/ready").0, 503);
    assert_eq!(
        get_head(setup.public, "/health/live").0,
        200,
        "alive, only not ready"
    );
    // OCSP keeps answering, the same signed "good".
    for _ in 0..20 {
        assert_eq!(ocsp_post(setup.public, &req), (200, good.clone()));
    }

    // It comes back: no restart needed.
    proxy.restore();
    let t = Instant::now();
    while get_head(setup.public, "/health/ready").0 != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "not ready again after the database came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(get_head(setup.public, "/crl/server.crl").0, 200);
    assert_eq!(ocsp_post(setup.public, &req), (200, good));
}
