//! The OCSP responder's memory (issue #11 item 1): signed responses of issued
//! certificates kept in memory, so a request costs a parse and a map lookup, not a
//! store query. The store stays the source of truth:
//!
//! - every entry was read from (or written to) the store together with the status it
//!   states, and is only inserted if no status change was announced meanwhile (an
//!   epoch counter bumped by every change, local or from another instance), so a
//!   response read just before a revocation can never be kept after it;
//! - a revocation, an issuance or a refresh replaces entries through the same code path
//!   that writes the store ([`crate::Ra::prebuild_ocsp`]); on PostgreSQL the other
//!   instances hear of it at commit (`LISTEN`) and drop theirs;
//! - answers for serials that were never issued are signed at most
//!   [`UNKNOWN_SIGNATURES_PER_SECOND`] times a second and kept for a few minutes, so
//!   random serials cannot make the responder sign without end.
//!
//! Every response ends with the delegated responder's certificate, about half its
//! bytes: memory keeps that certificate once and each response's bytes before it, and
//! puts them back together when a response is asked for (issue #11 item 6).

use bytes::Bytes;
use shomei_ca::ocsp::HashAlg;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// How many responses the memory holds by default (about 1 KB each).
pub const DEFAULT_OCSP_MEMORY_ENTRIES: usize = 200_000;
/// How many answers about never-issued serials may be signed per second; beyond this
/// such requests get the unsigned `unauthorized` answer.
pub const UNKNOWN_SIGNATURES_PER_SECOND: u32 = 50;
/// How long a signed "unknown" answer is reused.
pub const UNKNOWN_KEEP_SECS: i64 = 300;
/// How many "unknown" answers are kept at most.
const UNKNOWN_ENTRIES: usize = 10_000;

/// A signed response ready to send, with what HTTP caching needs (RFC 5019 section 6).
#[derive(Debug)]
pub struct SignedOcsp {
    /// The DER OCSPResponse.
    pub der: Bytes,
    /// thisUpdate (Unix seconds).
    pub this_update: i64,
    /// nextUpdate (Unix seconds).
    pub next_update: i64,
    /// A strong entity tag: the hex SHA-256 of the response, quoted.
    pub etag: String,
    /// Whether it says "revoked" (else "good", or "unknown" for a never-issued serial).
    pub revoked: bool,
}

impl SignedOcsp {
    /// Wraps a signed response.
    pub fn new(der: Vec<u8>, this_update: i64, next_update: i64, revoked: bool) -> SignedOcsp {
        let tag = etag_of(&der);
        SignedOcsp::tagged(Bytes::from(der), this_update, next_update, &tag, revoked)
    }

    fn tagged(
        der: Bytes,
        this_update: i64,
        next_update: i64,
        tag: &[u8; 16],
        revoked: bool,
    ) -> SignedOcsp {
        SignedOcsp {
            der,
            this_update,
            next_update,
            etag: quoted_hex(tag),
            revoked,
        }
    }
}

/// `tag` in hex between double quotes, in one allocation (made for each answer).
fn quoted_hex(tag: &[u8; 16]) -> String {
    let mut hex = [0u8; 32];
    // Cannot fail: 32 bytes hold 16 in hex.
    let _ = hex::encode_to_slice(tag, &mut hex);
    let mut out = String::with_capacity(34);
    out.push('"');
    out.push_str(std::str::from_utf8(&hex).unwrap_or_default());
    out.push('"');
    out
}

/// The entity tag's bytes: the first half of the response's SHA-256.
fn etag_of(der: &[u8]) -> [u8; 16] {
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&ring::digest::digest(&ring::digest::SHA256, der).as_ref()[..16]);
    tag
}

/// A response as memory holds it: its bytes before the responder's certificate (or
/// all of them, if it does not end with the one memory knows).
#[derive(Debug)]
struct Held {
    head: Box<[u8]>,
    with_tail: bool,
    revoked: bool,
    this_update: i64,
    next_update: i64,
    etag: [u8; 16],
}

/// The certificate a response carries last (its responder's), if it parses.
fn responder_certificate(der: &[u8]) -> Option<Bytes> {
    use der::{Decode, Encode};
    let resp = x509_ocsp::OcspResponse::from_der(der).ok()?;
    let bytes = resp.response_bytes?;
    let basic = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()).ok()?;
    let cert = basic.certs?.into_iter().last()?.to_der().ok()?;
    der.ends_with(&cert).then(|| Bytes::from(cert))
}

/// What the responder answers.
#[derive(Debug, Clone)]
pub enum OcspReply {
    /// A signed response (good, revoked or unknown).
    Signed(Arc<SignedOcsp>),
    /// An unsigned error response (malformedRequest, unauthorized, internalError):
    /// never cached by HTTP caches.
    Error(Bytes),
}

