//! Login throttling (issue #7 item 9; OWASP ASVS 5.0 6.3.1): failed attempts at the
//! login and one-time-password steps are counted per source address and per account
//! name within a sliding window; past the limit the step answers 429 with Retry-After
//! before any password is checked. Kept in memory per listener: several instances each
//! count their own share, and the account lock (R-L4) still counts in the database.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(600);
/// Failures allowed per source address in [`WINDOW`].
pub const PER_ADDRESS: usize = 20;
/// Failures allowed per account name (access key, staff login) in [`WINDOW`].
pub const PER_ACCOUNT: usize = 10;
/// Keys kept at most; past this, keys with no failure in the window are dropped first.
const MAX_KEYS: usize = 100_000;

/// The source address of a request, put in its extensions by the TLS accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub IpAddr);

/// Failure counters.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// The keys one attempt is counted under.
pub fn keys(peer: Option<PeerAddr>, account: &str) -> Vec<(String, usize)> {
    let mut k = vec![(
        format!(
            "ip:{}",
            peer.map_or("unknown".to_owned(), |p| p.0.to_string())
        ),
        PER_ADDRESS,
    )];
    let account = account.trim().to_lowercase();
    if !account.is_empty() {
        k.push((
            format!("account:{}", account.chars().take(64).collect::<String>()),
            PER_ACCOUNT,
        ));
    }
    k
}

impl Throttle {
    /// `Err(seconds)` to wait if any key is over its limit now.
    pub fn check(&self, keys: &[(String, usize)], now: Instant) -> Result<(), u64> {
        let Ok(mut map) = self.failures.lock() else {
            return Ok(());
        };
        let mut wait = 0u64;
        for (key, limit) in keys {
            if let Some(q) = map.get_mut(key) {
                while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                    q.pop_front();
                }
                if q.len() >= *limit {
                    // Allowed again when enough of the oldest failures leave the window.
                    let idx = q.len() - limit;
                    let until = q[idx] + WINDOW;
                    wait = wait.max(until.saturating_duration_since(now).as_secs().max(1));
                }
            }
        }
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    /// Counts one failed attempt under every key.
    pub fn failed(&self, keys: &[(String, usize)], now: Instant) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() >= MAX_KEYS {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        for (key, limit) in keys {
            let q = map.entry(key.clone()).or_default();
            q.push_back(now);
            // Only the newest failures matter for the limit.
            while q.len() > limit * 2 {
                q.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_and_account_then_recovers() {
        let t = Throttle::default();
        let start = Instant::now();
        let peer = Some(PeerAddr(IpAddr::from([192, 0, 2, 1])));
        let k = keys(peer, "ABCD1234");
        for i in 0..PER_ACCOUNT {
            assert_eq!(t.check(&k, start), Ok(()), "{i}");
            t.failed(&k, start);
        }
        let wait = t.check(&k, start);
        assert!(matches!(wait, Err(s) if s > 500 && s <= 600), "{wait:?}");
        // Another account from the same address is still allowed, until the address's
        // own limit.
        let other = keys(peer, "OTHER");
        assert_eq!(t.check(&other, start), Ok(()));
        for _ in PER_ACCOUNT..PER_ADDRESS {
            t.failed(&other, start);
        }
        assert!(t.check(&keys(peer, "THIRD"), start).is_err());
        // After the window, allowed again.
        assert_eq!(t.check(&k, start + WINDOW), Ok(()));
    }
}
