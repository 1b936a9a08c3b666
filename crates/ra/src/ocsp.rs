//! The OCSP responder's logic (BR 4.9.9, 4.9.10): responses are pre-built for every
//! issued certificate (at issuance, at revocation, and by a refresh well before
//! nextUpdate), stored with the status they state, and served from memory
//! ([`crate::ocsp_memory`]) or the store; anything else is signed on demand, answers
//! about never-issued serials within a budget. Never "good" for a serial that was not
//! issued.

use crate::metrics::OcspOutcome;
use crate::ocsp_memory::{OcspReply, SignedOcsp, UNKNOWN_KEEP_SECS};
use crate::{Ra, Result, SERVER_CA};
use shomei_ca::ocsp::{self, HashAlg, Query, Status};
use shomei_store::ocsp::{CertState, StatusChange, StoredOcsp};
use std::sync::Arc;

/// nextUpdate − thisUpdate of a response (BR: between 8 hours and 10 days; we use 4 days).
pub const OCSP_VALIDITY_SECS: i64 = 4 * 86_400;
/// Responses older than this are rebuilt (well before nextUpdate).
pub const OCSP_REFRESH_AFTER_SECS: i64 = 86_400;

impl Ra {
    /// Answers a DER OCSPRequest with a DER OCSPResponse (see [`Ra::ocsp_reply`]).
    pub async fn ocsp_answer(&self, request: &[u8]) -> Vec<u8> {
        self.ocsp_reply(request).await.der().to_vec()
    }

    /// How many OCSP answers about issued certificates came from memory since start.
    pub fn ocsp_memory_hits(&self) -> u64 {
        self.ocsp_memory.hits()
    }

    /// Answers a DER OCSPRequest. Never fails: malformed requests get
    /// `malformedRequest`, other issuers `unauthorized`, a failure `internalError`.
    /// Issued certificates are answered from memory (issue #11), else from the store.
    pub async fn ocsp_reply(&self, request: &[u8]) -> OcspReply {
        let (reply, outcome) = self.ocsp_reply_counted(request).await;
        self.metrics.ocsp(outcome);
        reply
    }

    async fn ocsp_reply_counted(&self, request: &[u8]) -> (OcspReply, OcspOutcome) {
        let Some(responder) = &self.ocsp else {
            return (
                OcspReply::Error(x509_internal_error()),
                OcspOutcome::Internal,
            );
        };
        let (alg, serial) = match responder.parse_request(request) {
            Err(_) => {
                return (
                    OcspReply::Error(ocsp::malformed().into()),
                    OcspOutcome::Malformed,
                );
            }
            Ok(Query::NotOurs) => {
                return (
                    OcspReply::Error(ocsp::unauthorized().into()),
                    OcspOutcome::Unauthorized,
                );
            }
            Ok(Query::Ours(alg, serial)) => (alg, serial),
        };
        let now = self.now();
        let issued = |s: Arc<SignedOcsp>| {
            let o = if s.revoked {
                OcspOutcome::Revoked
            } else {
                OcspOutcome::Good
            };
            (OcspReply::Signed(s), o)
        };
        if let Some(s) =
            self.ocsp_memory
                .get(alg, &serial, now - OCSP_REFRESH_AFTER_SECS - 3600, now)
        {
            return issued(s);
        }
        if let Some(s) = self.ocsp_memory.get_unknown(alg, &serial, now) {
            return (OcspReply::Signed(s), OcspOutcome::Unknown);
        }
        match self.ocsp_from_store(alg, &serial, now).await {
            Ok((reply, CertState::Unknown)) => {
                let o = match reply {
                    OcspReply::Signed(_) => OcspOutcome::Unknown,
                    OcspReply::Error(_) => OcspOutcome::Unauthorized,
                };
                (reply, o)
            }
            Ok((OcspReply::Signed(s), _)) => issued(s),
            Ok((reply @ OcspReply::Error(_), _)) => (reply, OcspOutcome::Internal),
            Err(e) => {
                tracing::error!(serial = %hex::encode(&serial), "OCSP response failed: {e}");
                (
                    OcspReply::Error(x509_internal_error()),
                    OcspOutcome::Internal,
                )
            }
        }
    }

    /// A request memory could not answer: the store's status and pre-built response,
    /// signing only what is missing.
    async fn ocsp_from_store(
        &self,
        alg: HashAlg,
        serial: &[u8],
        now: i64,
    ) -> Result<(OcspReply, CertState)> {
        let epoch = self.ocsp_memory.epoch();
        let hex_serial = hex::encode(serial);
        let (state, stored) = self.store.ocsp_lookup(SERVER_CA, &hex_serial, now).await?;
        if state == CertState::Unknown {
            if !self.ocsp_memory.take_unknown_signature(now) {
                return Ok((OcspReply::Error(ocsp::unauthorized().into()), state));
            }
            let signed = Arc::new(self.sign_ocsp(alg, serial, state, now)?);
            self.ocsp_memory
                .insert_unknown(epoch, alg, serial, signed.clone(), now);
            return Ok((OcspReply::Signed(signed), state));
        }
        let signed = match stored {
            Some(s) if alg == HashAlg::Sha1 => Arc::new(SignedOcsp::new(
                s.der,
                s.this_update,
                s.next_update,
                s.revoked,
            )),
            _ => self.build_ocsp(alg, serial, state, now).await?,
        };
        self.ocsp_memory.insert(epoch, alg, serial, signed.clone());
        Ok((OcspReply::Signed(signed), state))
    }

