//! Issue #7 item 9: do wrong logins slow down certificate status? Starts the real
//! `shomei serve` on loopback ports with a fresh data directory, issues one certificate
//! (`contract import`), then measures OCSP (POST) and CRL (GET) latency on the public
//! listener from 4 keep-alive clients:
//!
//!   1. quiet;
//!   2. while 16 clients send wrong logins to the portal's one-time-password entrance
//!      from 16 source addresses (the throttle answers 429 after 20 failures each);
//!   3. while 16 clients send wrong logins from a new source address and access key each
//!      time (127.1.x.y), so that every attempt costs an argon2 check: the worst case
//!      for the hashing pool.
//!
//! `cargo bench -p shomei --bench login_flood` (about a minute; needs `openssl` to make
//! the OCSP request). Prints p50/p99/max per phase and the login answers seen.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_shomei");
const PHASE: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(dir.join("shomei.toml"))
        .args(args)
        .stderr(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{BIN}: {e}"));
    assert!(out.status.success(), "shomei {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_field(json: &str, key: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    v[key].as_str().unwrap_or_default().to_owned()
}

/// One HTTP/1.1 request on a keep-alive connection; returns the status.
async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    head: &str,
    body: &[u8],
) -> Option<u16> {
    // One write: a request split in two would wait for the peer's delayed ACK.
    let mut msg = Vec::with_capacity(head.len() + body.len());
    msg.extend_from_slice(head.as_bytes());
    msg.extend_from_slice(body);
    s.write_all(&msg).await.ok()?;
    s.flush().await.ok()?;
    let mut buf = Vec::with_capacity(4096);
    let mut tmp = [0u8; 4096];
    let header_end = loop {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_lowercase();
    let status = head.get(9..12)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    Some(status)
}

/// 4 clients alternating OCSP POST and CRL GET for `PHASE`; latencies in µs.
async fn measure(public: SocketAddr, ocsp_req: Arc<Vec<u8>>) -> (Vec<u64>, Vec<u64>) {
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let req = ocsp_req.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ocsp, mut crl) = (Vec::new(), Vec::new());
            let Ok(mut s) = TcpStream::connect(public).await else {
                return (ocsp, crl);
            };
            let ocsp_head = format!(
                "POST /ocsp/server HTTP/1.1\r\nHost: {public}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
                req.len()
            );
            let crl_head = format!("GET /crl/server.crl HTTP/1.1\r\nHost: {public}\r\n\r\n");
            let start = Instant::now();
            while start.elapsed() < PHASE {
                let t = Instant::now();
                if request(&mut s, &ocsp_head, &req).await != Some(200) {
                    break;
                }
                ocsp.push(t.elapsed().as_micros() as u64);
                let t = Instant::now();
                if request(&mut s, &crl_head, b"").await != Some(200) {
                    break;
                }
                crl.push(t.elapsed().as_micros() as u64);
            }
            (ocsp, crl)
        }));
    }
    let (mut ocsp, mut crl) = (Vec::new(), Vec::new());
    for t in tasks {
        if let Ok((o, c)) = t.await {
            ocsp.extend(o);
            crl.extend(c);
        }
    }
    (ocsp, crl)
}

fn report(phase: &str, what: &str, mut v: Vec<u64>) {
    v.sort_unstable();
    let q = |p: f64| {
        v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "{phase:<34} {what:<5} n {:>6}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        v.len(),
        q(0.5),
        q(0.99),
        v.last().copied().unwrap_or(0) as f64 / 1000.0
    );
}

#[derive(Default)]
struct Answers {
    unauthorized: AtomicU64,
    too_many: AtomicU64,
    other: AtomicU64,
}

