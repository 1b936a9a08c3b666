//! Issue #12, soak: the real `shomei serve` (release build, SQLite) under a mixed load
//! for a long time, with an account holding N applications (default 100,000):
//!
//! - 4 clients asking OCSP (POST, keep-alive) and 2 fetching CRLs;
//! - 8 customer sessions (login certificate, access key, password over TLS) asking for
//!   お申込一覧 in a loop;
//! - 1 client sending wrong logins to the one-time-password entrance (the throttle
//!   answers 429 after 20 failures: deliberate);
//! - applications submitted and issued all along (`shomei contract import`, one at a
//!   time).
//!
//! Every answer must be the expected one (200 with the right content; 401/429 for the
//! wrong logins); any other is an error and fails the run. The server's resident memory
//! is sampled every 5 seconds and printed with its growth over the second half.
//!
//! `cargo bench -p shomei --bench soak -- 600 100000` (10 minutes); CI runs
//! `--profile dev -- 60 5000`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;

const PASSWORD: &str = "Soak-2026-steady-state";

#[derive(Default)]
struct Counts {
    ocsp: AtomicU64,
    crl: AtomicU64,
    list: AtomicU64,
    wrong_401: AtomicU64,
    wrong_429: AtomicU64,
    imported: AtomicU64,
    errors: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Counts {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut s = self.samples.lock().unwrap();
        if s.len() < 10 {
            s.push(what);
        }
    }
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls_connect(cfg: Arc<rustls::ClientConfig>, port: u16) -> Option<Tls> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let name = rustls::pki_types::ServerName::IpAddress(rustls::pki_types::IpAddr::V4(
        rustls::pki_types::Ipv4Addr::from([127, 0, 0, 1]),
    ));
    tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .ok()
}

