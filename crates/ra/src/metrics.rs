//! What `/metrics` shows (issue #12): counters the RA keeps as it works (issuance count,
//! failures and latency by path, OCSP answers by status, login failures by realm), and
//! figures read from the store when scraped (jobs by status, CRL age per CRL, locked
//! logins, connection pool use). Rendered in the Prometheus text format (0.0.4).

use crate::{Ra, Result};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Issuance paths (by who asked): the desk (staff approval), ACME, the command line,
/// the system (resumed after a crash, continuations).
const PATHS: [&str; 4] = ["desk", "acme", "cli", "system"];
/// Latency buckets of an issuance, seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// OCSP answers.
const OCSP: [&str; 6] = [
    "good",
    "revoked",
    "unknown",
    "malformed_request",
    "unauthorized",
    "internal_error",
];

/// An OCSP answer's kind, for [`Metrics::ocsp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspOutcome {
    /// good
    Good = 0,
    /// revoked
    Revoked = 1,
    /// unknown (a serial never issued)
    Unknown = 2,
    /// malformedRequest
    Malformed = 3,
    /// unauthorized (another CA's certificate, or over the unknown-serial budget)
    Unauthorized = 4,
    /// internalError
    Internal = 5,
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// The RA's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    issued: [Histogram; PATHS.len()],
    issuance_failed: [AtomicU64; PATHS.len()],
    ocsp: [AtomicU64; OCSP.len()],
    login_failures: [AtomicU64; 2],
}

fn path_of(actor: shomei_model::Actor) -> usize {
    match actor {
        shomei_model::Actor::Staff(_) => 0,
        shomei_model::Actor::Acme(_) => 1,
        shomei_model::Actor::Cli => 2,
        _ => 3,
    }
}

impl Metrics {
    /// An issuance by `actor` that took `elapsed`, and whether it issued.
    pub(crate) fn issuance(
        &self,
        actor: shomei_model::Actor,
        elapsed: std::time::Duration,
        ok: bool,
    ) {
        let p = path_of(actor);
        if !ok {
            self.issuance_failed[p].fetch_add(1, Ordering::Relaxed);
            return;
        }
        let h = &self.issued[p];
        let secs = elapsed.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                h.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        h.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// An OCSP answer.
    pub(crate) fn ocsp(&self, outcome: OcspOutcome) {
        self.ocsp[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A refused login in `realm`.
    pub(crate) fn login_failure(&self, realm: shomei_store::Realm) {
        let i = match realm {
            shomei_store::Realm::Customer => 0,
            shomei_store::Realm::Staff => 1,
        };
        self.login_failures[i].fetch_add(1, Ordering::Relaxed);
    }

    /// How many OCSP answers of this kind since start.
    pub fn ocsp_count(&self, outcome: OcspOutcome) -> u64 {
        self.ocsp[outcome as usize].load(Ordering::Relaxed)
    }
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} {kind}");
}

impl Ra {
    /// The RA's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The whole `/metrics` page, Prometheus text format.
    pub async fn render_metrics(&self) -> Result<String> {
        let m = &self.metrics;
        let mut out = String::with_capacity(4096);
        help(
            &mut out,
            "shomei_issuance_seconds",
            "histogram",
            "Issuances (CSR checks, lint, signature, committed), by path (who asked).",
        );
        for (p, name) in PATHS.iter().enumerate() {
            let h = &m.issued[p];
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "shomei_issuance_seconds_bucket{{path=\"{name}\",le=\"{le}\"}} {}",
                    h.buckets[i].load(Ordering::Relaxed)
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "shomei_issuance_seconds_bucket{{path=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "shomei_issuance_seconds_sum{{path=\"{name}\"}} {}",
                h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "shomei_issuance_seconds_count{{path=\"{name}\"}} {count}"
            );
        }
        help(
            &mut out,
            "shomei_issuance_failures_total",
            "counter",
            "Issuances that failed (back to the desk), by path.",
        );
        for (p, name) in PATHS.iter().enumerate() {
            let _ = writeln!(
                out,
                "shomei_issuance_failures_total{{path=\"{name}\"}} {}",
                m.issuance_failed[p].load(Ordering::Relaxed)
            );
        }
        help(
            &mut out,
            "shomei_ocsp_responses_total",
            "counter",
            "OCSP answers, by certificate status or error.",
        );
        for (i, name) in OCSP.iter().enumerate() {
            let _ = writeln!(
                out,
                "shomei_ocsp_responses_total{{status=\"{name}\"}} {}",
                m.ocsp[i].load(Ordering::Relaxed)
            );
        }
        help(
            &mut out,
            "shomei_ocsp_memory_hits_total",
            "counter",
            "OCSP answers served from memory.",
        );
        let _ = writeln!(
            out,
            "shomei_ocsp_memory_hits_total {}",
            self.ocsp_memory_hits()
        );
        help(
            &mut out,
            "shomei_login_failures_total",
            "counter",
            "Refused logins, by realm.",
        );
        for (i, name) in ["customer", "staff"].iter().enumerate() {
            let _ = writeln!(
                out,
                "shomei_login_failures_total{{realm=\"{name}\"}} {}",
                m.login_failures[i].load(Ordering::Relaxed)
            );
        }
        let s = self.store.metrics_snapshot().await?;
        let now = self.now();
        help(
            &mut out,
            "shomei_logins_locked",
            "gauge",
            "Logins locked after repeated failures (R-L4), by realm.",
        );
        let _ = writeln!(
            out,
            "shomei_logins_locked{{realm=\"customer\"}} {}",
            s.locked_accounts
        );
        let _ = writeln!(
            out,
            "shomei_logins_locked{{realm=\"staff\"}} {}",
            s.locked_staff
        );
        help(
            &mut out,
            "shomei_jobs",
            "gauge",
            "Jobs in the queue, by status (failed: given up after ten attempts).",
        );
        for (status, n) in &s.jobs {
            let _ = writeln!(out, "shomei_jobs{{status=\"{status}\"}} {n}");
        }
        help(
            &mut out,
            "shomei_crl_age_seconds",
            "gauge",
            "Age of each CRL's latest thisUpdate (per shard).",
        );
        for (crl, this_update) in &s.crls {
            let _ = writeln!(
                out,
                "shomei_crl_age_seconds{{crl=\"{crl}\"}} {}",
                now - this_update
            );
        }
        help(
            &mut out,
            "shomei_db_connections",
            "gauge",
            "Database connections, by pool and state.",
        );
        for (pool, size, idle) in &s.pools {
            let _ = writeln!(
                out,
                "shomei_db_connections{{pool=\"{pool}\",state=\"idle\"}} {idle}"
            );
            let _ = writeln!(
                out,
                "shomei_db_connections{{pool=\"{pool}\",state=\"in_use\"}} {}",
                size.saturating_sub(*idle)
            );
        }
        Ok(out)
    }

    /// Whether this instance can serve: its database answers (within two seconds) and
    /// it is not stopping. For a load balancer's readiness check.
    pub async fn ready(&self) -> bool {
        if self.is_stopping() {
            return false;
        }
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(2), self.store.ping()).await,
            Ok(Ok(()))
        )
    }
}
