//! Issuance's writes, grouped (issue #11 item 4): an issuance's two writes — the
//! serial with the linted TBS before signing, the certificate and all that comes with it
//! after — share one transaction with every other issuance's writes queued at that
//! moment (`group_commit.rs`, `Store::write_issuances`); and the CPU-heavy steps run on
//! the blocking pool, off the async workers.

use crate::{Ra, RaError, Result};
use shomei_store::certificates::{Completion, LintedCert};

/// Runs CPU-heavy work (a key check, a lint, a signature) on the CPU pool's threads, at
/// a lower priority than the group writer and the async workers (`cpu_pool.rs`).
pub(crate) async fn cpu<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    crate::cpu_pool::run(work).await
}

/// One write of an issuance, grouped with concurrent issuances' writes.
#[derive(Debug, Clone)]
pub(crate) enum IssuanceWrite {
    /// Steps 2–4: the serial and the linted TBS.
    Linted(LintedCert),
    /// Step 6: the signed certificate and what comes with it.
    Issued(Completion),
}

/// What a grouped write returns.
#[derive(Debug)]
pub(crate) enum IssuanceWritten {
    /// The linted certificate's row id.
    Linted(i64),
    /// The contract code.
    Issued(String),
}

impl Ra {
    /// Steps 2–4's write, grouped: the serial and the linted TBS, committed. Returns the
    /// certificate's row id.
    pub(crate) async fn commit_linted(&self, record: LintedCert) -> Result<i64> {
        match self.write_issuance(IssuanceWrite::Linted(record)).await? {
            IssuanceWritten::Linted(id) => Ok(id),
            IssuanceWritten::Issued(_) => Err(RaError::Corrupt("issuance write mixed up".into())),
        }
    }

    /// Step 6's write, grouped. Returns the contract code.
    pub(crate) async fn commit_issued(&self, completion: Completion) -> Result<String> {
        match self
            .write_issuance(IssuanceWrite::Issued(completion))
            .await?
        {
            IssuanceWritten::Issued(code) => Ok(code),
            IssuanceWritten::Linted(_) => Err(RaError::Corrupt("issuance write mixed up".into())),
        }
    }

    /// Writes `write` in one transaction with the other issuances' writes queued
    /// meanwhile (both kinds: one commit serves the certificates being finished and
    /// those about to be signed). After the commit, each finished certificate's first
    /// OCSP response is kept in memory (unless a status change was announced meanwhile).
    async fn write_issuance(&self, write: IssuanceWrite) -> Result<IssuanceWritten> {
        let ra = self.clone();
        self.issuance_writes
            .submit(write, move |group: Vec<IssuanceWrite>| {
                let ra = ra.clone();
                async move { ra.write_issuance_group(group).await }
            })
            .await
    }

    async fn write_issuance_group(
        &self,
        group: Vec<IssuanceWrite>,
    ) -> Result<Vec<IssuanceWritten>> {
        let mut linted = Vec::new();
        let mut issued = Vec::new();
        for w in &group {
            match w {
                IssuanceWrite::Linted(l) => linted.push(l.clone()),
                IssuanceWrite::Issued(c) => issued.push(c.clone()),
            }
        }
        let serials: Vec<Vec<u8>> = issued
            .iter()
            .filter_map(|c| hex::decode(&c.serial).ok())
            .collect();
        // Nothing is kept about a serial before it exists (an "unknown" answer).
        self.ocsp_memory.forget(&serials);
        let epoch = self.ocsp_memory.epoch();
        let (ids, codes) = self.store.write_issuances(&linted, &issued).await?;
        for (c, serial) in issued.iter().zip(&serials) {
            if let Some(o) = &c.ocsp {
                self.ocsp_memory.insert(
                    epoch,
                    shomei_ca::ocsp::HashAlg::Sha1,
                    serial,
                    std::sync::Arc::new(crate::ocsp_memory::SignedOcsp::new(
                        o.der.clone(),
                        o.this_update,
                        o.next_update,
                        o.revoked,
                    )),
                );
            }
        }
        let (mut ids, mut codes) = (ids.into_iter(), codes.into_iter());
        group
            .iter()
            .map(|w| match w {
                IssuanceWrite::Linted(_) => ids.next().map(IssuanceWritten::Linted),
                IssuanceWrite::Issued(_) => codes.next().map(IssuanceWritten::Issued),
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| RaError::Corrupt("issuance write answers missing".into()))
    }
}
