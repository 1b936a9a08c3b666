//! Real servers on loopback for tests of the checks (feature `testing`): a DNS server
//! (UDP, answering from a table), an HTTP server and a TLS-ALPN server.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub use hickory_proto;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

type Records = HashMap<(String, RecordType), Vec<RData>>;

/// A zone: (lower-case name with trailing dot, type) → records. Names listed in
/// `servfail` answer SERVFAIL.
#[derive(Clone, Default)]
pub struct Zone {
    pub records: Arc<Mutex<Records>>,
    pub servfail: Arc<Mutex<Vec<String>>>,
}

impl Zone {
    pub fn clear(&self, name: &str, t: RecordType) {
        let key = (format!("{}.", name.trim_end_matches('.')), t);
        self.records.lock().unwrap().remove(&key);
    }
    pub fn add(&self, name: &str, data: RData) {
        let key = (
            format!("{}.", name.trim_end_matches('.')),
            data.record_type(),
        );
        self.records
            .lock()
            .unwrap()
            .entry(key)
            .or_default()
            .push(data);
    }
}

/// Serves `zone` on a UDP port of 127.0.0.1; returns the address.
pub async fn dns_server(zone: Zone) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::new(q.metadata.id, MessageType::Response, q.metadata.op_code);
            r.metadata.authoritative = true;
            r.metadata.recursion_desired = q.metadata.recursion_desired;
            r.metadata.recursion_available = true;
            for query in &q.queries {
                r.add_query(query.clone());
                let name = query.name().to_ascii().to_ascii_lowercase();
                if zone
                    .servfail
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|s| format!("{s}.") == name)
                {
                    r.metadata.response_code = ResponseCode::ServFail;
                    continue;
                }
                let key = (name.clone(), query.query_type());
                if let Some(list) = zone.records.lock().unwrap().get(&key) {
                    for d in list {
                        r.add_answer(Record::from_rdata(
                            Name::from_ascii(&name).unwrap(),
                            0,
                            d.clone(),
                        ));
                    }
                }
            }
            if let Ok(bytes) = r.to_vec() {
                let _ = sock.send_to(&bytes, peer).await;
            }
        }
    });
    addr
}

/// An HTTP/1.1 server on 127.0.0.1 answering each path from `pages` (status, extra
/// header, body); 404 otherwise.
pub async fn http_server(pages: HashMap<String, (u16, Option<String>, String)>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let pages = pages.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, header, body) =
                    pages
                        .get(&path)
                        .cloned()
                        .unwrap_or((404, None, "not found".into()));
                let extra = header.map(|h| format!("{h}\r\n")).unwrap_or_default();
                let res = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(res.as_bytes()).await;
            });
        }
    });
    port
}

/// A TLS server on 127.0.0.1 presenting `cert_der` (with `key_der`) to every client that
/// offers acme-tls/1.
pub async fn alpn_server(cert_der: Vec<u8>, key_der: Vec<u8>) -> u16 {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Not with_single_cert: rustls would refuse the critical acmeIdentifier extension.
    let signer = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)))
        .unwrap();
    let ck = Arc::new(rustls::sign::CertifiedKey::new(
        vec![CertificateDer::from(cert_der)],
        signer,
    ));
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(ck)));
    cfg.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(s).await {
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    port
}

/// A tls-alpn-01 certificate for `name` with `digest` in the acmeIdentifier extension
/// (`critical` as given); (cert DER, key PKCS#8 DER).
pub fn alpn_cert(names: &[&str], digest: &[u8], critical: bool) -> (Vec<u8>, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let mut ext = rcgen::CustomExtension::new_acme_identifier(digest);
    ext.set_criticality(critical);
    params.custom_extensions = vec![ext];
    let cert = params.self_signed(&key).unwrap();
    (cert.der().to_vec(), key.serialize_der())
}

#[derive(Debug)]
struct Fixed(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for Fixed {
    fn resolve(
        &self,
        _: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}
