//! Crash testing (issue #12): named failpoints that kill the process with SIGKILL where
//! they stand, armed from the environment. Compiled only with the `failpoints` feature
//! (the crash harness, `crates/shomei/tests/crash.rs`); without it every point is
//! nothing at all. docs/crash-testing.md lists each point and what must hold after it.
//!
//! `SHOMEI_FAILPOINTS=name@n,…` kills the process the n-th time `name` is reached
//! (default 1). `SHOMEI_FAILPOINT_EVIDENCE=DIR`: just before the kill, what the process
//! made at that point and nobody has seen yet (a signed certificate or CRL) is written
//! to `DIR/<name>.der`, so the harness can check that nothing signed escapes its record.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every failpoint, in the order of the cycles they stand in.
pub const POINTS: &[&str] = &[
    // Issuance (docs/issuance-cycle.md): after step 3, inside the step 4 or step 6
    // transaction before its COMMIT, after 4, after 5, after 6.
    "issue.linted",
    "store.issuance.commit",
    "issue.reserved",
    "issue.signed",
    "issue.committed",
    // Revocation: inside its transaction before COMMIT; committed, CRL and OCSP not yet.
    "store.revocation.commit",
    "revoke.committed",
    // A CRL signed, not yet stored; OCSP responses signed, not yet stored.
    "crl.signed",
    "ocsp.signed",
    // The job queue: a job claimed, not yet run; its work done (a mail sent), not yet
    // marked done.
    "job.claimed",
    "job.ran",
];

static EVIDENCE: Mutex<Option<HashMap<&'static str, Vec<u8>>>> = Mutex::new(None);

/// Arms the points named in `SHOMEI_FAILPOINTS`. An unknown name or a bad count is an
/// error (a harness that misspells a point must not pass for want of a crash).
pub fn arm_from_env() -> Result<(), String> {
    let Ok(spec) = std::env::var("SHOMEI_FAILPOINTS") else {
        return Ok(());
    };
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, n) = match item.split_once('@') {
            Some((name, n)) => (
                name,
                n.parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("failpoint {item}: the count must be 1 or more"))?,
            ),
            None => (item, 1),
        };
        let Some(&point) = POINTS.iter().find(|p| **p == name) else {
            return Err(format!(
                "unknown failpoint {name}; known: {}",
                POINTS.join(", ")
            ));
        };
        let hits = AtomicU64::new(0);
        fail::cfg_callback(point, move || {
            if hits.fetch_add(1, Ordering::SeqCst) + 1 == n {
                kill(point);
            }
        })?;
    }
    Ok(())
}

/// Keeps what the process made at `point` (written out only if it is killed there).
pub fn evidence(point: &'static str, bytes: &[u8]) {
    if let Ok(mut e) = EVIDENCE.lock() {
        e.get_or_insert_with(HashMap::new)
            .insert(point, bytes.to_vec());
    }
}

fn kill(point: &str) {
    if let (Ok(dir), Ok(e)) = (std::env::var("SHOMEI_FAILPOINT_EVIDENCE"), EVIDENCE.lock())
        && let Some(bytes) = e.as_ref().and_then(|m| m.get(point))
    {
        let path = std::path::Path::new(&dir).join(format!("{point}.der"));
        if let Err(err) = std::fs::write(&path, bytes) {
            eprintln!("failpoint {point}: cannot write {}: {err}", path.display());
        }
    }
    eprintln!("failpoint {point}: SIGKILL");
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    // SIGKILL cannot be caught; nothing after it runs.
    loop {
        std::thread::park();
    }
}
