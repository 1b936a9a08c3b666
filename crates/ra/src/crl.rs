//! CRLs (BR 4.9.7, 7.2; issue #11 item 2): the issuing CA's CRL is partitioned into
//! shards, as Let's Encrypt does. Each certificate's CRL distribution point names its
//! shard (`/crl/server/N.crl`, chosen from its serial and recorded with it before
//! signing); each shard's CRL carries an issuingDistributionPoint with that URL.
//! Certificates issued before partitioning keep their CRL (`/crl/server.crl`), which
//! keeps being signed, now as a partition of its own. The login CA has one CRL.
//!
//! No request builds a CRL: a GET serves the latest signed one (building only if none
//! exists or it expired). A revocation re-signs the shards it touched at once; the
//! periodic task re-signs any shard a revocation made stale (after a crash) and every
//! shard a day old. One builder at a time: in the process (a mutex) and across
//! instances on PostgreSQL (an advisory lock). CRL numbers are taken in their own
//! committed transaction per shard, so they strictly increase across restarts.

use crate::{LOGIN_CA, Ra, RaError, Result, SERVER_CA};
use shomei_ca::CrlEntry;
use shomei_store::revocations::StoredCrl;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// nextUpdate − thisUpdate of our CRLs (≤ 7 days, issue #3; BR allows 10).
pub const CRL_VALIDITY: Duration = Duration::days(7);
/// A CRL is re-signed once it is older than this, even without revocations (≤ 24 h).
pub const CRL_REFRESH_AFTER: Duration = Duration::hours(23);
/// How many CRL shards new certificates are spread over by default.
pub const DEFAULT_CRL_SHARDS: u32 = 16;

/// How many CRLs are built at once (a shard's entries are read while another is signed).
const CRL_BUILDS_AT_ONCE: usize = 2;

/// One builder at a time per CRL in this process, and who may take a CRL another built.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    /// Per CRL key, the ticket of the latest build's start; locked while building.
    started: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<u64>>>>,
    /// Tickets: taken when asking for a CRL and when a build starts reading.
    tickets: std::sync::atomic::AtomicU64,
}

impl Builder {
    fn ticket(&self) -> u64 {
        self.tickets
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    /// The lock of CRL `key`'s builders, holding the ticket of its latest build's start.
    fn of(&self, key: &str) -> Result<Arc<tokio::sync::Mutex<u64>>> {
        let mut all = self
            .started
            .lock()
            .map_err(|_| RaError::Corrupt("CRL builders poisoned".into()))?;
        Ok(all.entry(key.to_owned()).or_default().clone())
    }
}

/// Which CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    /// A shard of the issuing CA (-1: the undivided CRL of older certificates).
    Server(i64),
    /// The login CA's.
    Login,
}

impl Which {
    /// The key of its row in the store.
    fn key(self) -> String {
        match self {
            Which::Server(s) if s < 0 => SERVER_CA.to_owned(),
            Which::Server(s) => format!("{SERVER_CA}/{s}"),
            Which::Login => LOGIN_CA.to_owned(),
        }
    }
}

/// Counts a finished build, keeping the first error.
fn tally(
    done: std::result::Result<Result<StoredCrl>, tokio::task::JoinError>,
    signed: &mut usize,
    first_error: &mut Option<RaError>,
) {
    match done {
        Ok(Ok(_)) => *signed += 1,
        Ok(Err(e)) => {
            first_error.get_or_insert(e);
        }
        Err(e) => {
            first_error.get_or_insert(RaError::Corrupt(format!("CRL build task: {e}")));
        }
    }
}

/// The shard of a stored CRL key ("server" → -1, "server/7" → 7).
fn shard_of_key(key: &str) -> Option<i64> {
    if key == SERVER_CA {
        return Some(-1);
    }
    key.strip_prefix(SERVER_CA)?.strip_prefix('/')?.parse().ok()
}

impl Ra {
    /// The CRL shard of a new certificate with this serial (recorded with the serial;
    /// its CRL distribution point names it).
    pub(crate) fn crl_shard_for(&self, serial: &[u8]) -> u32 {
        let n = self.policy.crl_shards.max(1);
        let tail = serial
            .iter()
            .rev()
            .take(4)
            .rev()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        tail % n
    }