impl OcspReply {
    /// The DER bytes.
    pub fn der(&self) -> &Bytes {
        match self {
            OcspReply::Signed(s) => &s.der,
            OcspReply::Error(b) => b,
        }
    }
}

type Key = (u8, Box<[u8]>);

fn key(alg: HashAlg, serial: &[u8]) -> Key {
    let a = match alg {
        HashAlg::Sha1 => 1,
        HashAlg::Sha256 => 2,
    };
    (a, serial.into())
}

/// The memory: responses of issued certificates, recent "unknown" answers, the epoch
/// of announced changes and the budget of "unknown" signatures.
#[derive(Debug)]
pub(crate) struct OcspMemory {
    issued: RwLock<HashMap<Key, Held>>,
    /// The responder's certificate, which the held responses end with.
    tail: RwLock<Option<Bytes>>,
    unknown: Mutex<HashMap<Key, (Arc<SignedOcsp>, i64)>>,
    epoch: AtomicU64,
    /// How many answers came from memory.
    hits: AtomicU64,
    capacity: usize,
    budget: Mutex<(i64, u32)>,
}

impl OcspMemory {
    pub(crate) fn new(capacity: usize) -> OcspMemory {
        OcspMemory {
            issued: RwLock::default(),
            tail: RwLock::default(),
            unknown: Mutex::default(),
            epoch: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            capacity,
            budget: Mutex::new((0, 0)),
        }
    }

    /// The epoch: read it before reading the store; pass it to [`OcspMemory::insert`].
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// A response of an issued certificate signed at or after `built_after`.
    pub(crate) fn get(
        &self,
        alg: HashAlg,
        serial: &[u8],
        built_after: i64,
        now: i64,
    ) -> Option<Arc<SignedOcsp>> {
        let map = self.issued.read().ok()?;
        // Never one from the future (the clock was stepped back): clients refuse it.
        let held = map
            .get(&key(alg, serial))
            .filter(|s| s.this_update >= built_after && s.this_update <= now)?;
        let tail = if held.with_tail {
            self.tail.read().ok()?.clone()?
        } else {
            Bytes::new()
        };
        self.hits.fetch_add(1, Ordering::Relaxed);
        let mut der = Vec::with_capacity(held.head.len() + tail.len());
        der.extend_from_slice(&held.head);
        der.extend_from_slice(&tail);
        Some(Arc::new(SignedOcsp::tagged(
            Bytes::from(der),
            held.this_update,
            held.next_update,
            &held.etag,
            held.revoked,
        )))
    }

    /// `signed` as memory holds it.
    fn hold(&self, signed: &SignedOcsp) -> Held {
        let der = &signed.der;
        let known = self.tail.read().ok().and_then(|t| t.clone());
        let tail = match known {
            Some(t) => Some(t),
            None => {
                let learnt = responder_certificate(der);
                if let (Some(t), Ok(mut slot)) = (&learnt, self.tail.write()) {
                    slot.get_or_insert_with(|| t.clone());
                }
                learnt
            }
        };
        let (head, with_tail) = match tail {
            Some(t) if der.len() > t.len() && der.ends_with(&t) => {
                (&der[..der.len() - t.len()], true)
            }
            _ => (&der[..], false),
        };
        Held {
            head: head.into(),
            with_tail,
            revoked: signed.revoked,
            this_update: signed.this_update,
            next_update: signed.next_update,
            etag: etag_of(der),
        }
    }

    /// A recent "unknown" answer.
    pub(crate) fn get_unknown(
        &self,
        alg: HashAlg,
        serial: &[u8],
        now: i64,
    ) -> Option<Arc<SignedOcsp>> {
        let map = self.unknown.lock().ok()?;
        map.get(&key(alg, serial))
            .filter(|(_, until)| *until > now)
            .map(|(s, _)| s.clone())
    }

    /// Keeps a response read or built at `epoch`, unless a change was announced since.
    pub(crate) fn insert(&self, epoch: u64, alg: HashAlg, serial: &[u8], signed: Arc<SignedOcsp>) {
        if self.capacity == 0 {
            return;
        }
        let held = self.hold(&signed);
        let Ok(mut map) = self.issued.write() else {
            return;
        };
        // Checked under the write lock: `forget` bumps the epoch before taking it.
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        let k = key(alg, serial);
        if map.len() >= self.capacity
            && !map.contains_key(&k)
            && let Some(evict) = map.keys().next().cloned()
        {
            map.remove(&evict);
        }
        map.insert(k, held);
    }

