//! Group commit (issue #11 item 4): concurrent callers of one write share a
//! transaction, so a commit (and its disk flush) is paid once per group, not once per
//! caller, and no caller is answered before the commit that holds its write.
//!
//! Callers queue their items; one writer task takes everything queued (at most
//! [`MAX_GROUP`]), writes it in one transaction and answers each caller after the
//! commit, then takes what was queued meanwhile. A caller that goes away (a closed
//! connection) cannot cancel a transaction that holds other callers' writes: the
//! writer runs on its own. If a group fails, each of its items is written again alone,
//! so an item's error (a serial collision, a record in the wrong state) reaches that
//! item's caller only.

use crate::{RaError, Result};
use std::future::Future;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// The most items written in one transaction.
pub const MAX_GROUP: usize = 256;

type Waiter<I, O> = (I, oneshot::Sender<Result<O>>);

/// One kind of write, shared by its concurrent callers.
pub(crate) struct GroupCommit<I, O> {
    /// The queue of the running writer task, if one runs.
    queue: Mutex<Option<mpsc::UnboundedSender<Waiter<I, O>>>>,
}

impl<I, O> std::fmt::Debug for GroupCommit<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl<I, O> Default for GroupCommit<I, O> {
    fn default() -> Self {
        GroupCommit {
            queue: Mutex::new(None),
        }
    }
}

impl<I, O> GroupCommit<I, O>
where
    I: Clone + Send + 'static,
    O: Send + 'static,
{
    /// Writes `item` with whatever else is queued: `write` takes a group and returns one
    /// answer per item, in order, after its commit. The first caller's `write` starts
    /// the writer task (every caller passes the same one); a writer whose runtime ended
    /// is replaced.
    pub(crate) async fn submit<F, Fut>(&self, item: I, write: F) -> Result<O>
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<O>>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        {
            let mut queue = self
                .queue
                .lock()
                .map_err(|_| RaError::Corrupt("group commit queue poisoned".into()))?;
            let waiter = match queue.as_ref() {
                Some(q) => q.send((item, tx)).err().map(|e| e.0),
                None => Some((item, tx)),
            };
            if let Some(waiter) = waiter {
                let (q, inbox) = mpsc::unbounded_channel();
                tokio::spawn(writer(inbox, write));
                q.send(waiter)
                    .map_err(|_| RaError::Corrupt("group commit writer gone".into()))?;
                *queue = Some(q);
            }
        }
        rx.await.unwrap_or_else(|_| {
            Err(RaError::Corrupt(
                "group commit ended without an answer".into(),
            ))
        })
    }
}

/// The writer task: one group at a time, everything queued meanwhile in the next.
async fn writer<I, O, F, Fut>(mut inbox: mpsc::UnboundedReceiver<Waiter<I, O>>, write: F)
where
    I: Clone,
    F: Fn(Vec<I>) -> Fut,
    Fut: Future<Output = Result<Vec<O>>>,
{
    while let Some(first) = inbox.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match inbox.try_recv() {
                Ok(w) => group.push(w),
                Err(_) => break,
            }
        }
        write_group(group, &write).await;
    }
}

/// Writes a group and answers each of its callers; a failed group is written again one
/// item at a time.
async fn write_group<I, O, F, Fut>(group: Vec<Waiter<I, O>>, write: &F)
where
    I: Clone,
    F: Fn(Vec<I>) -> Fut,
    Fut: Future<Output = Result<Vec<O>>>,
{
    let (items, waiters): (Vec<I>, Vec<_>) = group.into_iter().unzip();
    let result = write(items.clone()).await;
    for (item, w) in answer(items, waiters, result) {
        let _ = w.send(single(write(vec![item]).await));
    }
}

/// [`write_group`] on a blocking thread.
fn write_group_blocking<I, O>(group: Vec<Waiter<I, O>>, write: impl Fn(Vec<I>) -> Result<Vec<O>>)
where
    I: Clone,
{
    let (items, waiters): (Vec<I>, Vec<_>) = group.into_iter().unzip();
    let result = write(items.clone());
    for (item, w) in answer(items, waiters, result) {
        let _ = w.send(single(write(vec![item])));
    }
}

/// Answers a group's callers from its write's result. Returns the items to write again
/// one at a time (with their callers) when a group of several failed: one item's error
/// (a serial collision, a record in the wrong state) then reaches that item's caller only.
fn answer<I, O>(
    items: Vec<I>,
    waiters: Vec<oneshot::Sender<Result<O>>>,
    result: Result<Vec<O>>,
) -> Vec<(I, oneshot::Sender<Result<O>>)> {
    let n = items.len();
    match result {
        Ok(answers) if answers.len() == n => {
            for (w, a) in waiters.into_iter().zip(answers) {
                let _ = w.send(Ok(a));
            }
            Vec::new()
        }
        Ok(_) => {
            for w in waiters {
                let _ = w.send(Err(RaError::Corrupt(
                    "group commit: answers missing".into(),
                )));
            }
            Vec::new()
        }
        Err(e) if n == 1 => {
            if let Some(w) = waiters.into_iter().next() {
                let _ = w.send(Err(e));
            }
            Vec::new()
        }
        Err(e) => {
            tracing::debug!(items = n, "group commit failed ({e}); writing each alone");
            items.into_iter().zip(waiters).collect()
        }
    }
}

