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
use tokio::sync::oneshot;

/// The most items written in one transaction.
pub const MAX_GROUP: usize = 256;

type Waiter<I, O> = (I, oneshot::Sender<Result<O>>);

/// The queue of a kind of write's running writer task, if one runs.
struct Queue<I, O>(Mutex<Option<flume::Sender<Waiter<I, O>>>>);

impl<I, O> Default for Queue<I, O> {
    fn default() -> Self {
        Queue(Mutex::new(None))
    }
}

impl<I, O> Queue<I, O> {
    /// Queues `item` for the running writer, or for a new one `start` spawns with its
    /// inbox (the first caller, or a writer whose runtime ended); then waits for the
    /// answer.
    async fn submit(
        &self,
        item: I,
        start: impl FnOnce(flume::Receiver<Waiter<I, O>>),
    ) -> Result<O> {
        let (tx, rx) = oneshot::channel();
        {
            let mut queue = self
                .0
                .lock()
                .map_err(|_| RaError::Corrupt("group commit queue poisoned".into()))?;
            let waiter = match queue.as_ref() {
                Some(q) => q.send((item, tx)).err().map(|e| e.0),
                None => Some((item, tx)),
            };
            if let Some(waiter) = waiter {
                let (q, inbox) = flume::unbounded();
                start(inbox);
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

/// One kind of write, shared by its concurrent callers.
pub(crate) struct GroupCommit<I, O> {
    queue: Queue<I, O>,
}

impl<I, O> std::fmt::Debug for GroupCommit<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl<I, O> Default for GroupCommit<I, O> {
    fn default() -> Self {
        GroupCommit {
            queue: Queue::default(),
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
        self.queue
            .submit(item, |inbox| {
                tokio::spawn(writer(inbox, write));
            })
            .await
    }
}

/// The writer task: one group at a time, everything queued meanwhile in the next.
async fn writer<I, O, F, Fut>(inbox: flume::Receiver<Waiter<I, O>>, write: F)
where
    I: Clone,
    F: Fn(Vec<I>) -> Fut,
    Fut: Future<Output = Result<Vec<O>>>,
{
    while let Ok(first) = inbox.recv_async().await {
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
    queue: Queue<I, O>,
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
            queue: Queue::default(),
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
        self.queue
            .submit(item, |inbox| {
                tokio::spawn(blocking_writer(inbox, open, std::sync::Arc::new(write)));
            })
            .await
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
mod tests;
