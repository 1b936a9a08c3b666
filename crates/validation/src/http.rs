//! HTTP fetches for http-01 (BR 3.2.2.4.19) and the pki-validation file (3.2.2.4.18):
//! the domain's addresses from the validator's resolver, the configured port, at most
//! ten redirects, to http or https only (an https server's certificate is not checked,
//! RFC 8555 8.3), and at most 64 KiB of body.

use crate::{Failure, FailureKind, Validator, shorten};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::header::{HOST, LOCATION, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

const MAX_REDIRECTS: usize = 10;
const MAX_BODY: usize = 64 * 1024;

enum Answer {
    Body(Vec<u8>),
    Redirect(String),
}

/// GET `http://domain{path}`: the body of the final 200 answer.
pub(crate) async fn get(v: &Validator, domain: &str, path: &str) -> Result<Vec<u8>, Failure> {
    let mut https = false;
    let mut host = crate::normal(domain);
    let mut path = path.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let port = if https {
            v.config.tls_port
        } else {
            v.config.http_port
        };
        let stream = connect(v, &host, port).await?;
        let answer = if https {
            let tls = crate::alpn::handshake(stream, &host, &[b"http/1.1"]).await?;
            fetch(tls, &host, &path).await?
        } else {
            fetch(stream, &host, &path).await?
        };
        match answer {
            Answer::Body(b) => return Ok(b),
            Answer::Redirect(location) => {
                let uri: hyper::Uri = location.parse().map_err(|_| {
                    Failure::new(
                        FailureKind::IncorrectResponse,
                        format!("a redirect to {:?}, which is not a URL", shorten(&location)),
                    )
                })?;
                if let Some(scheme) = uri.scheme_str() {
                    https = match scheme {
                        "http" => false,
                        "https" => true,
                        _ => {
                            return Err(Failure::new(
                                FailureKind::IncorrectResponse,
                                format!(
                                    "a redirect to the scheme {scheme}: only http and https are followed"
                                ),
                            ));
                        }
                    };
                }
                if let Some(auth) = uri.authority() {
                    if let Some(p) = auth.port_u16()
                        && ![80, 443, v.config.http_port, v.config.tls_port].contains(&p)
                    {
                        return Err(Failure::new(
                            FailureKind::IncorrectResponse,
                            format!("a redirect to port {p}: only 80 and 443 are followed"),
                        ));
                    }
                    host = crate::normal(auth.host());
                }
                path = uri
                    .path_and_query()
                    .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
            }
        }
    }
    Err(Failure::new(
        FailureKind::IncorrectResponse,
        format!("more than {MAX_REDIRECTS} redirects"),
    ))
}

/// A TCP connection to one of `host`'s addresses on `port`.
pub(crate) async fn connect(v: &Validator, host: &str, port: u16) -> Result<TcpStream, Failure> {
    let ips = v.dns.ips(host).await?;
    let mut last = String::new();
    for ip in ips {
        match tokio::time::timeout(
            std::time::Duration::from_secs(5),
            TcpStream::connect((ip, port)),
        )
        .await
        {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = format!("{ip} port {port}: {e}"),
            Err(_) => last = format!("{ip} port {port}: timed out"),
        }
    }
    Err(Failure::new(
        FailureKind::Connection,
        format!("could not connect to {host}: {last}"),
    ))
}

async fn fetch<S>(io: S, host: &str, path: &str) -> Result<Answer, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let broken = |e: &dyn std::fmt::Display| {
        Failure::new(
            FailureKind::Connection,
            format!("HTTP to {host} failed: {e}"),
        )
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| broken(&e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("validation HTTP connection: {e}");
        }
    });
    let req = hyper::Request::get(path)
        .header(HOST, host)
        .header(USER_AGENT, "Shomei domain validation")
        .body(Empty::<Bytes>::new())
        .map_err(|e| broken(&e))?;
    let res = sender.send_request(req).await.map_err(|e| broken(&e))?;
    let status = res.status();
    if status.is_redirection() {
        let location = res
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| {
                Failure::new(
                    FailureKind::IncorrectResponse,
                    format!("http://{host}{path} redirected without a Location"),
                )
            })?;
        return Ok(Answer::Redirect(location.to_owned()));
    }
    if status != hyper::StatusCode::OK {
        return Err(Failure::new(
            FailureKind::Unauthorized,
            format!("http://{host}{path} answered {status}"),
        ));
    }
    let body = Limited::new(res.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| {
            Failure::new(
                FailureKind::IncorrectResponse,
                format!("http://{host}{path}: the body is unreadable or over {MAX_BODY} bytes"),
            )
        })?;
    Ok(Answer::Body(body.to_bytes().to_vec()))
}
