//! The JWS of every ACME POST (RFC 8555 6.2): flattened JSON serialization, a protected
//! header with `alg`, `nonce`, `url` and either `jwk` (newAccount) or `kid` (an
//! account URL), and a signature by the account key. Signatures are checked with the
//! `jsonwebtoken` crate; the account key's identity is its RFC 7638 thumbprint.

use crate::problem::{Kind, Problem};
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// The account-key algorithms accepted (RFC 8555 6.2: never `none` or a MAC).
pub const ALGORITHMS: &[&str] = &["ES256", "ES384", "RS256", "EdDSA"];

/// A request body at most this large is read (a CSR is at most 64 KiB).
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, Deserialize)]
struct Flattened {
    protected: String,
    payload: String,
    signature: String,
}

/// The protected header.
#[derive(Debug, Clone, Deserialize)]
pub struct Protected {
    /// The signature algorithm.
    pub alg: String,
    /// The anti-replay nonce.
    #[serde(default)]
    pub nonce: Option<String>,
    /// The URL the request was sent to.
    #[serde(default)]
    pub url: Option<String>,
    /// The account key (newAccount, revokeCert by certificate key).
    #[serde(default)]
    pub jwk: Option<serde_json::Value>,
    /// The account URL (every other request).
    #[serde(default)]
    pub kid: Option<String>,
}

/// A parsed JWS whose signature is still to be checked.
#[derive(Debug, Clone)]
pub struct Jws {
    /// The protected header.
    pub protected: Protected,
    /// The payload, decoded (empty for POST-as-GET).
    pub payload: Vec<u8>,
    /// `protected.payload` as sent: what was signed.
    pub signing_input: String,
    /// The signature as sent (base64url).
    pub signature: String,
}

/// base64url without padding, strictly.
pub fn b64(s: &str) -> Result<Vec<u8>, Problem> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| Problem::malformed("a JWS part is not base64url without padding"))
}

impl Jws {
    /// Parses a flattened JWS body.
    pub fn parse(body: &[u8]) -> Result<Jws, Problem> {
        let f: Flattened = serde_json::from_slice(body).map_err(|_| {
            Problem::malformed("the body is not a JWS in flattened JSON serialization")
        })?;
        let protected: Protected = serde_json::from_slice(&b64(&f.protected)?).map_err(|_| {
            Problem::malformed("the protected header is not a JSON object with alg")
        })?;
        Ok(Jws {
            payload: b64(&f.payload)?,
            signing_input: format!("{}.{}", f.protected, f.payload),
            signature: f.signature,
            protected,
        })
    }

    /// The algorithm, if it is one accepted for account keys.
    pub fn algorithm(&self) -> Result<Algorithm, Problem> {
        match self.protected.alg.as_str() {
            "ES256" => Ok(Algorithm::ES256),
            "ES384" => Ok(Algorithm::ES384),
            "RS256" => Ok(Algorithm::RS256),
            "EdDSA" => Ok(Algorithm::EdDSA),
            other => Err(Problem::new(
                Kind::BadSignatureAlgorithm,
                format!("the algorithm {other:?} is not accepted; use one of {ALGORITHMS:?}"),
            )),
        }
    }

    /// Checks the signature with `jwk` (the account key).
    pub fn verify(&self, jwk: &serde_json::Value) -> Result<(), Problem> {
        let alg = self.algorithm()?;
        let key: Jwk = serde_json::from_value(jwk.clone())
            .map_err(|_| Problem::malformed("the jwk is not a public key in JWK form"))?;
        // jsonwebtoken slices an Ed25519 key's first 32 bytes without checking its
        // length (a panic on a short `x`, found by the fuzz target acme_jws): check here.
        if jwk.get("kty").and_then(serde_json::Value::as_str) == Some("OKP") {
            let x = jwk
                .get("x")
                .and_then(serde_json::Value::as_str)
                .map(b64)
                .transpose()?
                .unwrap_or_default();
            if x.len() != 32 {
                return Err(Problem::malformed(
                    "the jwk is not an Ed25519 public key (x must be 32 bytes)",
                ));
            }
        }
        let decoding = DecodingKey::from_jwk(&key)
            .map_err(|_| Problem::malformed("the jwk is not a usable public key"))?;
        let ok = jsonwebtoken::crypto::verify(
            &self.signature,
            self.signing_input.as_bytes(),
            &decoding,
            alg,
        )
        .unwrap_or(false);
        if ok {
            Ok(())
        } else {
            Err(Problem::malformed(
                "the JWS signature does not verify with the account key",
            ))
        }
    }

    /// The payload as JSON (an empty payload, POST-as-GET, is `null`).
    pub fn json(&self) -> Result<serde_json::Value, Problem> {
        if self.payload.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&self.payload)
            .map_err(|_| Problem::malformed("the JWS payload is not JSON"))
    }
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK.
pub fn thumbprint(jwk: &serde_json::Value) -> Result<String, Problem> {
    if jwk.get("d").is_some() || jwk.get("k").is_some() {
        return Err(Problem::malformed("the jwk must be a public key"));
    }
    let key: Jwk = serde_json::from_value(jwk.clone())
        .map_err(|_| Problem::malformed("the jwk is not a public key in JWK form"))?;
    key.thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| Problem::malformed("the jwk's key type is not supported"))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use base64::Engine;

    /// Found by the fuzz target acme_jws (issue #12): an Ed25519 JWK whose `x` is not
    /// 32 bytes made the signature check panic; it is refused as malformed.
    #[test]
    fn a_short_ed25519_key_is_malformed_not_a_panic() {
        let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        for len in [0usize, 1, 30, 31, 33, 64] {
            let jwk =
                serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": enc(&vec![7u8; len]) });
            let protected = enc(serde_json::json!({ "alg": "EdDSA", "jwk": jwk })
                .to_string()
                .as_bytes());
            let body = serde_json::json!({ "protected": protected, "payload": enc(b"{}"), "signature": enc(&[1u8; 64]) });
            let jws = Jws::parse(body.to_string().as_bytes()).expect("parse");
            let err = jws.verify(&jwk).expect_err("refused");
            assert!(err.detail.contains("Ed25519"), "{len}: {}", err.detail);
        }
    }
}