    /// Keeps an "unknown" answer for a few minutes, unless a change was announced since.
    pub(crate) fn insert_unknown(
        &self,
        epoch: u64,
        alg: HashAlg,
        serial: &[u8],
        signed: Arc<SignedOcsp>,
        now: i64,
    ) {
        let Ok(mut map) = self.unknown.lock() else {
            return;
        };
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        if map.len() >= UNKNOWN_ENTRIES {
            map.retain(|_, (_, until)| *until > now);
            if map.len() >= UNKNOWN_ENTRIES {
                map.clear();
            }
        }
        map.insert(key(alg, serial), (signed, now + UNKNOWN_KEEP_SECS));
    }

    /// Whether one more "unknown" answer may be signed in second `now`.
    pub(crate) fn take_unknown_signature(&self, now: i64) -> bool {
        let Ok(mut b) = self.budget.lock() else {
            return false;
        };
        if b.0 != now {
            *b = (now, 0);
        }
        if b.1 >= UNKNOWN_SIGNATURES_PER_SECOND {
            return false;
        }
        b.1 += 1;
        true
    }

    /// Drops everything kept about these serials (a status change), and makes any
    /// insertion prepared before it void.
    pub(crate) fn forget(&self, serials: &[Vec<u8>]) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut map) = self.issued.write() {
            for s in serials {
                for alg in [HashAlg::Sha1, HashAlg::Sha256] {
                    map.remove(&key(alg, s));
                }
            }
        }
        if let Ok(mut map) = self.unknown.lock() {
            for s in serials {
                for alg in [HashAlg::Sha1, HashAlg::Sha256] {
                    map.remove(&key(alg, s));
                }
            }
        }
    }

    /// Drops everything (announcements may have been missed).
    pub(crate) fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut map) = self.issued.write() {
            map.clear();
        }
        if let Ok(mut map) = self.unknown.lock() {
            map.clear();
        }
    }

    /// How many answers about issued certificates came from memory so far.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// How many responses of issued certificates are held.
    pub(crate) fn len(&self) -> usize {
        self.issued.read().map(|m| m.len()).unwrap_or(0)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entity_tag_is_its_bytes_in_hex_between_quotes() {
        let tag: [u8; 16] = std::array::from_fn(|i| (i as u8) * 17);
        assert_eq!(
            quoted_hex(&tag),
            format!("\"{}\"", hex::encode(tag)),
            "RFC 9110 8.8.3: a quoted opaque tag"
        );
    }
    use shomei_ca::ocsp::{OcspResponder, Status};

    /// Issue #11 item 6: memory holds each response without the responder certificate
    /// it ends with, and gives back the very bytes (and entity tag) it was given.
    #[test]
    fn held_responses_come_back_byte_for_byte_without_their_certificate_held_twice() {
        let at = time::OffsetDateTime::from_unix_timestamp(1_795_000_000)
            .unwrap_or_else(|e| panic!("{e}"));
        let pki = shomei_ca::pki::generate_dev_pki(at, "Shomei Test", "http://pki.example.jp")
            .unwrap_or_else(|e| panic!("{e}"));
        let responder = OcspResponder::from_pem(
            &pki.server_ca.cert_pem,
            &pki.ocsp.cert_pem,
            &pki.ocsp.key_pem,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let memory = OcspMemory::new(10);
        let now = at.unix_timestamp();
        let mut given = Vec::new();
        for serial in [[0x5a, 1], [0x5a, 2]] {
            let der = responder
                .respond(HashAlg::Sha1, &serial, Status::Good, now, now + 3_600)
                .unwrap_or_else(|e| panic!("{e}"));
            let signed = Arc::new(SignedOcsp::new(der, now, now + 3_600, false));
            memory.insert(memory.epoch(), HashAlg::Sha1, &serial, signed.clone());
            given.push((serial, signed));
        }
        for (serial, signed) in &given {
            let back = memory
                .get(HashAlg::Sha1, serial, now, now)
                .unwrap_or_else(|| panic!("held"));
            assert_eq!(back.der, signed.der);
            assert_eq!(back.etag, signed.etag);
            assert_eq!((back.this_update, back.next_update), (now, now + 3_600));
        }
        let tail = memory
            .tail
            .read()
            .ok()
            .and_then(|t| t.clone())
            .unwrap_or_default();
        assert!(tail.len() > 300, "the responder certificate is kept once");
        let map = memory.issued.read().unwrap_or_else(|e| panic!("{e}"));
        for (_, signed) in &given {
            let held = map.values().find(|h| h.etag == etag_of(&signed.der));
            assert_eq!(
                held.map(|h| (h.with_tail, h.head.len())),
                Some((true, signed.der.len() - tail.len()))
            );
        }
    }
}
