//! Requests over TLS as a browser with a login certificate sends them: one request per
//! connection, the session cookie, the CSRF token read off the page, and the login that
//! changes the initial password first (customer portal and staff desk alike).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TLS client trusting the development root of `data` and presenting the login
/// certificate written by `account create` / `staff create` into `creds`.
pub fn client(data: &Path, creds: &Path) -> Arc<rustls::ClientConfig> {
    let der = |p: &Path, label: &str| {
        shomei_ca::pki::pem_to_der(&std::fs::read_to_string(p).expect("pem"), label).expect("der")
    };
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(der(&data.join("pki/root.crt"), "CERTIFICATE").into())
        .expect("root");
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![der(&creds.join("login.crt"), "CERTIFICATE").into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(
                    der(&creds.join("login.key"), "PRIVATE KEY").into(),
                ),
            )
            .expect("client certificate"),
    )
}

/// One request on a new TLS connection: status, head (as sent) and body.
pub async fn send(
    cfg: &Arc<rustls::ClientConfig>,
    port: u16,
    req: String,
) -> (u16, String, String) {
    exchange_on(connect(cfg, port).await, req).await
}

/// A TLS connection to `port`, handshake done.
pub async fn connect(
    cfg: &Arc<rustls::ClientConfig>,
    port: u16,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::IpAddress(rustls::pki_types::IpAddr::V4(
        rustls::pki_types::Ipv4Addr::from([127, 0, 0, 1]),
    ));
    tokio_rustls::TlsConnector::from(cfg.clone())
        .connect(name, tcp)
        .await
        .expect("TLS")
}

/// Sends `req` on `s` and reads the answer to the end: status, head and body.
pub async fn exchange_on(
    mut s: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    req: String,
) -> (u16, String, String) {
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

pub fn http_get(port: u16, path: &str, cookie: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    )
}

pub fn http_post(port: u16, path: &str, cookie: &str, body: &str) -> String {
    post_typed(
        port,
        path,
        cookie,
        "application/x-www-form-urlencoded",
        body,
    )
}

/// A POST with its own content type (a multipart form, say).
pub fn post_typed(port: u16, path: &str, cookie: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..].split('"').next().unwrap_or_default().to_owned()
}

/// The value of the response header `name` (lower case), if sent.
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// Logs in on `port` with `login` and the initial password, which the server makes the
/// user change first; changes it to `new`. Returns the session cookie (`name=value`).
pub async fn first_login(
    cfg: &Arc<rustls::ClientConfig>,
    port: u16,
    login: &str,
    initial: &str,
    new: &str,
) -> String {
    let (status, head, _) = send(
        cfg,
        port,
        http_post(
            port,
            "/login",
            "",
            &format!("login={login}&password={initial}"),
        ),
    )
    .await;
    assert_eq!(status, 303, "{head}");
    assert_eq!(
        header(&head, "location").as_deref(),
        Some("/password"),
        "{head}"
    );
    let cookie = header(&head, "set-cookie")
        .and_then(|c| c.split(';').next().map(str::to_owned))
        .expect("a session cookie");
    let (_, _, page) = send(cfg, port, http_get(port, "/password", &cookie)).await;
    let form = format!(
        "csrf={}&current={initial}&new={new}&confirm={new}",
        csrf_of(&page)
    );
    let (status, head, body) = send(cfg, port, http_post(port, "/password", &cookie, &form)).await;
    assert_eq!(status, 303, "{head}{body}");
    cookie
}
