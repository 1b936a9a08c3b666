//! The TLS listeners. A hand-written accept loop (tokio-rustls + hyper-util) so that
//! each request carries the client certificate presented on its connection.

use crate::watched::{Cap, Limits, MinRate, Watched};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use shomei_ca::client::PresentedCert;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::Service;

/// The client certificate presented on this request's TLS connection, if any. Present
/// only when it chains to the listener's client CA (rustls verified it).
#[derive(Debug, Clone, Default)]
pub struct ClientCert(pub Option<PresentedCert>);

/// Whether a listener requires a client certificate at the TLS layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Requested; connections without one still get a page (the portal, R-L1).
    Optional,
    /// Required (the desk).
    Required,
    /// Not asked for: a server certificate only (the ACME listener).
    None,
}

/// Errors building a TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file did not parse.
    #[error("bad PEM: {0}")]
    Pem(String),
    /// rustls refused the configuration.
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("client verifier: {0}")]
    Verifier(String),
}

/// Builds a server configuration: our certificate chain and key, and client
/// certificates verified against `client_ca_pem` only.
pub fn server_config(
    chain_pem: &str,
    key_pem: &str,
    client_ca_pem: &str,
    auth: ClientAuth,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(client_ca_pem.as_bytes()) {
        roots.add(c.map_err(|e| TlsError::Pem(e.to_string()))?)?;
    }
    let versions = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let mut cfg = match auth {
        ClientAuth::None => versions.with_no_client_auth(),
        ClientAuth::Optional | ClientAuth::Required => {
            let verifier = match auth {
                ClientAuth::Optional => builder.allow_unauthenticated().build(),
                _ => builder.build(),
            }
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
            versions.with_client_cert_verifier(verifier)
        }
    }
    .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Serves `app` over TLS on `listener` until `stop` completes, then drains (issue #12):
/// no new connection is accepted, idle keep-alive connections are closed, requests in
/// flight finish (up to `DRAIN` long) and the function returns. At most `cap`
/// connections are open at once.
pub async fn serve_tls_until(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
    cap: Cap,
    stop: impl std::future::Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(config);
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let slot = tokio::select! {
            slot = cap.admit() => match slot {
                Some(s) => s,
                None => break,
            },
            () = &mut stop => break,
        };
        let (tcp, peer, slot) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((c, peer)) => match cap.from_address(slot, peer.ip()) {
                    Some(slot) => (c, peer, slot),
                    // Its address has its share open: closed at once.
                    None => continue,
                },
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let stream =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!("TLS handshake: {e}");
                        return;
                    }
                    Err(_) => return,
                };
            let cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| shomei_ca::client::presented(c).ok());
            let client = ClientCert(cert);
            let peer = crate::throttle::PeerAddr(peer.ip());
            serve_connection(stream, app, watcher, Limits::default(), move |ext| {
                ext.insert(client.clone());
                ext.insert(peer);
            })
            .await;
        });
    }
    drop(listener);
    drain(graceful).await;
}

/// Serves HTTP/1.1 or HTTP/2 on one accepted connection with `app` until it closes,
/// watched by a stopping server's `watcher`; `extend` adds what the connection knows
/// (its client certificate, its peer) to each request. Both accept loops (the TLS
/// listeners', the public listener's threads) go through it.
///
/// The connection is held to `limits` ([`Watched`]): a client that connects and sends
/// nothing, trickles its HTTP/1 request head, or leaves a connection idle (either
/// protocol) is cut off; a request being answered is never cut.
pub(crate) async fn serve_connection<Io>(
    io: Io,
    app: Router,
    watcher: Watcher,
    limits: Limits,
    extend: impl Fn(&mut axum::http::Extensions) + Clone + Send + Sync + 'static,
) where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (io, busy) = Watched::new(io, limits);
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut req = req.map(|body| axum::body::Body::new(MinRate::new(body, limits)));
        extend(req.extensions_mut());
        let mut app = app.clone();
        let running = busy.start();
        async move {
            let answer = app.call(req).await;
            drop(running);
            answer
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(io), svc)
        .into_owned();
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!("connection: {e}");
    }
}

/// Waits for the watched connections of a stopping server to end (idle keep-alive ones
/// are closed at once, requests in flight finish), at most [`DRAIN`].
pub(crate) async fn drain(graceful: GracefulShutdown) {
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN:?}: closed");
    }
}

