//! Issue #12, overload: beyond `listen.max_in_flight` requests at once the portal answers
//! 503 with Retry-After at once — the busy page, in Japanese and English — instead of
//! queueing them until clients time out, and it answers normally again as soon as the
//! load is gone. Against the real binary over TLS, with a limit of 2 and 40 wrong logins
//! at once (each costs an argon2 check on a one-slot pool, so they pile up).

use crate::common::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn post_login(
    tls: Arc<rustls::ClientConfig>,
    portal: u16,
    n: usize,
) -> Result<(u16, String), String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", portal))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = rustls::pki_types::ServerName::IpAddress(rustls::pki_types::IpAddr::V4(
        rustls::pki_types::Ipv4Addr::from([127, 0, 0, 1]),
    ));
    let mut s = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let body = format!("login=X{n:07}&password=wrong-password-{n}");
    let req = format!(
        "POST /otp-login HTTP/1.1\r\nHost: 127.0.0.1:{portal}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    // A closed TLS connection without close_notify still carries the whole answer.
    let _ = tokio::time::timeout(Duration::from_secs(120), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no answer: {text:?}"))?;
    Ok((status, text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_overload_is_shed_with_503_and_retry_after_and_then_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut i = start_with(dir.path(), "o", &data, None, "max_in_flight = 2\n", &[]);
    assert!(
        wait_running(&mut i, Duration::from_secs(60)),
        "serve did not start\n{}",
        log(&i)
    );
    let root = std::fs::read_to_string(data.join("pki/root.crt")).expect("root");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            shomei_ca::pki::pem_to_der(&root, "CERTIFICATE").expect("der"),
        ))
        .expect("root");
    let tls = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let tasks: Vec<_> = (0..40)
        .map(|n| tokio::spawn(post_login(tls.clone(), i.portal, n)))
        .collect();
    let (mut shed, mut handled) = (0, 0);
    for t in tasks {
        let (status, text) = t.await.expect("task").unwrap_or_else(|e| panic!("{e}"));
        match status {
            503 => {
                let lower = text.to_ascii_lowercase();
                assert!(lower.contains("\r\nretry-after: 2\r\n"), "{text}");
                assert!(
                    text.contains("ただいま混み合っています")
                        && text.contains("The service is busy"),
                    "{text}"
                );
                shed += 1;
            }
            // A wrong login (or the throttle after too many): handled.
            200 | 401 | 422 | 429 => handled += 1,
            other => panic!("unexpected {other}: {text}"),
        }
    }
    assert!(shed > 0, "nothing was shed ({handled} handled)");
    assert!(handled >= 2, "too little handled: {handled}");
    // The load is gone: served again at once.
    let (status, text) = post_login(tls.clone(), i.portal, 99)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(status, 503, "{text}");
    sigterm(&i);
    let exit = wait_exit(&mut i, Duration::from_secs(60));
    assert!(exit.is_some_and(|s| s.success()), "{exit:?}\n{}", log(&i));
}

/// Reads what the server sends on `c` for up to 10 s: `Ok(0)` or an error when it closed
/// the connection, `Err(TimedOut)` when it kept it open without a word.
async fn closed_by_server(c: &mut tokio::net::TcpStream) -> std::io::Result<usize> {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// Issue #11 (OWASP resource exhaustion): one client address keeps at most
/// `listen.max_connections_per_address` of a listener's connections. Against the real
/// binary with a share of 3: three connections from 127.0.0.1 that send nothing are held
/// (until the 20 s first-bytes limit), a fourth is closed at once, on the public listener
/// and on the portal; another address, 127.0.0.2, is answered meanwhile; and once the
/// three are gone 127.0.0.1 is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue11_one_address_keeps_at_most_its_share_of_a_listeners_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut i = start_with(
        dir.path(),
        "a",
        &data,
        None,
        "max_connections_per_address = 3\n",
        &[],
    );
    assert!(
        wait_running(&mut i, Duration::from_secs(60)),
        "serve did not start\n{}",
        log(&i)
    );
    for (listener, port) in [("public", i.public), ("portal", i.portal)] {
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .expect("connect"),
            );
        }
        // Accepted in order: the fourth is counted after the three.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut fourth = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let read = closed_by_server(&mut fourth).await;
        assert!(
            matches!(read, Ok(0))
                || read
                    .as_ref()
                    .is_err_and(|e| e.kind() != std::io::ErrorKind::TimedOut),
            "{listener}: a fourth connection from 127.0.0.1 was kept: {read:?}\n{}",
            log(&i)
        );
        for c in &mut held {
            let mut one = [0u8; 1];
            let still = tokio::time::timeout(Duration::from_millis(100), c.read(&mut one)).await;
            assert!(
                still.is_err(),
                "{listener}: a held connection was closed: {still:?}"
            );
        }
        // Another address is served while 127.0.0.1 has its share open.
        if listener == "public" {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket
                .bind("127.0.0.2:0".parse().expect("addr"))
                .expect("bind 127.0.0.2");
            let mut other = socket
                .connect(format!("127.0.0.1:{port}").parse().expect("addr"))
                .await
                .expect("connect from 127.0.0.2");
            other
                .write_all(b"GET /health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .await
                .expect("write");
            let mut answer = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(10), other.read_to_end(&mut answer)).await;
            let answer = String::from_utf8_lossy(&answer);
            assert!(
                answer.starts_with("HTTP/1.1 200"),
                "from 127.0.0.2: {answer}"
            );
        }
        drop(held);
    }
    // The three are gone: 127.0.0.1 is served again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = tokio::task::spawn_blocking({
        let port = i.public;
        move || get(port, "/health/live")
    })
    .await
    .expect("get");
    assert_eq!(status, 200);
    assert!(
        log(&i).contains("max_connections_per_address"),
        "no warning logged\n{}",
        log(&i)
    );
    sigterm(&i);
    let exit = wait_exit(&mut i, Duration::from_secs(60));
    assert!(exit.is_some_and(|s| s.success()), "{exit:?}\n{}", log(&i));
}
