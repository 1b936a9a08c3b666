//! Group commit's tests: callers share groups, each gets its own answer, one item's
//! error reaches only its caller, and the blocking writer's runs.

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// 200 concurrent callers; item `refused` (if any) fails its group. Returns the
/// answers in caller order and how many times `write` ran.
async fn run_callers(refused: Option<u32>) -> (Vec<Option<Result<u32>>>, usize) {
    let groups = Arc::new(AtomicUsize::new(0));
    let commit: Arc<GroupCommit<u32, u32>> = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let (commit, groups) = (commit.clone(), groups.clone());
        tasks.push(tokio::spawn(async move {
            commit
                .submit(i, move |items: Vec<u32>| {
                    let groups = groups.clone();
                    async move {
                        groups.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                        if refused.is_some_and(|r| items.contains(&r)) {
                            return Err(RaError::WrongState);
                        }
                        Ok(items.iter().map(|i| i * 10).collect())
                    }
                })
                .await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.ok());
    }
    (answers, groups.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_groups_and_each_gets_its_own_answer() {
    let (answers, groups) = run_callers(None).await;
    for (i, a) in answers.into_iter().enumerate() {
        assert_eq!(a.and_then(|r| r.ok()), Some(i as u32 * 10));
    }
    // 200 callers, each answered after a 2 ms write: far fewer writes than callers.
    assert!(groups < 50, "{groups} groups");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_that_fails_its_group_fails_alone() {
    let (answers, _) = run_callers(Some(13)).await;
    for (i, a) in answers.into_iter().enumerate() {
        match a {
            Some(Err(RaError::WrongState)) if i == 13 => {}
            Some(Ok(v)) if i != 13 && v == i as u32 * 10 => {}
            other => panic!("caller {i}: {other:?}"),
        }
    }
}

/// A session that counts its runs' ends; `yield_each` ends a run after each group.
struct Counted {
    ended: Arc<AtomicUsize>,
    yield_each: bool,
}

impl Session for Counted {
    fn should_yield(&self) -> bool {
        self.yield_each
    }
    fn end(self) {
        self.ended.fetch_add(1, Ordering::SeqCst);
    }
}

/// [`run_callers`] through a [`BlockingGroupCommit`]. Returns the answers, how many
/// times `write` ran, and how many sessions were opened and ended.
async fn run_blocking_callers(
    refused: Option<u32>,
    yield_each: bool,
) -> (Vec<Option<Result<u32>>>, usize, usize, usize) {
    let (groups, opened, ended) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let commit: Arc<BlockingGroupCommit<u32, u32>> = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let (commit, groups, opened, ended) = (
            commit.clone(),
            groups.clone(),
            opened.clone(),
            ended.clone(),
        );
        tasks.push(tokio::spawn(async move {
            commit
                .submit(
                    i,
                    move || {
                        opened.fetch_add(1, Ordering::SeqCst);
                        let ended = ended.clone();
                        async move { Ok(Counted { ended, yield_each }) }
                    },
                    move |_: &Counted, items: Vec<u32>| {
                        groups.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        if refused.is_some_and(|r| items.contains(&r)) {
                            return Err(RaError::WrongState);
                        }
                        Ok(items.iter().map(|i| i * 10).collect())
                    },
                )
                .await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.ok());
    }
    // The last run ends after its linger.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    (
        answers,
        groups.load(Ordering::SeqCst),
        opened.load(Ordering::SeqCst),
        ended.load(Ordering::SeqCst),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_writer_shares_groups_and_runs() {
    let (answers, groups, opened, ended) = run_blocking_callers(None, false).await;
    for (i, a) in answers.into_iter().enumerate() {
        assert_eq!(a.and_then(|r| r.ok()), Some(i as u32 * 10));
    }
    assert!(groups < 50, "{groups} groups");
    // Every session opened was ended.
    assert_eq!(opened, ended);
}

/// What was queued while a group was being written is the next group of the same
/// run: one session for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_queues_during_a_group_is_written_in_the_same_run() {
    struct Gate {
        groups: Mutex<Vec<Vec<u32>>>,
        started: Mutex<std::sync::mpsc::Sender<()>>,
        release: Mutex<std::sync::mpsc::Receiver<()>>,
    }
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel();
    let gate = Arc::new(Gate {
        groups: Mutex::new(Vec::new()),
        started: Mutex::new(started_tx),
        release: Mutex::new(release_rx),
    });
    let (opened, ended) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let commit: Arc<BlockingGroupCommit<u32, u32>> = Arc::default();
    let submit = |i: u32| {
        let (commit, gate, opened, ended) =
            (commit.clone(), gate.clone(), opened.clone(), ended.clone());
        tokio::spawn(async move {
            commit
                .submit(
                    i,
                    move || {
                        opened.fetch_add(1, Ordering::SeqCst);
                        let ended = ended.clone();
                        async move {
                            Ok(Counted {
                                ended,
                                yield_each: false,
                            })
                        }
                    },
                    move |_: &Counted, items: Vec<u32>| {
                        let first = {
                            let mut groups = gate.groups.lock().map_err(|_| RaError::WrongState)?;
                            groups.push(items.clone());
                            groups.len() == 1
                        };
                        if first {
                            // The first group holds its thread until released.
                            let _ = gate.started.lock().map(|s| s.send(()));
                            let _ = gate.release.lock().map(|r| r.recv());
                        }
                        Ok(items)
                    },
                )
                .await
        })
    };
    let first = submit(0);
    let started = tokio::task::spawn_blocking(move || started_rx.recv()).await;
    assert!(matches!(started, Ok(Ok(()))), "the first group started");
    let rest: Vec<_> = (1..=5).map(submit).collect();
    // All five queued behind the group being written.
    let queued = || {
        commit
            .queue
            .0
            .lock()
            .ok()
            .and_then(|q| q.as_ref().map(|q| q.len()))
    };
    for _ in 0..1000 {
        if queued() == Some(5) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(queued(), Some(5));
    assert!(release_tx.send(()).is_ok());
    assert_eq!(first.await.ok().and_then(|r| r.ok()), Some(0));
    for (i, t) in rest.into_iter().enumerate() {
        assert_eq!(t.await.ok().and_then(|r| r.ok()), Some(i as u32 + 1));
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let mut groups = gate.groups.lock().map(|g| g.clone()).unwrap_or_default();
    if let Some(g) = groups.get_mut(1) {
        g.sort_unstable();
    }
    assert_eq!(groups, vec![vec![0], vec![1, 2, 3, 4, 5]]);
    assert_eq!(
        (opened.load(Ordering::SeqCst), ended.load(Ordering::SeqCst)),
        (1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_writer_fails_an_item_alone() {
    let (answers, ..) = run_blocking_callers(Some(13), false).await;
    for (i, a) in answers.into_iter().enumerate() {
        match a {
            Some(Err(RaError::WrongState)) if i == 13 => {}
            Some(Ok(v)) if i != 13 && v == i as u32 * 10 => {}
            other => panic!("caller {i}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_yields_ends_its_run_after_each_group() {
    let (answers, groups, opened, ended) = run_blocking_callers(None, true).await;
    assert!(answers.iter().all(|a| matches!(a, Some(Ok(_)))));
    assert_eq!((opened, ended), (groups, groups));
}

#[tokio::test]
async fn a_session_that_cannot_open_fails_its_caller_and_the_next_opens_again() {
    let commit: Arc<BlockingGroupCommit<u32, u32>> = Arc::default();
    let tries = Arc::new(AtomicUsize::new(0));
    let ended = Arc::new(AtomicUsize::new(0));
    let submit = |i: u32| {
        let (tries, ended) = (tries.clone(), ended.clone());
        commit.submit(
            i,
            move || {
                let n = tries.fetch_add(1, Ordering::SeqCst);
                let ended = ended.clone();
                async move {
                    if n == 0 {
                        Err(RaError::Corrupt("database unavailable".into()))
                    } else {
                        Ok(Counted {
                            ended,
                            yield_each: false,
                        })
                    }
                }
            },
            |_: &Counted, items: Vec<u32>| Ok(items),
        )
    };
    assert!(matches!(submit(1).await, Err(RaError::Corrupt(_))));
    assert_eq!(submit(2).await.ok(), Some(2));
}

#[tokio::test]
async fn a_caller_that_goes_away_does_not_cancel_the_group() {
    let commit: Arc<GroupCommit<u32, u32>> = Arc::default();
    let written = Arc::new(AtomicUsize::new(0));
    let w = written.clone();
    let caller = commit.submit(1, move |items: Vec<u32>| {
        let w = w.clone();
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            w.fetch_add(items.len(), Ordering::SeqCst);
            Ok(items)
        }
    });
    // The caller gives up after 5 ms, while its group is being written.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(5), caller).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(written.load(Ordering::SeqCst), 1);
}
