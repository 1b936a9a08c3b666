//! Secrets stored in the database, encrypted with a key kept outside it (issue #7
//! item 13): today the TOTP secrets (R-L6). AES-256-GCM (ring), a random 96-bit nonce
//! per value, and the value's purpose and owner as associated data, so a ciphertext
//! cannot be moved to another account. Stored as `v1:<key id>:<base64(nonce ‖
//! ciphertext ‖ tag)>`; the key id is the first 8 hex digits of SHA-256 of the key.
//!
//! The key file (`<data dir>/secrets.key`, mode 0600, made on first start) holds one
//! key per line, 64 hex digits: the first encrypts, the others only decrypt — which is
//! how a key is rotated (`shomei secrets rotate`, README).

use crate::{RaError, Result};
use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

const PREFIX: &str = "v1:";

/// One key.
struct Key {
    id: String,
    key: LessSafeKey,
    /// The HMAC-SHA256 key derived from it (never the AES key itself).
    mac: ring::hmac::Key,
}

/// The keys: the first encrypts; every one decrypts values that name it.
pub struct SecretKeys {
    keys: Vec<Key>,
}

impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKeys")
            .field("ids", &self.keys.iter().map(|k| &k.id).collect::<Vec<_>>())
            .finish()
    }
}

impl Default for SecretKeys {
    /// A fixed all-zero key for tests and tools that never see real secrets. `serve`
    /// and every command always load the key file instead.
    fn default() -> Self {
        SecretKeys::from_raw(&[[0u8; 32]]).unwrap_or(SecretKeys { keys: Vec::new() })
    }
}

fn key_id(raw: &[u8; 32]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, raw);
    hex::encode(&d.as_ref()[..4])
}

/// What a MAC covers: `context ‖ 0 ‖ data`.
fn mac_message(context: &str, data: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(context.len() + 1 + data.len());
    msg.extend_from_slice(context.as_bytes());
    msg.push(0);
    msg.extend_from_slice(data);
    msg
}

