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
