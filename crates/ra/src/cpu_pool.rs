//! The threads that run the issuance's CPU-heavy steps — CSR and key checks, lint,
//! signatures (issue #11 item 4) — at a lower scheduling priority than the rest of the
//! process.
//!
//! Why: SQLite has one writer, and every issuance waits for it twice. When these steps
//! ran on tokio's blocking pool at the same priority as the writer, the writer's thread
//! spent about a third of each group write runnable but waiting for a core (measured
//! with `/proc/thread-self/schedstat`, docs/performance-issuance-earlier.md), so the one serial
//! part of issuance ran slower the busier the machine was. Here they run on threads of
//! their own, one per core, at [`NICENESS`]: they still use every idle cycle, but the
//! writer, the async workers (pages, OCSP) and the database's threads go first when
//! they wake up. A niceness is only ever raised, which needs no privilege.

use crate::{RaError, Result};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

/// How much nicer than the process the pool's threads are (niceness 19 is the lowest
/// priority). At 10 more the scheduler gives a thread of the process's priority about
/// nine times the share of one of these.
pub const NICENESS: i32 = 10;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The pool: a queue its threads take jobs from in order.
struct Pool {
    queue: mpsc::Sender<Job>,
}

fn pool() -> Result<&'static Pool> {
    static POOL: OnceLock<std::result::Result<Pool, String>> = OnceLock::new();
    POOL.get_or_init(start)
        .as_ref()
        .map_err(|e| RaError::Corrupt(format!("CPU pool: {e}")))
}

fn start() -> std::result::Result<Pool, String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = std::sync::Arc::new(Mutex::new(rx));
    for i in 0..threads {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("shomei-cpu-{i}"))
            .spawn(move || {
                lower_priority();
                loop {
                    // The lock is held only to take one job, never while running it.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| e.to_string())?;
    }
    Ok(Pool { queue: tx })
}

/// Makes this thread [`NICENESS`] nicer than it was, at most 19 (on Linux a niceness is
/// a thread's own). If the system refuses, the thread runs at the process's priority:
/// slower under load, never wrong.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let me = rustix::thread::gettid();
        let lowered = rustix::process::getpriority_process(Some(me)).and_then(|now| {
            rustix::process::setpriority_process(Some(me), (now + NICENESS).min(19))
        });
        if let Err(e) = lowered {
            tracing::warn!(
                "CPU pool: cannot lower the thread's priority ({e}); running at the process's"
            );
        }
    }
}

/// Runs `work` on the pool and waits for it without blocking the async worker. A panic
/// in `work` is an error for this caller only; the pool's thread goes on.
pub(crate) async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let _ = tx.send(out);
    });
    pool()?
        .queue
        .send(job)
        .map_err(|_| RaError::Corrupt("CPU pool stopped".into()))?;
    match rx.await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(_)) => Err(RaError::Corrupt("CPU pool: a job panicked".into())),
        Err(_) => Err(RaError::Corrupt("CPU pool: a job was dropped".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_and_survives_a_panic() {
        assert_eq!(run(|| 6 * 7).await.ok(), Some(42));
        let panicked = run(|| -> u8 { panic!("a job that panics") }).await;
        assert!(matches!(panicked, Err(RaError::Corrupt(_))), "{panicked:?}");
        // The pool goes on after a panic, on every thread.
        let mut all = Vec::new();
        for i in 0..64u32 {
            all.push(tokio::spawn(run(move || i * 2)));
        }
        for (i, h) in all.into_iter().enumerate() {
            assert_eq!(h.await.ok().and_then(|r| r.ok()), Some(i as u32 * 2));
        }
    }

    /// This thread's niceness, as the kernel reports it (field 19 of its stat; the
    /// command name, field 2, may hold spaces, so fields are counted after it).
    #[cfg(target_os = "linux")]
    fn niceness() -> Option<i32> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(16)?
            .parse()
            .ok()
    }

    /// The jobs run below the process's priority (what lets SQLite's writer go first);
    /// the caller's thread is untouched.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn jobs_run_at_the_lower_priority() {
        let here = niceness();
        let there = run(niceness).await.ok().flatten();
        assert!(here.is_some(), "this thread's niceness");
        assert_eq!(there, here.map(|n| (n + NICENESS).min(19)));
        assert_eq!(niceness(), here);
    }
}
