//! Issue #12, storage failure with the real binary: PostgreSQL cut off (a proxy the test
//! controls) and back.

use crate::common::{get_head, ocsp_post};
use crate::support;
use std::io::Write;
use std::time::{Duration, Instant};

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

/// A small tmpfs the test mounts (root only), unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the file system of `dir` with one file until it refuses more; returns it.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
    path
}

#[tokio::test]
async fn issue12_sqlite_on_a_full_disk_clear_errors_intact_database_works_again_when_freed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mnt = dir.path().join("small-disk");
    let Some(disk) = Tmpfs::mount(&mnt, "24m") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: the full-disk test must be able to mount a tmpfs (run as root)"
        );
        eprintln!("cannot mount a tmpfs (not root?): the full-disk test did not run");
        return;
    };
    let data = disk.0.join("data");
    let mut i = crate::common::start(dir.path(), "full", &data, None);
    assert!(
        crate::common::wait_running(&mut i, Duration::from_secs(120)),
        "{}",
        crate::common::log(&i)
    );
    let cfg = dir.path().join("full.toml");
    let create = |n: u32| {
        crate::common::cli(
            &data,
            &cfg,
            &[
                "account",
                "create",
                "--org",
                &format!("満杯テスト{n}株式会社"),
                "--email",
                "full@example.jp",
                "--out",
                &dir.path().join(format!("acct{n}")).display().to_string(),
            ],
        )
    };
    let (ok, out, err) = create(1);
    assert!(ok, "{out}{err}");

    // The disk fills up: a write fails with a clear message, nothing panics.
    let filler = fill(&disk.0);
    let (ok, out, err) = create(2);
    assert!(!ok, "an account was created on a full disk: {out}");
    assert!(
        err.contains("disk is full") || err.contains("No space left"),
        "no clear error: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // The server keeps answering what needs no write.
    assert_eq!(get_head(i.public, "/health/live").0, 200);
    assert_eq!(get_head(i.public, "/ca/root.crt").0, 200);
    assert!(
        i.child.try_wait().expect("try_wait").is_none(),
        "serve died"
    );

    // The database is intact.
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let url = format!("sqlite:{}?mode=ro", data.join("shomei.db").display());
        let mut c = sqlx::AnyConnection::connect(&url).await.expect("open");
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut c)
            .await
            .expect("integrity_check");
        assert_eq!(check, "ok");
        let accounts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(&mut c)
            .await
            .expect("count");
        // The demo account and the first one; not the refused one.
        assert_eq!(accounts, 2);
    }

    // Space is freed: it works again, without a restart.
    std::fs::remove_file(&filler).expect("free");
    let (ok, out, err) = create(3);
    assert!(ok, "{out}{err}");
    assert_eq!(get_head(i.public, "/health/ready").0, 200);
    crate::common::sigterm(&i);
    assert!(crate::common::wait_exit(&mut i, Duration::from_secs(60)).is_some_and(|s| s.success()));
}
