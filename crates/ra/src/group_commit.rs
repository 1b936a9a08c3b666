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
    let n = items.len();
    let result = write(items.clone()).await;
    match result {
        Ok(answers) if answers.len() == n => {
            for (w, a) in waiters.into_iter().zip(answers) {
                let _ = w.send(Ok(a));
            }
        }
        Ok(_) => {
            for w in waiters {
                let _ = w.send(Err(RaError::Corrupt(
                    "group commit: answers missing".into(),
                )));
            }
        }
        Err(e) if n == 1 => {
            if let Some(w) = waiters.into_iter().next() {
                let _ = w.send(Err(e));
            }
        }
        Err(e) => {
            tracing::debug!(items = n, "group commit failed ({e}); writing each alone");
            for (item, w) in items.into_iter().zip(waiters) {
                let answer = write(vec![item]).await.and_then(|mut v| {
                    v.pop()
                        .ok_or_else(|| RaError::Corrupt("group commit: answer missing".into()))
                });
                let _ = w.send(answer);
            }
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
