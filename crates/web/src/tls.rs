//! The TLS listeners. A hand-written accept loop (tokio-rustls + hyper-util) so that
//! each request carries the client certificate presented on its connection.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use shomei_ca::client::PresentedCert;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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

/// Serves `app` over TLS on `listener` until the task is dropped.
pub async fn serve_tls(listener: TcpListener, config: Arc<ServerConfig>, app: Router) {
    serve_tls_until(listener, config, app, std::future::pending()).await;
}

/// Serves `app` over TLS on `listener` until `stop` completes, then drains (issue #12):
/// no new connection is accepted, idle keep-alive connections are closed, requests in
/// flight finish (up to `DRAIN` long) and the function returns.
pub async fn serve_tls_until(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
    stop: impl std::future::Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(config);
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
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
            serve_connection(stream, app, watcher, HEADER_READ, move |ext| {
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
/// A client must send its first bytes within `header_read` of the accept (on either
/// protocol: hyper-util reads them to tell HTTP/1 from HTTP/2, with no limit of its
/// own), and on HTTP/1 each request's head must arrive within `header_read` of the
/// connection being ready for it — after the accept, and after each response while it
/// is kept alive — or the connection is closed: a client that trickles its headers, or
/// opens connections and sends nothing, holds none for long.
pub(crate) async fn serve_connection<Io>(
    io: Io,
    app: Router,
    watcher: Watcher,
    header_read: Duration,
    extend: impl Fn(&mut axum::http::Extensions) + Clone + Send + Sync + 'static,
) where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        extend(req.extensions_mut());
        let mut app = app.clone();
        async move { app.call(req).await }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read);
    let io = FirstBytes {
        io,
        deadline: Some(Box::pin(tokio::time::sleep(header_read))),
    };
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

/// A connection's stream whose reads fail (`TimedOut`) if no byte has arrived by the
/// deadline; after the first byte, or an end of stream, reads are the stream's own.
struct FirstBytes<Io> {
    io: Io,
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<Io: AsyncRead + Unpin> AsyncRead for FirstBytes<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.deadline = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if expired {
                    Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for FirstBytes<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// How long a client has to send a request's head on HTTP/1, and how long a kept-alive
/// connection may sit idle between requests (OWASP's slow-request guidance; nginx
/// allows 60 s for headers and 75 s idle, Apache 20–40 s for headers).
pub const HEADER_READ: Duration = Duration::from_secs(20);

/// How long a stopping server waits for requests in flight.
pub const DRAIN: Duration = Duration::from_secs(20);

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Serves `/` on a loopback port, each connection through [`serve_connection`] with
    /// a header-read limit of `limit`.
    async fn server(limit: Duration) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let app = Router::new().route("/", get(|| async { "ok" }));
        let graceful = GracefulShutdown::new();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let watcher = graceful.watcher();
                tokio::spawn(serve_connection(tcp, app.clone(), watcher, limit, |_| {}));
            }
        });
        addr
    }

    async fn connect(addr: std::net::SocketAddr) -> TcpStream {
        TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"))
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

    /// Reads one whole answer (`ok`) from a kept-alive connection.
    async fn answer(c: &mut TcpStream) -> String {
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).ends_with("\r\n\r\nok") {
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

    /// OWASP's slow-request (slowloris) guidance, the observation on issue #11: a
    /// client that trickles a request's head, one that connects and sends nothing, and
    /// an idle kept-alive connection are each closed once the header-read limit
    /// passes; a kept-alive connection that sends its next request in time is served.
    #[tokio::test]
    async fn slow_or_idle_http1_connections_are_closed_after_the_header_read_limit() {
        let addr = server(Duration::from_millis(400)).await;

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
}
