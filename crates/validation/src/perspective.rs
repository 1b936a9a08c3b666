//! Multi-perspective issuance corroboration (BR 3.2.2.9). The primary network
//! perspective (the RA's own [`Validator`]) runs each check, and so does every remote
//! perspective — a `shomei perspective` process elsewhere, reached over mutually
//! authenticated TLS with `POST /check` — with its own resolver and no shared cache.
//! A check passes when the primary passes and the remotes corroborate within the
//! quorum: with 2–5 remote perspectives one may disagree, with 6 or more two may. Fewer
//! remotes than the phase in force requires is a failure, never a quiet pass.

use crate::{Check, Failure, FailureKind, Outcome, SetupError, Validator};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// The TLS material of one end of the link between the primary and a perspective: its
/// certificate chain and key, and the CA the other end's certificate must chain to.
#[derive(Debug, Clone)]
pub struct LinkTls {
    /// This end's certificate (PEM).
    pub cert_pem: String,
    /// This end's key (PEM).
    pub key_pem: String,
    /// The CA of the other end (PEM).
    pub peer_ca_pem: String,
}

/// BR 3.2.2.9's phased minimum of remote network perspectives on a date (Unix
/// seconds): 2 from 2025-09-15, 3 from 2026-03-15, 4 from 2026-06-15, 5 from
/// 2026-12-15; before 2025-09-15 corroboration was optional (0).
pub fn required_remotes(now: i64) -> usize {
    const PHASES: &[(i64, usize)] = &[
        (1_797_292_800, 5), // 2026-12-15
        (1_781_481_600, 4), // 2026-06-15
        (1_773_532_800, 3), // 2026-03-15
        (1_757_894_400, 2), // 2025-09-15
    ];
    PHASES
        .iter()
        .find(|(from, _)| now >= *from)
        .map_or(0, |(_, n)| *n)
}

/// How many remote perspectives may disagree (BR 3.2.2.9's quorum table).
pub fn allowed_disagreements(remotes: usize) -> usize {
    match remotes {
        0 | 1 => 0,
        2..=5 => 1,
        _ => 2,
    }
}

/// One remote perspective's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteOutcome {
    /// The perspective (its URL).
    pub perspective: String,
    /// What it found.
    pub outcome: Outcome,
}

/// The corroborated result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Corroboration {
    /// The primary's result.
    pub primary: Outcome,
    /// Each remote's.
    pub remotes: Vec<RemoteOutcome>,
    /// The decision: `Ok` if the primary passed and the quorum corroborated.
    pub decision: Outcome,
}

impl Corroboration {
    /// Whether the check passed.
    pub fn passed(&self) -> bool {
        self.decision.is_ok()
    }

    /// The record of every perspective, for the audit log and the desk.
    pub fn perspectives_json(&self) -> String {
        serde_json::json!({ "primary": self.primary, "remotes": self.remotes }).to_string()
    }
}

/// Runs checks at the primary and every remote perspective.
#[derive(Clone)]
pub struct Corroborator {
    local: Validator,
    remotes: Vec<String>,
    client: Option<Arc<rustls::ClientConfig>>,
    /// The minimum of remote perspectives, overriding BR's phase (`None`: the phase).
    min_remotes: Option<usize>,
}

impl std::fmt::Debug for Corroborator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Corroborator")
            .field("local", &self.local)
            .field("remotes", &self.remotes)
            .field("min_remotes", &self.min_remotes)
            .finish_non_exhaustive()
    }
}

fn certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, SetupError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SetupError(format!("certificate PEM: {e}")))
}

fn key(pem: &str) -> Result<PrivateKeyDer<'static>, SetupError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| SetupError(format!("key PEM: {e}")))
}

fn roots(pem: &str) -> Result<rustls::RootCertStore, SetupError> {
    let mut r = rustls::RootCertStore::empty();
    for c in certs(pem)? {
        r.add(c).map_err(|e| SetupError(format!("CA: {e}")))?;
    }
    Ok(r)
}