/// The one answer of a write of one item.
fn single<O>(answers: Result<Vec<O>>) -> Result<O> {
    answers.and_then(|mut v| {
        v.pop()
            .ok_or_else(|| RaError::Corrupt("group commit: answer missing".into()))
    })
}

/// A writer that holds a session (SQLite's own writer connection, issue #11 item 4) for a
/// run of groups on one blocking thread: while callers keep queueing, group follows group
/// on that thread without a hand-off to an async worker and back between them (a
/// seventh of a group's time on a busy machine). The run ends when nothing has been
/// queued for [`LINGER`], or when the session asks to yield (its gate held
/// long enough that other writers should go first).
pub(crate) trait Session: Send + 'static {
    /// Whether the run should end after this group.
    fn should_yield(&self) -> bool;
    /// Ends the run (called on an async worker).
    fn end(self);
}

/// How long a run waits on its thread for the next caller before it ends.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

/// [`GroupCommit`] whose groups are written on a blocking thread holding a [`Session`].
pub(crate) struct BlockingGroupCommit<I, O> {
    /// The queue of the running writer task, if one runs.
    queue: Mutex<Option<flume::Sender<Waiter<I, O>>>>,
}

impl<I, O> std::fmt::Debug for BlockingGroupCommit<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingGroupCommit")
            .finish_non_exhaustive()
    }
}

impl<I, O> Default for BlockingGroupCommit<I, O> {
    fn default() -> Self {
        BlockingGroupCommit {
            queue: Mutex::new(None),
        }
    }
}

impl<I, O> BlockingGroupCommit<I, O>
where
    I: Clone + Send + 'static,
    O: Send + 'static,
{
    /// Writes `item` with whatever else is queued: `open` takes the session for a run,
    /// `write` writes a group with it (on the blocking thread) and returns one answer per
    /// item, in order, after its commit. The first caller's functions start the writer
    /// task (every caller passes the same); a writer whose runtime ended is replaced.
    pub(crate) async fn submit<S, Open, OpenFut, W>(
        &self,
        item: I,
        open: Open,
        write: W,
    ) -> Result<O>
    where
        S: Session,
        Open: Fn() -> OpenFut + Send + 'static,
        OpenFut: Future<Output = Result<S>> + Send + 'static,
        W: Fn(&S, Vec<I>) -> Result<Vec<O>> + Send + Sync + 'static,
    {
        let (tx, rx) = oneshot::channel();
        {
            let mut queue = self
                .queue
                .lock()
                .map_err(|_| RaError::Corrupt("group commit queue poisoned".into()))?;
            let waiter = match queue.as_ref() {
                Some(q) => q.send((item, tx)).err().map(|e| e.0),
                None => Some((item, tx)),
            };
            if let Some(waiter) = waiter {
                let (q, inbox) = flume::unbounded();
                tokio::spawn(blocking_writer(inbox, open, std::sync::Arc::new(write)));
                q.send(waiter)
                    .map_err(|_| RaError::Corrupt("group commit writer gone".into()))?;
                *queue = Some(q);
            }
        }
        rx.await.unwrap_or_else(|_| {
            Err(RaError::Corrupt(
                "group commit ended without an answer".into(),
            ))
        })
    }
}

/// The writer task of a [`BlockingGroupCommit`]: waits for a caller, opens a session,
/// and hands the queue to a blocking thread for a run of groups.
async fn blocking_writer<I, O, S, Open, OpenFut, W>(
    inbox: flume::Receiver<Waiter<I, O>>,
    open: Open,
    write: std::sync::Arc<W>,
) where
    I: Clone + Send + 'static,
    O: Send + 'static,
    S: Session,
    Open: Fn() -> OpenFut,
    OpenFut: Future<Output = Result<S>>,
    W: Fn(&S, Vec<I>) -> Result<Vec<O>> + Send + Sync + 'static,
{
    while let Ok(first) = inbox.recv_async().await {
        let session = match open().await {
            Ok(session) => session,
            Err(e) => {
                let _ = first.1.send(Err(e));
                continue;
            }
        };
        let (queue, write) = (inbox.clone(), write.clone());
        let run = tokio::task::spawn_blocking(move || {
            let mut next = Some(first);
            while let Some(first) = next.take() {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match queue.try_recv() {
                        Ok(w) => group.push(w),
                        Err(_) => break,
                    }
                }
                write_group_blocking(group, |items| write(&session, items));
                if session.should_yield() {
                    break;
                }
                next = queue.recv_timeout(LINGER).ok();
            }
            session
        })
        .await;
        match run {
            Ok(session) => session.end(),
            // The run's callers are answered (their senders dropped: an error each).
            Err(e) => tracing::error!("group writer thread: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
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
        // Group follows group in one run while callers keep coming: fewer sessions than
        // groups, and every session opened was ended.
        assert!(opened < groups, "{opened} sessions for {groups} groups");
        assert_eq!(opened, ended);
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
}
