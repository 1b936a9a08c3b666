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
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::request;
use tokio::net::{TcpSocket, TcpStream};

mod support;

const PHASE: Duration = Duration::from_secs(10);

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
                if request(&mut s, &ocsp_head, &req).await.map(|r| r.0) != Some(200) {
                    break;
                }
                ocsp.push(t.elapsed().as_micros() as u64);
                let t = Instant::now();
                if request(&mut s, &crl_head, b"").await.map(|r| r.0) != Some(200) {
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
                    match request(&mut s, &head, body.as_bytes()).await.map(|r| r.0) {
                        Some(401) => answers.unauthorized.fetch_add(1, Ordering::Relaxed),
                        Some(429) => answers.too_many.fetch_add(1, Ordering::Relaxed),
                        _ => answers.other.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect()
}

fn main() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().to_path_buf();
    let setup = support::setup(&d);
    let (public, portal, cert) = (setup.public, setup.portal, setup.cert.clone());
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

    let _server = support::serve(&d, "error", &d.join("serve.log"));
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