    fn sign_ocsp(
        &self,
        alg: HashAlg,
        serial: &[u8],
        state: CertState,
        now: i64,
    ) -> Result<SignedOcsp> {
        let responder = self
            .ocsp
            .as_ref()
            .ok_or(crate::RaError::Invalid("err.internal"))?;
        let status = status_of(state);
        let next = if state == CertState::Unknown {
            now + UNKNOWN_KEEP_SECS
        } else {
            now + OCSP_VALIDITY_SECS
        };
        let der = responder.respond(alg, serial, status, now, next)?;
        Ok(SignedOcsp::new(
            der,
            now,
            next,
            matches!(state, CertState::Revoked(..)),
        ))
    }

    /// The first response of a certificate being issued ("good", SHA-1 CertID, what
    /// clients send), stored in the issuance's transaction; `None` without a responder.
    pub(crate) fn first_ocsp(&self, serial: &[u8], now: i64) -> Result<Option<StoredOcsp>> {
        if self.ocsp.is_none() {
            return Ok(None);
        }
        let signed = self.sign_ocsp(HashAlg::Sha1, serial, CertState::Good, now)?;
        Ok(Some(StoredOcsp {
            der: signed.der.to_vec(),
            this_update: signed.this_update,
            next_update: signed.next_update,
            revoked: false,
        }))
    }

    /// Signs the response of an issued certificate; SHA-1 ones (what clients send) are
    /// stored with the status they state.
    async fn build_ocsp(
        &self,
        alg: HashAlg,
        serial: &[u8],
        state: CertState,
        now: i64,
    ) -> Result<Arc<SignedOcsp>> {
        let signed = self.sign_ocsp(alg, serial, state, now)?;
        if alg == HashAlg::Sha1 {
            self.store
                .save_ocsp(
                    SERVER_CA,
                    &hex::encode(serial),
                    &StoredOcsp {
                        der: signed.der.to_vec(),
                        this_update: signed.this_update,
                        next_update: signed.next_update,
                        revoked: matches!(state, CertState::Revoked(..)),
                    },
                )
                .await?;
        }
        Ok(Arc::new(signed))
    }

