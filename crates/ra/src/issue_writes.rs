//! Issuance's writes, grouped (issue #11 item 4): an issuance's two writes — the
//! serial with the linted TBS before signing, the certificate and all that comes with it
//! after — share one transaction with every other issuance's writes queued at that
//! moment (`group_commit.rs`, `Store::write_issuances`). The CPU-heavy steps run on a
//! pool of their own (`cpu_pool.rs`).

use crate::group_commit::Session;
use crate::{Ra, RaError, Result};
use shomei_store::certificates::{Completion, LintedCert};
use shomei_store::exec::WriterSession;
use shomei_store::ocsp::StoredOcsp;

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
    /// On SQLite the groups are written run after run on a blocking thread holding the
    /// writer ([`crate::group_commit::BlockingGroupCommit`]).
    async fn write_issuance(&self, write: IssuanceWrite) -> Result<IssuanceWritten> {
        let ra = self.clone();
        if self.store.has_writer_session() {
            let store = self.store.clone();
            return self
                .issuance_lane
                .submit(
                    write,
                    move || {
                        let store = store.clone();
                        async move {
                            store
                                .writer_session()
                                .await?
                                .ok_or_else(|| RaError::Corrupt("SQLite's writer is gone".into()))
                        }
                    },
                    move |session: &WriterSession, group: Vec<IssuanceWrite>| {
                        let group = ra.before_group(group);
                        let written = session.write_issuances(group.linted, group.issued);
                        ra.after_group(&group.order, group.epoch, group.firsts, written?)
                    },
                )
                .await;
        }
        self.issuance_writes
            .submit(write, move |group: Vec<IssuanceWrite>| {
                let ra = ra.clone();
                async move {
                    let group = ra.before_group(group);
                    let written = ra.store.write_issuances(&group.linted, &group.issued).await;
                    ra.after_group(&group.order, group.epoch, group.firsts, written?)
                }
            })
            .await
    }

    /// Before a group's transaction: its writes by kind, the first OCSP responses it
    /// brings (nothing is kept in memory about a serial before it exists: an "unknown"
    /// answer, so those serials are forgotten now), and the OCSP memory's epoch.
    fn before_group(&self, group: Vec<IssuanceWrite>) -> Group {
        let (mut linted, mut issued, mut order) = (Vec::new(), Vec::new(), Vec::new());
        for w in group {
            match w {
                IssuanceWrite::Linted(l) => {
                    linted.push(l);
                    order.push(false);
                }
                IssuanceWrite::Issued(c) => {
                    issued.push(c);
                    order.push(true);
                }
            }
        }
        let serials: Vec<Vec<u8>> = issued
            .iter()
            .filter_map(|c| hex::decode(&c.serial).ok())
            .collect();
        self.ocsp_memory.forget(&serials);
        let firsts = issued
            .iter()
            .filter_map(|c| Some((hex::decode(&c.serial).ok()?, c.ocsp.clone()?)))
            .collect();
        Group {
            linted,
            issued,
            order,
            epoch: self.ocsp_memory.epoch(),
            firsts,
        }
    }

    /// After a group's commit: each finished certificate's first OCSP response kept in
    /// memory (unless a status change was announced since `epoch`); the answers in the
    /// group's order.
    fn after_group(
        &self,
        order: &[bool],
        epoch: u64,
        firsts: Vec<(Vec<u8>, StoredOcsp)>,
        (ids, codes): (Vec<i64>, Vec<String>),
    ) -> Result<Vec<IssuanceWritten>> {
        for (serial, o) in firsts {
            self.ocsp_memory.insert(
                epoch,
                shomei_ca::ocsp::HashAlg::Sha1,
                &serial,
                std::sync::Arc::new(crate::ocsp_memory::SignedOcsp::new(
                    o.der,
                    o.this_update,
                    o.next_update,
                    o.revoked,
                )),
            );
        }
        let (mut ids, mut codes) = (ids.into_iter(), codes.into_iter());
        order
            .iter()
            .map(|issued| match issued {
                false => ids.next().map(IssuanceWritten::Linted),
                true => codes.next().map(IssuanceWritten::Issued),
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| RaError::Corrupt("issuance write answers missing".into()))
    }
}

/// A group's writes, split by kind for the store ([`Ra::before_group`]).
struct Group {
    linted: Vec<LintedCert>,
    issued: Vec<Completion>,
    /// For each write in the group's order: whether it is a finished certificate.
    order: Vec<bool>,
    /// The OCSP memory's epoch before the transaction.
    epoch: u64,
    /// The finished certificates' serials and first OCSP responses.
    firsts: Vec<(Vec<u8>, StoredOcsp)>,
}

impl Session for WriterSession {
    fn should_yield(&self) -> bool {
        WriterSession::should_yield(self)
    }
    fn end(self) {
        WriterSession::end(self);
    }
}