    /// The issuing CA's CRL shards to keep signed: the undivided CRL of older
    /// certificates (-1), the configured shards, and any shard signed before (the
    /// count may have been lowered; certificates keep the CDP they were issued with).
    async fn server_shards(&self) -> Result<BTreeMap<i64, Option<(i64, i64)>>> {
        let mut shards: BTreeMap<i64, Option<(i64, i64)>> =
            (-1..i64::from(self.policy.crl_shards.max(1)))
                .map(|s| (s, None))
                .collect();
        for (key, signed) in self.store.crl_keys(SERVER_CA).await? {
            if let Some(s) = shard_of_key(&key) {
                shards.insert(s, signed);
            }
        }
        Ok(shards)
    }

    /// Re-signs every CRL a revocation made stale, and those due for refresh or never
    /// signed (after a revocation, by the periodic task and at start). Returns how many
    /// were signed.
    pub async fn refresh_crl(&self) -> Result<usize> {
        // Asked now: a build that starts after this holds every revocation committed
        // before, so concurrent refreshes that all found a shard stale sign it once.
        let asked = self.crl_builder.ticket();
        let now = self.now();
        let shards = self.server_shards().await?;
        let dirty: Vec<i64> = self
            .store
            .dirty_crls(SERVER_CA)
            .await?
            .iter()
            .filter_map(|k| shard_of_key(k))
            .collect();
        let stale: Vec<i64> = shards
            .into_iter()
            .filter(|(shard, latest)| match latest {
                None => true,
                Some((this, next)) => {
                    now - this >= CRL_REFRESH_AFTER.whole_seconds()
                        || now >= *next
                        || dirty.contains(shard)
                }
            })
            .map(|(shard, _)| shard)
            .collect();
        // A few shards at once: one's entries are read (on PostgreSQL, by the database's
        // own process) while another's are signed.
        let mut signed = 0;
        let mut first_error = None;
        let mut builds = tokio::task::JoinSet::new();
        for shard in stale {
            if builds.len() >= CRL_BUILDS_AT_ONCE
                && let Some(done) = builds.join_next().await
            {
                tally(done, &mut signed, &mut first_error);
            }
            let ra = self.clone();
            builds.spawn(async move { ra.sign_crl_asked(Which::Server(shard), asked).await });
        }
        while let Some(done) = builds.join_next().await {
            tally(done, &mut signed, &mut first_error);
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if self.login_crl_is_stale().await? {
            self.sign_crl(Which::Login).await?;
            signed += 1;
        }
        Ok(signed)
    }

    /// As [`Ra::refresh_crl`] (the periodic task's name for it).
    pub async fn refresh_stale_crls(&self) -> Result<usize> {
        self.refresh_crl().await
    }

    /// Signs a new CRL of the login CA (after a login certificate was revoked).
    pub async fn refresh_login_crl(&self) -> Result<StoredCrl> {
        self.sign_crl(Which::Login).await
    }

    /// The undivided CRL of certificates issued before partitioning
    /// (`/crl/server.crl`): the latest signed one (a request never builds a CRL, so
    /// concurrent GETs cannot make the server sign over and over); built here only if
    /// none exists or the latest has expired.
    pub async fn current_crl(&self) -> Result<StoredCrl> {
        self.current(Which::Server(-1)).await
    }

    /// The CRL of shard `shard` (`/crl/server/N.crl`), as [`Ra::current_crl`];
    /// `None` for a shard that does not exist.
    pub async fn current_shard_crl(&self, shard: u32) -> Result<Option<StoredCrl>> {
        let shard = i64::from(shard);
        if !self.server_shards().await?.contains_key(&shard) {
            return Ok(None);
        }
        Ok(Some(self.current(Which::Server(shard)).await?))
    }

    /// The CRL that lists (or will list) the certificate with this serial: its shard's.
    pub async fn crl_of_certificate(&self, serial: &str) -> Result<StoredCrl> {
        let shard = self
            .store
            .crl_shard_of(SERVER_CA, serial)
            .await?
            .ok_or(RaError::NotFound)?;
        self.current(Which::Server(shard)).await
    }

    /// The URLs of all the issuing CA's CRLs (for CCADB's "JSON array of partitioned
    /// CRLs"): the undivided CRL and every shard.
    pub async fn crl_urls(&self) -> Result<Vec<String>> {
        let urls = self.server_ca.urls();
        Ok(self
            .server_shards()
            .await?
            .keys()
            .map(|s| urls.crl_url(u32::try_from(*s).ok()))
            .collect())
    }

    /// The login CA's CRL (revoked login certificates, R-L5), as [`Ra::current_crl`].
    pub async fn current_login_crl(&self) -> Result<StoredCrl> {
        self.current(Which::Login).await
    }

    async fn current(&self, which: Which) -> Result<StoredCrl> {
        match self.store.latest_crl(&which.key()).await? {
            Some(c) if self.now() < c.next_update => Ok(c),
            _ => self.sign_crl(which).await,
        }
    }

    async fn login_crl_is_stale(&self) -> Result<bool> {
        let now = self.now();
        let latest_revocation = self.store.latest_client_revocation_at(LOGIN_CA).await?;
        Ok(match self.store.latest_crl(LOGIN_CA).await? {
            Some(c) => {
                now - c.this_update >= CRL_REFRESH_AFTER.whole_seconds()
                    || now >= c.next_update
                    || latest_revocation.is_some_and(|r| r >= c.this_update)
            }
            None => true,
        })
    }

    /// Signs a new CRL with the next CRL number and stores it.
    async fn sign_crl(&self, which: Which) -> Result<StoredCrl> {
        let asked = self.crl_builder.ticket();
        self.sign_crl_asked(which, asked).await
    }

    /// [`Ra::sign_crl`] for a caller that asked at ticket `asked`.
    async fn sign_crl_asked(&self, which: Which, asked: u64) -> Result<StoredCrl> {
        let key = which.key();
        // One builder at a time, here and on other instances; whoever waited gets the
        // CRL built meanwhile if that build began after they asked (it holds their
        // revocation).
        let lock = self.crl_builder.of(&key)?;
        let mut started = lock.lock().await;
        if *started > asked
            && let Some(c) = self.store.latest_crl(&key).await?
        {
            return Ok(c);
        }
        let _everywhere = self.store.crl_build_lock(&key).await?;
        let ticket = self.crl_builder.ticket();
        let now = self.clock.now();
        // At least the signing time in microseconds: numbers keep growing after a
        // restore from an older backup (issue #12).
        let floor = i64::try_from(now.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX);
        let number = self.store.next_crl_number(&key, floor).await?;
        // Read before the entries: cleared with the new CRL only if no revocation came
        // after (issue #12: never before the CRL is stored, or a crash loses it).
        let dirty_mark = match which {
            Which::Server(_) => self.store.crl_dirty_mark(&key).await?,
            Which::Login => None,
        };
        let raw = match which {
            // Entries stay until a day after the certificate expired.
            Which::Server(shard) => {
                self.store
                    .revoked_entries(SERVER_CA, shard, (now - Duration::days(1)).unix_timestamp())
                    .await?
            }
            Which::Login => self.store.client_revoked_entries(LOGIN_CA).await?,
        };
        let entries = raw
            .into_iter()
            .map(|e| {
                Ok(CrlEntry {
                    serial: hex::decode(&e.serial).map_err(|_| RaError::Invalid("err.internal"))?,
                    revoked_at: OffsetDateTime::from_unix_timestamp(e.revoked_at)
                        .map_err(|_| RaError::Invalid("err.internal"))?,
                    reason: u8::try_from(e.reason).map_err(|_| RaError::Invalid("err.internal"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next = now + CRL_VALIDITY;
        let number_u64 = u64::try_from(number).unwrap_or_default();
        let count = entries.len();
        let der = match which {
            Which::Server(shard) => {
                let ca = self.server_ca.clone();
                let url = ca.urls().crl_url(u32::try_from(shard).ok());
                // Signing a large shard is CPU work: off the async workers.
                tokio::task::spawn_blocking(move || {
                    ca.crl(number_u64, now, next, &entries, Some(&url))
                })
                .await
                .map_err(|_| RaError::Invalid("err.internal"))??
            }
            Which::Login => self.login_ca.crl(number_u64, now, next, &entries)?,
        };
        #[cfg(feature = "failpoints")]
        crate::failpoints::evidence("crl.signed", &der);
        fail::fail_point!("crl.signed");
        let crl = StoredCrl {
            number,
            this_update: now.unix_timestamp(),
            next_update: next.unix_timestamp(),
            der,
        };
        self.store.save_crl(&key, &crl, dirty_mark).await?;
        *started = ticket;
        tracing::info!(crl = %key, number, entries = count, "CRL signed");
        Ok(crl)
    }
}