/// How long a stopping server waits for requests in flight.
pub const DRAIN: Duration = Duration::from_secs(20);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spread::tests::connect;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Serves `/` on a loopback port, each connection through [`serve_connection`] with
    /// `limits`.
    async fn server(limits: Limits) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    "ok"
                }),
            )
            .route(
                "/echo",
                axum::routing::post(
                    |body: axum::body::Bytes| async move { body.len().to_string() },
                ),
            );
        let graceful = GracefulShutdown::new();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let watcher = graceful.watcher();
                tokio::spawn(serve_connection(tcp, app.clone(), watcher, limits, |_| {}));
            }
        });
        addr
    }

    async fn send(c: &mut TcpStream, bytes: &str) {
        if let Err(e) = c.write_all(bytes.as_bytes()).await {
            panic!("write: {e}");
        }
    }

    /// Reads until the server closes the connection (or 10 s pass: then the server
    /// did not close it, and the test fails); what it sent.
    async fn until_closed(c: &mut TcpStream, what: &str) -> String {
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let mut buf = [0u8; 1024];
                match c.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        let text = String::from_utf8_lossy(&got).into_owned();
        assert!(
            read.is_ok(),
            "{what}: the server kept the connection open: {text:?}"
        );
        text
    }

    /// Reads one whole answer whose body is `body` from a kept-alive connection.
    async fn answer_with(c: &mut TcpStream, body: &str) -> String {
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).ends_with(&format!("\r\n\r\n{body}")) {
            let mut buf = [0u8; 1024];
            let n = c
                .read(&mut buf)
                .await
                .unwrap_or_else(|e| panic!("read: {e}"));
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    /// Reads one whole answer (`ok`) from a kept-alive connection.
    async fn answer(c: &mut TcpStream) -> String {
        answer_with(c, "ok").await
    }

    /// OWASP's slow-request (slowloris) guidance, the observation on issue #11: a
    /// client that trickles a request's head, one that connects and sends nothing, and
    /// an idle kept-alive connection are each closed once the header-read limit
    /// passes; a kept-alive connection that sends its next request in time is served.
    #[tokio::test]
    async fn slow_or_idle_http1_connections_are_closed_after_the_header_read_limit() {
        let addr = server(Limits {
            header_read: Duration::from_millis(400),
            idle: Duration::from_secs(60),
            ..Limits::default()
        })
        .await;

        // Half a request head, then nothing: closed (hyper may say 408 first).
        let mut trickle = connect(addr).await;
        send(&mut trickle, "GET / HTTP/1.1\r\nHost: t\r\n").await;
        let said = until_closed(&mut trickle, "trickle").await;
        assert!(
            said.is_empty() || said.starts_with("HTTP/1.1 408"),
            "{said}"
        );

        // Connected, nothing sent: closed, nothing answered.
        let mut silent = connect(addr).await;
        assert_eq!(until_closed(&mut silent, "silent").await, "");

        // A kept-alive connection: a second request within the limit is answered,
        // then the idle connection is closed.
        let mut kept = connect(addr).await;
        send(&mut kept, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
        assert!(answer(&mut kept).await.starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        send(&mut kept, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
        assert!(answer(&mut kept).await.starts_with("HTTP/1.1 200"));
        assert_eq!(until_closed(&mut kept, "kept").await, "");
    }

    /// The same guidance on HTTP/2 (h2c with prior knowledge, as the public listener
    /// speaks it): a connection that sent its preface and settings and then nothing is
    /// closed once the idle limit passes, where hyper alone keeps it for ever.
    #[tokio::test]
    async fn an_idle_http2_connection_is_closed_after_the_idle_limit() {
        let addr = server(Limits {
            header_read: Duration::from_secs(5),
            idle: Duration::from_millis(400),
            ..Limits::default()
        })
        .await;
        let mut c = connect(addr).await;
        let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // SETTINGS, empty
        if let Err(e) = c.write_all(&hello).await {
            panic!("write: {e}");
        }
        let said = until_closed(&mut c, "idle h2").await;
        // The server's SETTINGS frame came first (type 4 at byte 3): it spoke HTTP/2.
        assert_eq!(said.as_bytes().get(3), Some(&4), "{said:?}");
    }

    /// A request whose answer takes longer than the idle limit is answered: a
    /// connection is never idle while one of its requests runs.
    #[tokio::test]
    async fn a_request_running_longer_than_the_idle_limit_is_answered() {
        let addr = server(Limits {
            header_read: Duration::from_secs(5),
            idle: Duration::from_millis(300),
            ..Limits::default()
        })
        .await;
        let mut c = connect(addr).await;
        send(&mut c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").await;
        assert!(answer(&mut c).await.starts_with("HTTP/1.1 200"));
    }

    /// A request body dripped slower than the minimum rate (R.U.D.Y., OWASP's
    /// slow-request guidance) is cut with a 400 once its deadline passes; a body sent
    /// at once, however large, is read whole.
    #[tokio::test]
    async fn a_request_body_dripped_below_the_minimum_rate_is_refused() {
        let addr = server(Limits {
            header_read: Duration::from_millis(400),
            idle: Duration::from_secs(60),
            body_min_rate: 1000,
        })
        .await;
        let mut fast = connect(addr).await;
        let body = "x".repeat(200_000);
        send(
            &mut fast,
            &format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n{body}"),
        )
        .await;
        assert!(
            answer_with(&mut fast, "200000")
                .await
                .starts_with("HTTP/1.1 200")
        );

        let mut slow = connect(addr).await;
        send(
            &mut slow,
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n",
        )
        .await;
        let drip = tokio::spawn(async move {
            // 10 bytes every 100 ms: 100 bytes a second, a tenth of the minimum.
            for _ in 0..100 {
                if slow.write_all(b"xxxxxxxxxx").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            slow
        });
        let mut slow = drip.await.unwrap_or_else(|e| panic!("{e}"));
        // Answered 400 and closed (the close may reset the connection before the
        // answer is read: then nothing); without the limit it would stay open for the
        // rest of the body, and until_closed fails.
        let said = until_closed(&mut slow, "slow body").await;
        assert!(
            said.is_empty() || said.starts_with("HTTP/1.1 400"),
            "{said:?}"
        );
    }
}