/// A request on a new connection (`Connection: close`): status and raw answer.
async fn once(cfg: Arc<rustls::ClientConfig>, port: u16, req: String) -> Option<(u16, String)> {
    let mut s = tls_connect(cfg, port).await?;
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Some((text.get(9..12)?.parse().ok()?, text))
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.parse::<u64>().ok());
    let secs = args.next().flatten().unwrap_or(600);
    let apps = args.next().flatten().unwrap_or(100_000) as i64;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let setup = support::setup(d);
    let access_key = support::json_field(&setup.account, "access_key");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The account's N applications, and a password of its own (the initial one must be
    // changed at the first login).
    rt.block_on(async {
        let url = format!("sqlite:{}?mode=rwc", d.join("data/shomei.db").display());
        let store = shomei_store::Store::connect(&url).await.unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let acct = store
            .account_by_access_key(&access_key)
            .await
            .unwrap()
            .expect("account");
        let t = Instant::now();
        let rows: Vec<_> = (0..apps)
            .map(|i| shomei_store::testing::sample_app(i, apps, now - 86_400))
            .collect();
        shomei_store::testing::bulk_applications(&store, acct.id, &rows)
            .await
            .unwrap();
        store.optimize().await.unwrap();
        let hash = shomei_ra::password::hash_async(PASSWORD).await.unwrap();
        store
            .set_password(shomei_store::Realm::Customer, acct.id, &hash, now)
            .await
            .unwrap();
        println!(
            "{apps} applications filled in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    });
    let server = support::serve(d, "warn", &d.join("serve.log"));
    let pid = server.0.id();
    let counts = Arc::new(Counts::default());
    let rss = rt.block_on(load(d, &setup, &access_key, secs, pid, counts.clone()));
    let errors = counts.errors.load(Ordering::Relaxed);
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "soak {secs} s, {apps} applications: OCSP {} CRL {} list pages {} wrong logins 401 {} / 429 {} (deliberate) applications issued {}; errors {errors}",
        c(&counts.ocsp),
        c(&counts.crl),
        c(&counts.list),
        c(&counts.wrong_401),
        c(&counts.wrong_429),
        c(&counts.imported)
    );
    let at = |f: f64| rss[((rss.len() as f64 - 1.0) * f).round() as usize].1;
    let peak = rss.iter().map(|r| r.1).fold(0.0, f64::max);
    let (half, end) = (at(0.5), at(1.0));
    println!(
        "serve RSS MB: start {:.0}, 25% {:.0}, half {:.0}, 75% {:.0}, end {:.0}, peak {peak:.0}; second half {:+.1} MB ({:+.1} %)",
        at(0.0),
        at(0.25),
        half,
        at(0.75),
        end,
        end - half,
        (end - half) / half * 100.0
    );
    for s in counts.samples.lock().unwrap().iter() {
        eprintln!("error: {s}");
    }
    drop(server);
    if errors > 0 {
        std::process::exit(1);
    }
}

async fn load(
    d: &std::path::Path,
    setup: &support::Setup,
    access_key: &str,
    secs: u64,
    pid: u32,
    counts: Arc<Counts>,
) -> Vec<(f64, f64)> {
    let (public, portal) = (setup.public, setup.portal);
    let up = Instant::now();
    while TcpStream::connect(("127.0.0.1", public)).await.is_err()
        || TcpStream::connect(("127.0.0.1", portal)).await.is_err()
    {
        assert!(
            up.elapsed() < Duration::from_secs(60),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pki = d.join("data/pki");
    let pem = |p: std::path::PathBuf, label: &str| {
        shomei_ca::pki::pem_to_der(&std::fs::read_to_string(p).unwrap(), label).unwrap()
    };
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pem(pki.join("root.crt"), "CERTIFICATE").into())
        .unwrap();
    let anonymous = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots.clone())
            .with_no_client_auth(),
    );
    let customer = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![pem(d.join("acct/login.crt"), "CERTIFICATE").into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(
                    pem(d.join("acct/login.key"), "PRIVATE KEY").into(),
                ),
            )
            .unwrap(),
    );
    let cert_pem = std::fs::read_to_string(&setup.cert).unwrap();
    let cert_der = shomei_ca::pki::pem_to_der(&cert_pem, "CERTIFICATE").unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&cert_der).unwrap();
    let ocsp_req = Arc::new(
        shomei_ca::ocsp::request(
            &pem(pki.join("server-ca.crt"), "CERTIFICATE"),
            cert.raw_serial(),
            shomei_ca::ocsp::HashAlg::Sha1,
        )
        .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    // OCSP and CRLs, keep-alive.
    for k in 0..6 {
        let (counts, req) = (counts.clone(), ocsp_req.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(("127.0.0.1", public)).await.unwrap();
            let ocsp = format!(
                "POST /ocsp/server HTTP/1.1\r\nHost: pki.example.jp\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
                req.len()
            );
            let crl = "GET /crl/server.crl HTTP/1.1\r\nHost: pki.example.jp\r\n\r\n";
            while Instant::now() < deadline {
                let r = if k < 4 {
                    request(&mut s, &ocsp, &req).await
                } else {
                    request(&mut s, crl, b"").await
                };
                match r {
                    Some((200, body)) if !body.is_empty() => {
                        let n = if k < 4 { &counts.ocsp } else { &counts.crl };
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        counts.error(format!("public: {:?}", other.map(|o| o.0)));
                        s = TcpStream::connect(("127.0.0.1", public)).await.unwrap();
                    }
                }
            }
        }));
    }
    // Customer sessions asking for お申込一覧.
    for _ in 0..8 {
        let (counts, cfg, key) = (counts.clone(), customer.clone(), access_key.to_owned());
        tasks.push(tokio::spawn(async move {
            let body = format!("login={key}&password={PASSWORD}");
            let login = format!(
                "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{portal}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let Some((303, answer)) = once(cfg.clone(), portal, login).await else {
                counts.error("portal: login refused".into());
                return;
            };
            let cookie = answer
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .starts_with("set-cookie:")
                        .then(|| l[11..].trim().split(';').next().unwrap_or("").to_owned())
                })
                .unwrap_or_default();
            let list = format!(
                "GET /applications HTTP/1.1\r\nHost: 127.0.0.1:{portal}\r\nCookie: {cookie}\r\n\r\n"
            );
            let mut s = tls_connect(cfg.clone(), portal).await;
            while Instant::now() < deadline {
                let Some(conn) = s.as_mut() else {
                    counts.error("portal: cannot connect".into());
                    return;
                };
                match request(conn, &list, b"").await {
                    Some((200, page)) if String::from_utf8_lossy(&page).contains(".example.jp") => {
                        counts.list.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        counts.error(format!("list page: {:?}", other.map(|o| o.0)));
                        s = tls_connect(cfg.clone(), portal).await;
                    }
                }
            }
        }));
    }
    // Wrong logins (deliberate 401s, then 429s from the throttle).
    {
        let (counts, cfg) = (counts.clone(), anonymous.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let body = format!("login=W{n:07}&password=wrong-{n}");
                let req = format!(
                    "POST /otp-login HTTP/1.1\r\nHost: 127.0.0.1:{portal}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                match once(cfg.clone(), portal, req).await.map(|a| a.0) {
                    Some(401) => counts.wrong_401.fetch_add(1, Ordering::Relaxed),
                    Some(429) => counts.wrong_429.fetch_add(1, Ordering::Relaxed),
                    other => {
                        counts.error(format!("wrong login: {other:?}"));
                        0
                    }
                };
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    // Applications submitted and issued, one at a time.
    {
        let (counts, d, key) = (counts.clone(), d.to_path_buf(), access_key.to_owned());
        let args = support::import_args(&d, &key);
        tasks.push(tokio::task::spawn_blocking(move || {
            while Instant::now() < deadline {
                let out = std::process::Command::new(support::BIN)
                    .arg("--data-dir")
                    .arg(d.join("data"))
                    .arg("--config")
                    .arg(d.join("shomei.toml"))
                    .args(&args)
                    .output();
                match out {
                    Ok(o) if o.status.success() => {
                        counts.imported.fetch_add(1, Ordering::Relaxed);
                    }
                    other => counts.error(format!("contract import: {other:?}")),
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }));
    }
    // Memory, every 5 seconds.
    let start = Instant::now();
    let mut rss = vec![(0.0, rss_mb(pid))];
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(5).min(deadline - Instant::now())).await;
        rss.push((start.elapsed().as_secs_f64(), rss_mb(pid)));
    }
    for t in tasks {
        let _ = t.await;
    }
    rss
}
