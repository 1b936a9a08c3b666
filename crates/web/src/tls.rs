//! The TLS listeners. A hand-written accept loop (tokio-rustls + hyper-util) so that
//! each request carries the client certificate presented on its connection.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
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
            serve_connection(stream, app, watcher, move |ext| {
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
pub(crate) async fn serve_connection<Io>(
    io: Io,
    app: Router,
    watcher: Watcher,
    extend: impl Fn(&mut axum::http::Extensions) + Clone + Send + Sync + 'static,
) where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        extend(req.extensions_mut());
        let mut app = app.clone();
        async move { app.call(req).await }
    });
    let conn = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
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
