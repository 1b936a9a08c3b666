//! ACME anti-replay nonces (RFC 8555 6.5) without a write per nonce given out (issue
//! #11 item 4): a nonce is `issued-at ‖ 12 random bytes ‖ HMAC-SHA256` under a key
//! derived from the secrets key file, which every instance shares — so any instance can
//! tell a nonce it (or another) gave out from a forged one, and giving one out costs no
//! database write. Using one inserts it into `acme_used_nonces` (primary key: a second
//! use, on any instance, finds it there); concurrent uses share one transaction (group
//! commit). A nonce lives [`NONCE_LIFETIME`]; used ones are purged after that by the
//! maintenance task.

use crate::{Ra, Result};
use base64::Engine;
use shomei_store::Ts;

/// How long a nonce may be used after it was given out, in seconds.
pub const NONCE_LIFETIME: i64 = 3600;
/// How far in the future an instance's clock may date a nonce another instance checks.
const CLOCK_SKEW: i64 = 300;
/// The MAC's context: a tag made for anything else never checks as a nonce's.
const CONTEXT: &str = "acme-nonce";
const STAMP: usize = 8;
const RANDOM: usize = 12;
const TAG: usize = 32;

/// Encoded with base64url, no padding (RFC 8555 6.5.1).
fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

impl Ra {
    /// A fresh nonce (RFC 8555 7.2); nothing is written.
    pub async fn acme_nonce(&self) -> Result<String> {
        let mut body = [0u8; STAMP + RANDOM];
        body[..STAMP].copy_from_slice(&self.now().to_be_bytes());
        shomei_ca::random_bytes(&mut body[STAMP..])?;
        let mut nonce = body.to_vec();
        nonce.extend_from_slice(&self.policy.secrets.mac(CONTEXT, &body));
        Ok(b64().encode(nonce))
    }

    /// Uses a nonce: true once for a nonce given out by an instance sharing the key and
    /// not expired; false for a forged, expired or replayed one.
    pub async fn acme_use_nonce(&self, nonce: &str) -> Result<bool> {
        let Some(expires_at) = self.nonce_expiry(nonce) else {
            return Ok(false);
        };
        let store = self.store.clone();
        self.nonce_uses
            .submit((nonce.to_owned(), expires_at), move |group| {
                let store = store.clone();
                async move { Ok(store.use_nonces(&group).await?) }
            })
            .await
    }

    /// Forgets used nonces that have expired (maintenance); returns how many.
    pub async fn purge_used_nonces(&self) -> Result<u64> {
        Ok(self.store.purge_used_nonces(self.now()).await?)
    }

    /// When `nonce` expires, if it is one of ours and still alive.
    fn nonce_expiry(&self, nonce: &str) -> Option<Ts> {
        let raw = b64().decode(nonce).ok()?;
        if raw.len() != STAMP + RANDOM + TAG {
            return None;
        }
        let (body, tag) = raw.split_at(STAMP + RANDOM);
        if !self.policy.secrets.verify_mac(CONTEXT, body, tag) {
            return None;
        }
        let issued = i64::from_be_bytes(body[..STAMP].try_into().ok()?);
        let now = self.now();
        let expires_at = issued.checked_add(NONCE_LIFETIME)?;
        (expires_at > now && issued <= now + CLOCK_SKEW).then_some(expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        // 52 bytes: 70 characters of base64url, no padding.
        assert_eq!(b64().encode([0u8; STAMP + RANDOM + TAG]).len(), 70);
    }
}