impl Corroborator {
    /// The primary alone (no remote perspective): only for tests and laboratories that
    /// set `min_remotes` to 0; otherwise every check fails for want of corroboration.
    pub fn local(local: Validator, min_remotes: Option<usize>) -> Corroborator {
        Corroborator {
            local,
            remotes: Vec::new(),
            client: None,
            min_remotes,
        }
    }

    /// The primary and remote perspectives at `remotes` (`https://host:port`), reached
    /// with `tls` (the primary's client certificate and the perspectives' CA).
    pub fn new(
        local: Validator,
        remotes: Vec<String>,
        tls: &LinkTls,
        min_remotes: Option<usize>,
    ) -> Result<Corroborator, SetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SetupError(e.to_string()))?
            .with_root_certificates(roots(&tls.peer_ca_pem)?)
            .with_client_auth_cert(certs(&tls.cert_pem)?, key(&tls.key_pem)?)
            .map_err(|e| SetupError(format!("client certificate: {e}")))?;
        Ok(Corroborator {
            local,
            remotes,
            client: Some(Arc::new(cfg)),
            min_remotes,
        })
    }

    /// The primary's validator.
    pub fn validator(&self) -> &Validator {
        &self.local
    }

    /// The remote perspectives' URLs.
    pub fn remotes(&self) -> &[String] {
        &self.remotes
    }

    /// Runs `check` everywhere at once and decides by BR 3.2.2.9's quorum; `now` (Unix
    /// seconds) picks the phase's minimum of remote perspectives.
    pub async fn check(&self, check: &Check, now: i64) -> Corroboration {
        let mut set = tokio::task::JoinSet::new();
        for (i, url) in self.remotes.iter().enumerate() {
            let (me, url, check) = (self.clone(), url.clone(), check.clone());
            set.spawn(async move {
                let outcome = me.ask(&url, &check).await;
                (
                    i,
                    RemoteOutcome {
                        perspective: url,
                        outcome,
                    },
                )
            });
        }
        let primary = self.local.run(check).await;
        let mut remotes: Vec<(usize, RemoteOutcome)> = Vec::new();
        while let Some(r) = set.join_next().await {
            match r {
                Ok(r) => remotes.push(r),
                Err(e) => tracing::error!("perspective task: {e}"),
            }
        }
        remotes.sort_by_key(|(i, _)| *i);
        let remotes: Vec<RemoteOutcome> = remotes.into_iter().map(|(_, r)| r).collect();
        let need = self.min_remotes.unwrap_or_else(|| required_remotes(now));
        let decision = decide(&primary, &remotes, need);
        Corroboration {
            primary,
            remotes,
            decision,
        }
    }

    async fn ask(&self, url: &str, check: &Check) -> Outcome {
        let Some(cfg) = &self.client else {
            return Err(unreachable(url, "no TLS configuration"));
        };
        let timeout = Duration::from_secs(self.local.config.timeout_seconds.max(1) + 5);
        match tokio::time::timeout(timeout, ask_remote(cfg.clone(), url, check)).await {
            Ok(Ok(o)) => o,
            Ok(Err(why)) => Err(unreachable(url, &why)),
            Err(_) => Err(unreachable(url, "timed out")),
        }
    }
}

fn unreachable(url: &str, why: &str) -> Failure {
    Failure::new(
        FailureKind::Connection,
        format!("the remote perspective {url} did not answer: {why}"),
    )
}