    /// Pre-builds the responses of these serials now (after their status changed, or to
    /// refresh them), in the store and in memory: memory forgets them first, their
    /// states are read in one query per 500, the responses signed off the async workers
    /// and stored in one transaction (a mass revocation passes 500 at a time).
    pub async fn prebuild_ocsp(&self, serials: &[String]) -> Result<()> {
        let Some(responder) = self.ocsp.clone() else {
            return Ok(());
        };
        let bytes: Vec<Vec<u8>> = serials.iter().filter_map(|s| hex::decode(s).ok()).collect();
        self.ocsp_memory.forget(&bytes);
        let epoch = self.ocsp_memory.epoch();
        let states = self.store.certificate_states(SERVER_CA, serials).await?;
        let now = self.now();
        let next = now + OCSP_VALIDITY_SECS;
        let signed = tokio::task::spawn_blocking(move || {
            states
                .into_iter()
                .filter_map(|(hex_serial, state)| {
                    let serial = hex::decode(&hex_serial).ok()?;
                    if state == CertState::Unknown {
                        return None;
                    }
                    Some(
                        responder
                            .respond(HashAlg::Sha1, &serial, status_of(state), now, next)
                            .map(|der| {
                                (
                                    hex_serial,
                                    serial,
                                    matches!(state, CertState::Revoked(..)),
                                    der,
                                )
                            }),
                    )
                })
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| crate::RaError::Corrupt(format!("OCSP signing task: {e}")))??;
        let stored: Vec<(String, StoredOcsp)> = signed
            .iter()
            .map(|(hex_serial, _, revoked, der)| {
                (
                    hex_serial.clone(),
                    StoredOcsp {
                        der: der.clone(),
                        this_update: now,
                        next_update: next,
                        revoked: *revoked,
                    },
                )
            })
            .collect();
        fail::fail_point!("ocsp.signed");
        self.store.save_ocsp_many(SERVER_CA, &stored).await?;
        for (_, serial, revoked, der) in signed {
            self.ocsp_memory.insert(
                epoch,
                HashAlg::Sha1,
                &serial,
                Arc::new(SignedOcsp::new(der, now, next, revoked)),
            );
        }
        Ok(())
    }

    /// Rebuilds missing, day-old or outdated responses, at most `limit` per call.
    /// Returns how many.
    pub async fn refresh_ocsp(&self, limit: i64) -> Result<usize> {
        if self.ocsp.is_none() {
            return Ok(0);
        }
        let now = self.now();
        let serials = self
            .store
            .serials_needing_ocsp(SERVER_CA, now, now - OCSP_REFRESH_AFTER_SECS, limit)
            .await?;
        // 500 per transaction, so other writes go between (issue #12: one transaction
        // of 10,000 responses held SQLite's writer for seconds).
        for chunk in serials.chunks(500) {
            self.prebuild_ocsp(chunk).await?;
        }
        Ok(serials.len())
    }

    /// Fills the memory with the stored responses that state their certificate's
    /// current status, newest certificates first, up to its capacity. Run at start (in
    /// the background: until it is done, requests are answered from the store).
    /// Returns how many are held.
    pub async fn fill_ocsp_memory(&self) -> Result<usize> {
        if self.ocsp.is_none() {
            return Ok(0);
        }
        let mut before = i64::MAX;
        while self.ocsp_memory.len() < self.ocsp_memory.capacity() {
            let epoch = self.ocsp_memory.epoch();
            let now = self.now();
            let (page, more) = self
                .store
                .current_ocsp_responses(
                    SERVER_CA,
                    now - OCSP_REFRESH_AFTER_SECS,
                    now,
                    before,
                    // Small pages: each page's rows are copied twice on their way in;
                    // at 5,000 rows (~20 MB in flight) glibc's per-thread arenas kept
                    // the holes, 114 MB RSS after a 100,000-response fill, 88 MB now.
                    500,
                )
                .await?;
            if self.ocsp_memory.epoch() != epoch {
                // A status changed while the page was read: read it again.
                continue;
            }
            for (hex_serial, s) in page {
                if let Ok(serial) = hex::decode(&hex_serial) {
                    let signed = Arc::new(SignedOcsp::new(
                        s.der,
                        s.this_update,
                        s.next_update,
                        s.revoked,
                    ));
                    self.ocsp_memory
                        .insert(epoch, HashAlg::Sha1, &serial, signed);
                }
            }
            match more {
                Some(id) => before = id,
                None => break,
            }
        }
        Ok(self.ocsp_memory.len())
    }

    /// Follows the status changes other instances announce (PostgreSQL), dropping what
    /// memory holds about each; runs until the process ends. On SQLite there is nothing
    /// to follow and it returns at once.
    pub async fn follow_status_changes(&self) {
        // Since when the database has not been heard (issue #12): memory keeps answering
        // through an outage for up to OCSP_MEMORY_GRACE — no one can revoke while the
        // database is down; a revocation another instance commits during a partition
        // reaches these answers within the grace, well inside BR 4.9's 24 hours — then
        // it is dropped and answers come from the store again.
        let mut lost_since: Option<std::time::Instant> = None;
        loop {
            let mut listener = match self.store.status_listener().await {
                Ok(Some(l)) => l,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!("OCSP: cannot listen for status changes: {e}");
                    let since = *lost_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() > OCSP_MEMORY_GRACE {
                        self.ocsp_memory.clear();
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            // Changes made before listening started were not heard.
            self.ocsp_memory.clear();
            tracing::info!("OCSP: listening for status changes of other instances");
            loop {
                match listener.next().await {
                    Ok(StatusChange::Certificate(issuer, serial)) => {
                        if issuer == SERVER_CA
                            && let Ok(s) = hex::decode(&serial)
                        {
                            self.ocsp_memory.forget(&[s]);
                        }
                    }
                    // Announcements may have been missed: listen anew (memory is
                    // dropped once listening again, kept through the gap).
                    Ok(StatusChange::Lost) => {
                        tracing::warn!("OCSP: status listener lost its connection");
                        lost_since = Some(std::time::Instant::now());
                        break;
                    }
                    Err(e) => {
                        tracing::warn!("OCSP: status listener failed: {e}");
                        lost_since = Some(std::time::Instant::now());
                        break;
                    }
                }
            }
        }
    }
}

/// How long OCSP memory keeps answering after the database's change notifications
/// stopped (PostgreSQL down or unreachable), before it is dropped.
pub const OCSP_MEMORY_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

fn x509_internal_error() -> bytes::Bytes {
    use der::Encode;
    x509_ocsp::OcspResponse::internal_error()
        .to_der()
        .unwrap_or_default()
        .into()
}

/// The status a response states for a certificate in `state`.
fn status_of(state: CertState) -> Status {
    match state {
        CertState::Good => Status::Good,
        CertState::Revoked(at, reason) => Status::Revoked(at, u8::try_from(reason).unwrap_or(0)),
        CertState::Unknown => Status::Unknown,
    }
}
