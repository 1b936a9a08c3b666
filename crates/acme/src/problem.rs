//! ACME problem documents (RFC 8555 6.7, RFC 7807): the error type and a detail a
//! client's user can act on.

use axum::http::StatusCode;

/// One ACME problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {detail}")]
pub struct Problem {
    /// Its type.
    pub kind: Kind,
    /// What went wrong, in words.
    pub detail: String,
    /// For `rateLimited`: seconds to wait (Retry-After).
    pub retry_after: Option<i64>,
}

/// The ACME error types this server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request is malformed.
    Malformed,
    /// The nonce is unknown, used or expired.
    BadNonce,
    /// The JWS algorithm is not supported.
    BadSignatureAlgorithm,
    /// Not allowed.
    Unauthorized,
    /// No account with this key.
    AccountDoesNotExist,
    /// An external account binding is required.
    ExternalAccountRequired,
    /// Something went wrong on the server.
    ServerInternal,
    /// The request conflicts with another account (a key already in use; 409).
    Conflict,
    /// No such resource (404).
    NotFound,
    /// The body is too large (413).
    TooLarge,
    /// The method is not allowed on this resource (405).
    MethodNotAllowed,
    /// An identifier this CA will not issue for (for this account).
    RejectedIdentifier,
    /// The order is not ready for this request (403).
    OrderNotReady,
    /// The CSR is unacceptable.
    BadCsr,
    /// CAA forbids issuance (403).
    Caa,
    /// Too many requests (429, with Retry-After).
    RateLimited,
    /// The certificate was already revoked.
    AlreadyRevoked,
    /// The revocation reason is not allowed.
    BadRevocationReason,
}

impl Kind {
    fn urn(self) -> &'static str {
        match self {
            Kind::Malformed
            | Kind::Conflict
            | Kind::NotFound
            | Kind::TooLarge
            | Kind::MethodNotAllowed => "urn:ietf:params:acme:error:malformed",
            Kind::BadNonce => "urn:ietf:params:acme:error:badNonce",
            Kind::BadSignatureAlgorithm => "urn:ietf:params:acme:error:badSignatureAlgorithm",
            Kind::Unauthorized => "urn:ietf:params:acme:error:unauthorized",
            Kind::AccountDoesNotExist => "urn:ietf:params:acme:error:accountDoesNotExist",
            Kind::ExternalAccountRequired => "urn:ietf:params:acme:error:externalAccountRequired",
            Kind::ServerInternal => "urn:ietf:params:acme:error:serverInternal",
            Kind::RejectedIdentifier => "urn:ietf:params:acme:error:rejectedIdentifier",
            Kind::OrderNotReady => "urn:ietf:params:acme:error:orderNotReady",
            Kind::BadCsr => "urn:ietf:params:acme:error:badCSR",
            Kind::Caa => "urn:ietf:params:acme:error:caa",
            Kind::RateLimited => "urn:ietf:params:acme:error:rateLimited",
            Kind::AlreadyRevoked => "urn:ietf:params:acme:error:alreadyRevoked",
            Kind::BadRevocationReason => "urn:ietf:params:acme:error:badRevocationReason",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Kind::Unauthorized | Kind::OrderNotReady | Kind::Caa => StatusCode::FORBIDDEN,
            Kind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Kind::AccountDoesNotExist => StatusCode::BAD_REQUEST,
            Kind::ServerInternal => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl Problem {
    /// A problem of `kind` with `detail`.
    pub fn new(kind: Kind, detail: impl Into<String>) -> Problem {
        Problem {
            kind,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// A malformed request.
    pub fn malformed(detail: impl Into<String>) -> Problem {
        Problem::new(Kind::Malformed, detail)
    }

    /// Its HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// Its JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "type": self.kind.urn(),
            "detail": self.detail,
            "status": self.status().as_u16(),
        });
        if self.kind == Kind::BadSignatureAlgorithm {
            v["algorithms"] = serde_json::json!(crate::jws::ALGORITHMS);
        }
        v
    }
}

impl From<shomei_ra::RaError> for Problem {
    fn from(e: shomei_ra::RaError) -> Problem {
        tracing::error!("acme: {e}");
        Problem::new(
            Kind::ServerInternal,
            "the server could not complete the request; try again later",
        )
    }
}

impl From<shomei_ra::acme_orders::AcmeRefusal> for Problem {
    fn from(r: shomei_ra::acme_orders::AcmeRefusal) -> Problem {
        use shomei_ra::acme_orders::AcmeError as E;
        let kind = match r.error {
            E::RejectedIdentifier => Kind::RejectedIdentifier,
            E::Unauthorized => Kind::Unauthorized,
            E::Malformed => Kind::Malformed,
            E::OrderNotReady => Kind::OrderNotReady,
            E::BadCsr => Kind::BadCsr,
            E::Caa => Kind::Caa,
            E::RateLimited(_) => Kind::RateLimited,
            E::AlreadyRevoked => Kind::AlreadyRevoked,
            E::BadRevocationReason => Kind::BadRevocationReason,
            E::NotFound => Kind::NotFound,
        };
        let mut p = Problem::new(kind, r.detail);
        if let E::RateLimited(s) = r.error {
            p.retry_after = Some(s);
        }
        p
    }
}
