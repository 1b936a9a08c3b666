//! A strict `application/x-www-form-urlencoded` extractor (issue #7 item 11): axum's
//! `Form` decodes percent-escapes that are not UTF-8 into U+FFFD, so a desk rejection
//! reason `%FF%FE` was stored as "��". This one refuses the whole request with a clear
//! 400 page, storing nothing, as the multipart forms already do.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// Like `axum::Form`, but a body whose decoded names or values are not UTF-8 is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct Form<T>(pub T);

/// Whether every name and value of a url-encoded body decodes to UTF-8.
pub fn is_utf8_urlencoded(body: &[u8]) -> bool {
    body.split(|b| *b == b'&').all(|pair| {
        let mut out = Vec::with_capacity(pair.len());
        let mut i = 0;
        while i < pair.len() {
            let b = pair[i];
            let hex = |c: u8| (c as char).to_digit(16);
            match (b, pair.get(i + 1).copied(), pair.get(i + 2).copied()) {
                (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                    out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                    i += 3;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        std::str::from_utf8(&out).is_ok()
    })
}

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !is_utf8_urlencoded(&bytes) {
            tracing::warn!(uri = %parts.uri, "form refused: not UTF-8");
            return Err(crate::error::WebError::BadEncoding.into_response());
        }
        let req = Request::from_parts(parts, Body::from(bytes));
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(v)| Form(v))
            .map_err(|_| crate::error::WebError::BadRequest.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::is_utf8_urlencoded;

    #[test]
    fn only_utf8_passes() {
        assert!(is_utf8_urlencoded(b"a=1&reason=%E3%81%82+x"));
        assert!(is_utf8_urlencoded(b"a=100%&b=%zz"));
        assert!(!is_utf8_urlencoded(b"csrf=x&reason=%FF%FE"));
        assert!(!is_utf8_urlencoded(b"r\xff=1"));
        assert!(!is_utf8_urlencoded(b"a=%E3%81"));
    }
}