impl SecretKeys {
    /// Keys from raw bytes, the encrypting one first.
    pub fn from_raw(raw: &[[u8; 32]]) -> Result<SecretKeys> {
        let keys = raw
            .iter()
            .map(|r| {
                let key = UnboundKey::new(&AES_256_GCM, r)
                    .map_err(|_| RaError::Invalid("err.internal"))?;
                let derived = ring::hmac::sign(
                    &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, r),
                    b"shomei mac key v1",
                );
                Ok(Key {
                    id: key_id(r),
                    key: LessSafeKey::new(key),
                    mac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if keys.is_empty() {
            return Err(RaError::Invalid("err.internal"));
        }
        Ok(SecretKeys { keys })
    }

    /// Parses a key file's text: one key per line (64 hex digits), `#` comments.
    pub fn parse(text: &str) -> std::result::Result<SecretKeys, String> {
        let mut raw = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut k = [0u8; 32];
            hex::decode_to_slice(line, &mut k)
                .map_err(|_| format!("line {}: expected 64 hex digits", i + 1))?;
            raw.push(k);
        }
        if raw.is_empty() {
            return Err("no key".into());
        }
        SecretKeys::from_raw(&raw).map_err(|e| e.to_string())
    }

    /// A new random key as a key-file line.
    pub fn new_key_line() -> Result<String> {
        let mut k = [0u8; 32];
        shomei_ca::random_bytes(&mut k)?;
        Ok(hex::encode(k))
    }

    /// The id of the encrypting key.
    pub fn current_id(&self) -> &str {
        self.keys.first().map(|k| k.id.as_str()).unwrap_or_default()
    }

    /// An HMAC-SHA256 tag of `data` for `context` (e.g. `acme-nonce`) under the current
    /// key: every instance sharing the key file makes and checks the same tags.
    pub fn mac(&self, context: &str, data: &[u8]) -> Vec<u8> {
        self.keys
            .first()
            .map(|k| {
                ring::hmac::sign(&k.mac, &mac_message(context, data))
                    .as_ref()
                    .to_vec()
            })
            .unwrap_or_default()
    }

    /// True if `tag` is [`SecretKeys::mac`]'s tag of `data` for `context` under any
    /// key (so a tag made before a rotation still checks); compared in constant time.
    pub fn verify_mac(&self, context: &str, data: &[u8], tag: &[u8]) -> bool {
        let msg = mac_message(context, data);
        self.keys
            .iter()
            .any(|k| ring::hmac::verify(&k.mac, &msg, tag).is_ok())
    }

    /// Encrypts `plain` for `context` (e.g. `totp:42`).
    pub fn seal(&self, context: &str, plain: &str) -> Result<String> {
        let k = self.keys.first().ok_or(RaError::Invalid("err.internal"))?;
        let mut nonce = [0u8; 12];
        shomei_ca::random_bytes(&mut nonce)?;
        let mut buf = plain.as_bytes().to_vec();
        k.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| RaError::Invalid("err.internal"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!(
            "{PREFIX}{}:{}",
            k.id,
            base64::engine::general_purpose::STANDARD.encode(out)
        ))
    }

    /// Whether a stored value is sealed (not clear text from before encryption).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// Whether a stored value is sealed with the current key.
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .and_then(|r| r.split_once(':'))
            .is_some_and(|(id, _)| id == self.current_id())
    }

    /// Decrypts a stored value for `context`. A value from before encryption (clear
    /// text) is returned as it is, so it keeps working until it is sealed.
    pub fn open(&self, context: &str, stored: &str) -> Result<String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let bad = || RaError::Invalid("err.secret_key");
        let (id, b64) = rest.split_once(':').ok_or_else(bad)?;
        let k = self.keys.iter().find(|k| k.id == id).ok_or_else(bad)?;
        let data = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| bad())?;
        if data.len() < 12 + 16 {
            return Err(bad());
        }
        let (nonce, ct) = data.split_at(12);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let mut buf = ct.to_vec();
        let plain = k
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| bad())?;
        String::from_utf8(plain.to_vec()).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_bind_and_rotate() {
        let old = SecretKeys::from_raw(&[[1u8; 32]]).unwrap_or_default();
        let sealed = old.seal("totp:1", "JBSWY3DPEHPK3PXP").unwrap_or_default();
        assert!(SecretKeys::is_sealed(&sealed) && !sealed.contains("JBSWY3DP"));
        assert_eq!(
            old.open("totp:1", &sealed).ok().as_deref(),
            Some("JBSWY3DPEHPK3PXP")
        );
        // Bound to its owner.
        assert!(old.open("totp:2", &sealed).is_err());
        // A new key first, the old one after: old values still open; new ones use the new key.
        let both = SecretKeys::from_raw(&[[2u8; 32], [1u8; 32]]).unwrap_or_default();
        assert_eq!(
            both.open("totp:1", &sealed).ok().as_deref(),
            Some("JBSWY3DPEHPK3PXP")
        );
        assert!(!both.is_current(&sealed));
        let resealed = both.seal("totp:1", "JBSWY3DPEHPK3PXP").unwrap_or_default();
        assert!(both.is_current(&resealed));
        // Without the old key it cannot be read.
        let new_only = SecretKeys::from_raw(&[[2u8; 32]]).unwrap_or_default();
        assert!(new_only.open("totp:1", &sealed).is_err());
        // Clear text from before encryption passes through.
        assert_eq!(old.open("totp:1", "ABC").ok().as_deref(), Some("ABC"));
        assert!(SecretKeys::parse("# k\n0011").is_err());
    }

    #[test]
    fn macs_check_across_a_rotation_and_are_bound_to_their_context() {
        let old = SecretKeys::from_raw(&[[1u8; 32]]).unwrap_or_default();
        let tag = old.mac("acme-nonce", b"data");
        assert_eq!(tag.len(), 32);
        assert!(old.verify_mac("acme-nonce", b"data", &tag));
        assert!(!old.verify_mac("acme-nonce", b"datb", &tag));
        assert!(!old.verify_mac("other", b"data", &tag));
        assert!(!old.verify_mac("acme-nonce", b"data", &tag[..31]));
        let both = SecretKeys::from_raw(&[[2u8; 32], [1u8; 32]]).unwrap_or_default();
        assert!(both.verify_mac("acme-nonce", b"data", &tag));
        assert_ne!(both.mac("acme-nonce", b"data"), tag);
        let new_only = SecretKeys::from_raw(&[[2u8; 32]]).unwrap_or_default();
        assert!(!new_only.verify_mac("acme-nonce", b"data", &tag));
    }
}