/// BR 3.2.2.9: the primary must pass; at least `need` remote perspectives must have been
/// asked, and no more than the quorum table allows may disagree.
pub fn decide(primary: &Outcome, remotes: &[RemoteOutcome], need: usize) -> Outcome {
    primary.clone()?;
    if remotes.len() < need {
        return Err(Failure::new(
            FailureKind::Connection,
            format!(
                "not corroborated: {} remote network perspective(s) configured, BR 3.2.2.9 requires {need}",
                remotes.len()
            ),
        ));
    }
    let failed: Vec<&RemoteOutcome> = remotes.iter().filter(|r| r.outcome.is_err()).collect();
    if failed.len() > allowed_disagreements(remotes.len()) {
        let first = failed
            .first()
            .and_then(|r| r.outcome.clone().err())
            .map(|f| f.detail)
            .unwrap_or_default();
        let kind = failed
            .first()
            .and_then(|r| r.outcome.clone().err())
            .map_or(FailureKind::Unauthorized, |f| f.kind);
        return Err(Failure::new(
            kind,
            format!(
                "not corroborated: {} of {} remote network perspectives disagree (e.g. {first})",
                failed.len(),
                remotes.len()
            ),
        ));
    }
    Ok(())
}

async fn ask_remote(
    cfg: Arc<rustls::ClientConfig>,
    url: &str,
    check: &Check,
) -> Result<Outcome, String> {
    let uri: hyper::Uri = url.parse().map_err(|_| format!("bad URL {url}"))?;
    let host = uri.host().ok_or("URL without host")?.to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("perspective connection: {e}");
        }
    });
    let body = serde_json::to_vec(check).map_err(|e| e.to_string())?;
    let req = hyper::Request::post("/check")
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    if res.status() != hyper::StatusCode::OK {
        return Err(format!("answered {}", res.status()));
    }
    let bytes = Limited::new(res.into_body(), 64 * 1024)
        .collect()
        .await
        .map_err(|_| "unreadable answer".to_owned())?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| format!("answer: {e}"))
}

/// Serves `POST /check` for the primary on `listener` (a `shomei perspective`): only
/// clients whose certificate chains to `tls.peer_ca_pem` are admitted. Runs until the
/// listener fails.
pub async fn serve(
    listener: TcpListener,
    validator: Validator,
    tls: &LinkTls,
) -> Result<(), SetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(&tls.peer_ca_pem)?),
        provider.clone(),
    )
    .build()
    .map_err(|e| SetupError(format!("client verifier: {e}")))?;
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&tls.cert_pem)?, key(&tls.key_pem)?)
        .map_err(|e| SetupError(format!("server certificate: {e}")))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let validator = Arc::new(validator);
    loop {
        let (tcp, peer) = listener
            .accept()
            .await
            .map_err(|e| SetupError(format!("accept: {e}")))?;
        let acceptor = acceptor.clone();
        let validator = validator.clone();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        tracing::warn!(%peer, "perspective: TLS refused: {e}");
                        return;
                    }
                    Err(_) => return,
                };
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let validator = validator.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&validator, req).await) }
                });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .await
            {
                tracing::debug!(%peer, "perspective connection: {e}");
            }
        });
    }
}

async fn answer(
    v: &Validator,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let reply = |status: hyper::StatusCode, body: Vec<u8>| {
        let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        r
    };
    if req.method() != hyper::Method::POST || req.uri().path() != "/check" {
        return reply(
            hyper::StatusCode::NOT_FOUND,
            b"{\"error\":\"POST /check only\"}".to_vec(),
        );
    }
    let Ok(body) = Limited::new(req.into_body(), 16 * 1024).collect().await else {
        return reply(
            hyper::StatusCode::PAYLOAD_TOO_LARGE,
            b"{\"error\":\"too large\"}".to_vec(),
        );
    };
    let Ok(check) = serde_json::from_slice::<Check>(&body.to_bytes()) else {
        return reply(
            hyper::StatusCode::BAD_REQUEST,
            b"{\"error\":\"not a check\"}".to_vec(),
        );
    };
    let outcome = v.run(&check).await;
    tracing::info!(
        domain = check.domain(),
        method = check.method(),
        passed = outcome.is_ok(),
        "perspective check"
    );
    match serde_json::to_vec(&outcome) {
        Ok(b) => reply(hyper::StatusCode::OK, b),
        Err(_) => reply(hyper::StatusCode::INTERNAL_SERVER_ERROR, Vec::new()),
    }
}