/// 16 clients posting wrong logins over TLS until `stop`. `distributed`: every attempt
/// from a new address with a new access key; else one address per client.
fn flood(
    portal: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    distributed: bool,
    stop: Arc<AtomicBool>,
    answers: Arc<Answers>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let seq = Arc::new(AtomicU64::new(0));
    (0..16u8)
        .map(|i| {
            let (tls, stop, answers, seq) = (tls.clone(), stop.clone(), answers.clone(), seq.clone());
            tokio::spawn(async move {
                let connector = tokio_rustls::TlsConnector::from(tls);
                while !stop.load(Ordering::Relaxed) {
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    let src = if distributed {
                        Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250) as u8 + 1)
                    } else {
                        Ipv4Addr::new(127, 0, 2, i + 1)
                    };
                    let Ok(sock) = TcpSocket::new_v4() else { return };
                    if sock.bind(SocketAddr::new(IpAddr::V4(src), 0)).is_err() {
                        return;
                    }
                    let Ok(tcp) = sock.connect(portal).await else { continue };
                    let name = rustls::pki_types::ServerName::IpAddress(
                        rustls::pki_types::IpAddr::V4(rustls::pki_types::Ipv4Addr::from([127, 0, 0, 1])),
                    );
                    let Ok(mut s) = connector.connect(name, tcp).await else { continue };
                    let body = format!("login=X{n:07}&password=wrong-password-{n}");
                    let head = format!(
                        "POST /otp-login HTTP/1.1\r\nHost: {portal}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    match request(&mut s, &head, body.as_bytes()).await {
                        Some(401) => answers.unauthorized.fetch_add(1, Ordering::Relaxed),
                        Some(429) => answers.too_many.fetch_add(1, Ordering::Relaxed),
                        _ => answers.other.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect()
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().to_path_buf();
    let (public, portal, desk, acme) = (free_port(), free_port(), free_port(), free_port());
    std::fs::write(
        d.join("shomei.toml"),
        format!("[listen]\npublic = \"127.0.0.1:{public}\"\nportal = \"127.0.0.1:{portal}\"\ndesk = \"127.0.0.1:{desk}\"\nacme = \"127.0.0.1:{acme}\"\n[pki]\npublic_base_url = \"http://pki.example.jp\"\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let acct = run(
        &d,
        &[
            "account",
            "create",
            "--org",
            "ベンチ株式会社",
            "--email",
            "b@example.jp",
            "--out",
            &d.join("acct").display().to_string(),
        ],
    );
    run(
        &d,
        &[
            "staff",
            "create",
            "--name",
            "審査 太郎",
            "--email",
            "s@example.jp",
            "--login",
            "bench",
            "--out",
            &d.join("staff").display().to_string(),
        ],
    );
    let app = d.join("app.json");
    std::fs::write(&app, r#"{"service":"SR3.0","term":"1","server_type":"apache","org_name":"ベンチ株式会社","org_country":"JP","org_state":"Tokyo","org_locality":"Chiyoda-ku","reg_name":"登録 太郎","reg_email":"reg@example.jp","reg_phone":"03-1234-5678","tech_name":"技術 花子","tech_email":"tech@example.jp","tech_phone":"03-1234-5679","admin_name":"事務 次郎","admin_email":"admin@example.jp","admin_phone":"03-1234-5670"}"#).unwrap_or_else(|e| panic!("{e}"));
    let csr: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "ca",
        "tests",
        "data",
        "rsa2048.csr",
    ]
    .iter()
    .collect();
    let cert = d.join("cert.pem");
    run(
        &d,
        &[
            "contract",
            "import",
            "--access-key",
            &json_field(&acct, "access_key"),
            "--staff",
            "bench",
            "--contract-type",
            "fixed",
            "--file",
            &app.display().to_string(),
            "--csr",
            &csr.display().to_string(),
            "--cert-out",
            &cert.display().to_string(),
        ],
    );
    let pki = d.join("data").join("pki");
    let req = d.join("ocsp.req");
    let ok = Command::new("openssl")
        .args(["ocsp", "-no_nonce", "-reqout"])
        .arg(&req)
        .arg("-issuer")
        .arg(pki.join("server-ca.crt"))
        .arg("-cert")
        .arg(&cert)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "openssl ocsp -reqout");
    let ocsp_req = Arc::new(std::fs::read(&req).unwrap_or_default());

    let _server = Server(
        Command::new(BIN)
            .arg("--data-dir")
            .arg(d.join("data"))
            .arg("--config")
            .arg(d.join("shomei.toml"))
            .arg("serve")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("serve: {e}")),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async move {
        let public = SocketAddr::from(([127, 0, 0, 1], public));
        let portal = SocketAddr::from(([127, 0, 0, 1], portal));
        let up = Instant::now();
        while TcpStream::connect(public).await.is_err() || TcpStream::connect(portal).await.is_err() {
            assert!(up.elapsed() < Duration::from_secs(30), "serve did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut roots = rustls::RootCertStore::empty();
        let root = std::fs::read_to_string(pki.join("root.crt")).unwrap_or_default();
        let der = shomei_ca::pki::pem_to_der(&root, "CERTIFICATE").unwrap_or_default();
        roots.add(rustls::pki_types::CertificateDer::from(der)).unwrap_or_else(|e| panic!("{e}"));
        let tls = Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        println!("OCSP (POST, one issued certificate) and CRL (GET) on the public listener, 4 keep-alive clients, {} s per phase", PHASE.as_secs());
        // Warm-up.
        let _ = measure(public, ocsp_req.clone()).await;
        let (o, c) = measure(public, ocsp_req.clone()).await;
        report("1 quiet", "OCSP", o);
        report("1 quiet", "CRL", c);
        for (phase, distributed) in [
            ("2 16 wrong logins, 16 addresses", false),
            ("3 16 wrong logins, new address each", true),
        ] {
            let stop = Arc::new(AtomicBool::new(false));
            let answers = Arc::new(Answers::default());
            let flooders = flood(portal, tls.clone(), distributed, stop.clone(), answers.clone());
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (o, c) = measure(public, ocsp_req.clone()).await;
            stop.store(true, Ordering::Relaxed);
            for f in flooders {
                let _ = f.await;
            }
            report(phase, "OCSP", o);
            report(phase, "CRL", c);
            println!(
                "{:<34} logins answered: 401 {}  429 {}  other {}",
                "",
                answers.unauthorized.load(Ordering::Relaxed),
                answers.too_many.load(Ordering::Relaxed),
                answers.other.load(Ordering::Relaxed)
            );
        }
    });
}
