//! Group commit: one writer task per kind of write commits, in one transaction, every write
//! that arrived while the previous commit was in flight.
//!
//! Why: a write is acknowledged only once it is durable, and a commit (an fsync) costs more than
//! everything else a write does. Sharing commits lets throughput grow with the number of people
//! writing instead of queueing them for one fsync each. The writer waits only for the first
//! write of a batch, never for a timer, so a lone write on an idle server is committed at once
//! and latency does not grow.
//!
//! Guarantees:
//! - **Each writer gets its own answer.** A batch commit returns one output per write, in order,
//!   and each submitter is told its own.
//! - **All or nothing.** A batch is one transaction: when its commit fails, every write in it is
//!   answered with the same error ([`GroupCommitError::NotCommitted`]).
//! - **Answered first, followed up before the next batch.** Submitters are answered as soon as
//!   their batch is committed; then the batch's after-commit step runs
//!   ([`BatchCommit::after_commit`]), and the next batch is committed only once it has finished,
//!   so what it does happens in commit order. Its failure never turns a stored write into an
//!   error: it is logged, and nothing else.
//! - **Bounded.** A batch holds at most [`BatchCommit::MAX_BATCH`] writes, so one transaction
//!   stays short; the queue holds four batches, beyond which submitters wait instead of
//!   growing memory.
//! - **Logged by kind only.** A database's error text can quote stored values, so failures are
//!   logged with [`StoreError::kind`] and a count, never content.
//!
//! The writer task ends once every [`GroupCommit`] handle has been dropped and the queue is
//! empty.
//!
//! Where a writer runs: on the caller's runtime ([`GroupCommit::start`]), or on a thread and
//! runtime of its own ([`GroupCommit::start_on_own_thread`]) where its batch is a chain of
//! round trips to a database server. Each round trip is waited for in turn, on the way of every
//! write of the batch; on the shared runtime each reply waits until a worker busy with requests
//! polls the writer again, while on a thread of its own the kernel wakes the writer at once
//! (bench/README.md, "Sends, evening of 2026-12-05").

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::store::{StoreError, StoreResult};

/// What committing one batch means for one kind of write, and what follows a commit.
pub trait BatchCommit: Send + Sync + 'static {
    /// One submitted write.
    type Item: Send + 'static;
    /// What a submitter is told once the batch holding its write is committed. Cloned because
    /// the submitter is answered before the after-commit step, which is given the output too.
    type Output: Clone + Send + 'static;

    /// Names the writer in logs.
    const NAME: &'static str;
    /// Most writes committed in one transaction.
    const MAX_BATCH: usize;

    /// Commits the whole batch in one transaction; one output per item, in order.
    fn commit(
        &self,
        items: &[Self::Item],
    ) -> impl Future<Output = StoreResult<Vec<Self::Output>>> + Send;

    /// Runs once per committed batch, after its submitters have been answered and before the
    /// next batch is committed. A failure is logged by kind; the batch stays committed.
    fn after_commit(
        &self,
        _committed: Vec<(Self::Item, Self::Output)>,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }
}

/// Why a submitted write has no result.
#[derive(Clone, Debug, thiserror::Error)]
pub enum GroupCommitError {
    /// The batch holding the write was not committed. Every write of that batch gets this same
    /// error; it is not shown as text because a database's message can quote stored values.
    #[error("the batch was not committed")]
    NotCommitted(Arc<StoreError>),
    /// The writer stopped before answering (the runtime is shutting down, or a commit
    /// panicked), so whether the write is stored is unknown.
    #[error("the group-commit writer has stopped")]
    WriterStopped,
}

impl GroupCommitError {
    /// Whether the batch failed for want of room in the database.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, GroupCommitError::NotCommitted(error) if matches!(**error, StoreError::StorageFull))
    }
}

/// A handle to one writer task. Cheap to clone.
pub struct GroupCommit<C: BatchCommit> {
    queue: mpsc::Sender<Submission<C>>,
    /// When the batch being committed now began; `None` between batches.
    busy_since: Arc<Mutex<Option<Instant>>>,
}

/// What a writer task is doing, for readiness checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriterHealth {
    /// Waiting for writes.
    Idle,
    /// Committing a batch (and its after-commit step) for this long.
    Committing(Duration),
    /// The task has ended (a commit panicked): nothing submitted will be stored.
    Stopped,
}

struct Submission<C: BatchCommit> {
    item: C::Item,
    answer: oneshot::Sender<Result<C::Output, GroupCommitError>>,
}

impl<C: BatchCommit> GroupCommit<C> {
    /// Starts the writer task. It ends when every handle has been dropped.
    pub fn start(committer: C) -> Self {
        let (writer, receiver) = Self::unstarted();
        tokio::spawn(write_batches(
            committer,
            receiver,
            writer.busy_since.clone(),
        ));
        writer
    }

    /// Starts the writer task on a thread of its own (named after the writer), on a runtime of
    /// its own. The committer is made there, by `make_committer`, so that the connections it
    /// opens belong to that runtime and their replies wake that thread. The thread ends when
    /// every handle has been dropped.
    pub fn start_on_own_thread(
        make_committer: impl FnOnce() -> C + Send + 'static,
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (writer, receiver) = Self::unstarted();
        let busy_since = writer.busy_since.clone();
        std::thread::Builder::new()
            .name(format!("{}-writer", C::NAME))
            .spawn(move || {
                runtime.block_on(async move {
                    write_batches(make_committer(), receiver, busy_since).await;
                });
            })?;
        Ok(writer)
    }

    /// A handle and the queue its writer task will read.
    fn unstarted() -> (Self, mpsc::Receiver<Submission<C>>) {
        // An empty batch limit would make the writer stop at its first wait.
        const { assert!(C::MAX_BATCH > 0, "a batch must hold at least one write") };
        let (queue, receiver) = mpsc::channel(4 * C::MAX_BATCH);
        let writer = Self {
            queue,
            busy_since: Arc::new(Mutex::new(None)),
        };
        (writer, receiver)
    }

    /// Whether the writer is idle, committing (and for how long), or gone.
    pub fn health(&self) -> WriterHealth {
        if self.queue.is_closed() {
            return WriterHealth::Stopped;
        }
        match *self
            .busy_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            Some(since) => WriterHealth::Committing(since.elapsed()),
            None => WriterHealth::Idle,
        }
    }

    /// Queues the write; returns its output once the batch holding it is committed.
    pub async fn submit(&self, item: C::Item) -> Result<C::Output, GroupCommitError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send(Submission { item, answer })
            .await
            .map_err(|_| GroupCommitError::WriterStopped)?;
        answered
            .await
            .map_err(|_| GroupCommitError::WriterStopped)?
    }

    /// Queues `items` together, so they share a commit, and answers each's output in order
    /// once all are committed.
    pub async fn submit_all(
        &self,
        items: Vec<C::Item>,
    ) -> Result<Vec<C::Output>, GroupCommitError> {
        let mut answers = Vec::with_capacity(items.len());
        for item in items {
            let (answer, answered) = oneshot::channel();
            self.queue
                .send(Submission { item, answer })
                .await
                .map_err(|_| GroupCommitError::WriterStopped)?;
            answers.push(answered);
        }
        let mut outputs = Vec::with_capacity(answers.len());
        for answered in answers {
            outputs.push(
                answered
                    .await
                    .map_err(|_| GroupCommitError::WriterStopped)??,
            );
        }
        Ok(outputs)
    }
}

async fn write_batches<C: BatchCommit>(
    committer: C,
    mut receiver: mpsc::Receiver<Submission<C>>,
    busy_since: Arc<Mutex<Option<Instant>>>,
) {
    let mut queued = Vec::with_capacity(C::MAX_BATCH);
    let mark = |since: Option<Instant>| {
        *busy_since.lock().unwrap_or_else(PoisonError::into_inner) = since;
    };
    // `recv_many` waits only while the queue is empty, and answers 0 only once every handle
    // has been dropped and nothing is left to commit.
    while receiver.recv_many(&mut queued, C::MAX_BATCH).await > 0 {
        mark(Some(Instant::now()));
        commit_batch(&committer, &mut queued).await;
        mark(None);
    }
}

/// Commits what is queued and answers each submitter; then runs the after-commit step.
async fn commit_batch<C: BatchCommit>(committer: &C, queued: &mut Vec<Submission<C>>) {
    let (items, answers): (Vec<_>, Vec<_>) = queued
        .drain(..)
        .map(|submission| (submission.item, submission.answer))
        .unzip();
    match committer.commit(&items).await {
        Ok(outputs) => {
            for (answer, output) in answers.into_iter().zip(&outputs) {
                // The submitter may have gone away; its write is stored all the same.
                let _ = answer.send(Ok(output.clone()));
            }
            let committed = items.into_iter().zip(outputs).collect();
            if let Err(error) = committer.after_commit(committed).await {
                tracing::warn!(
                    writer = C::NAME,
                    kind = error.kind(),
                    "after-commit step failed; the batch stays stored"
                );
            }
        }
        Err(error) => {
            tracing::error!(
                writer = C::NAME,
                kind = error.kind(),
                writes = items.len(),
                "batch not stored"
            );
            let error = Arc::new(error);
            for answer in answers {
                let _ = answer.send(Err(GroupCommitError::NotCommitted(error.clone())));
            }
        }
    }
}

// By hand: derived impls would require `C` itself to be `Clone` and `Debug`.
impl<C: BatchCommit> Clone for GroupCommit<C> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            busy_since: self.busy_since.clone(),
        }
    }
}

impl<C: BatchCommit> fmt::Debug for GroupCommit<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit")
            .field("writer", &C::NAME)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use tokio::sync::Semaphore;
    use tokio::task::JoinHandle;

    use super::*;

    /// What the fake committer was asked to do, in order.
    #[derive(Debug, PartialEq, Eq)]
    enum Step {
        Commit(Vec<u32>),
        AfterCommit(Vec<(u32, u32)>),
    }

    /// Commits a batch by doubling each item, recording every step in a shared journal.
    struct Ledger {
        journal: Arc<Mutex<Vec<Step>>>,
        /// One permit per commit allowed to finish: a test holds a commit in flight while more
        /// writes queue behind it.
        commits: Arc<Semaphore>,
        /// Likewise for after-commit steps.
        after_commits: Arc<Semaphore>,
        /// A batch holding this item fails to commit.
        poison: Option<u32>,
        after_commit_fails: bool,
    }

    impl Ledger {
        fn new() -> Self {
            Self {
                journal: Arc::default(),
                commits: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
                after_commits: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
                poison: None,
                after_commit_fails: false,
            }
        }

        /// Every commit waits until the test releases it.
        fn with_commits_held(mut self) -> Self {
            self.commits = Arc::new(Semaphore::new(0));
            self
        }

        /// Every after-commit step waits until the test releases it.
        fn with_after_commits_held(mut self) -> Self {
            self.after_commits = Arc::new(Semaphore::new(0));
            self
        }
    }

    impl BatchCommit for Ledger {
        type Item = u32;
        type Output = u32;
        const NAME: &'static str = "test";
        const MAX_BATCH: usize = 4;

        async fn commit(&self, items: &[u32]) -> StoreResult<Vec<u32>> {
            self.journal
                .lock()
                .unwrap()
                .push(Step::Commit(items.to_vec()));
            self.commits.acquire().await.unwrap().forget();
            if self.poison.is_some_and(|poison| items.contains(&poison)) {
                return Err(StoreError::MissingReference);
            }
            Ok(items.iter().map(|item| item * 2).collect())
        }

        async fn after_commit(&self, committed: Vec<(u32, u32)>) -> StoreResult<()> {
            self.journal
                .lock()
                .unwrap()
                .push(Step::AfterCommit(committed));
            self.after_commits.acquire().await.unwrap().forget();
            if self.after_commit_fails {
                return Err(StoreError::Corrupt("test".to_owned()));
            }
            Ok(())
        }
    }

    fn commits(journal: &Mutex<Vec<Step>>) -> Vec<Vec<u32>> {
        let journal = journal.lock().unwrap();
        journal
            .iter()
            .filter_map(|step| match step {
                Step::Commit(items) => Some(items.clone()),
                Step::AfterCommit(_) => None,
            })
            .collect()
    }

    fn queued<C: BatchCommit>(writer: &GroupCommit<C>) -> usize {
        writer.queue.max_capacity() - writer.queue.capacity()
    }

    /// Yields to the writer until `done` holds; fails the test if it never does.
    async fn wait_until(mut done: impl FnMut() -> bool) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !done() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the writer never got there");
    }

    fn submit(
        writer: &GroupCommit<Ledger>,
        item: u32,
    ) -> JoinHandle<Result<u32, GroupCommitError>> {
        let writer = writer.clone();
        tokio::spawn(async move { writer.submit(item).await })
    }

    /// Submits `first`, waits until its commit is in flight, and queues `rest` behind it.
    async fn queue_behind_a_commit(
        writer: &GroupCommit<Ledger>,
        journal: &Mutex<Vec<Step>>,
        first: u32,
        rest: impl IntoIterator<Item = u32>,
    ) -> Vec<(u32, JoinHandle<Result<u32, GroupCommitError>>)> {
        let mut submitted = vec![(first, submit(writer, first))];
        wait_until(|| commits(journal).len() == 1).await;
        submitted.extend(rest.into_iter().map(|item| (item, submit(writer, item))));
        let behind = submitted.len() - 1;
        wait_until(|| queued(writer) == behind).await;
        submitted
    }

    #[tokio::test]
    async fn health_says_idle_or_committing_and_for_how_long() {
        let ledger = Ledger::new().with_commits_held();
        let commits_allowed = ledger.commits.clone();
        let writer = GroupCommit::start(ledger);
        assert_eq!(writer.health(), WriterHealth::Idle);
        let pending = tokio::spawn({
            let writer = writer.clone();
            async move { writer.submit(1).await }
        });
        until(|| matches!(writer.health(), WriterHealth::Committing(_))).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        match writer.health() {
            WriterHealth::Committing(for_how_long) => {
                assert!(
                    for_how_long >= Duration::from_millis(30),
                    "{for_how_long:?}"
                );
            }
            other => panic!("a held commit reads as {other:?}"),
        }
        commits_allowed.add_permits(1);
        assert_eq!(pending.await.unwrap().unwrap(), 2);
        until(|| writer.health() == WriterHealth::Idle).await;
    }

    /// Panics at every commit, as a bug in one would.
    struct Panics;

    impl BatchCommit for Panics {
        type Item = u32;
        type Output = u32;
        const NAME: &'static str = "panics";
        const MAX_BATCH: usize = 1;

        async fn commit(&self, _items: &[u32]) -> StoreResult<Vec<u32>> {
            panic!("a commit that panics")
        }
    }

    #[tokio::test]
    async fn a_writer_whose_commit_panicked_reads_as_stopped() {
        let writer = GroupCommit::start(Panics);
        assert!(matches!(
            writer.submit(1).await,
            Err(GroupCommitError::WriterStopped)
        ));
        assert_eq!(writer.health(), WriterHealth::Stopped);
    }

    #[tokio::test]
    async fn writes_that_queue_during_a_commit_share_the_next_commits() {
        let ledger = Ledger::new().with_commits_held();
        let (journal, commits_allowed) = (ledger.journal.clone(), ledger.commits.clone());
        let writer = GroupCommit::start(ledger);

        let submitted = queue_behind_a_commit(&writer, &journal, 1, 2..=7).await;
        commits_allowed.add_permits(Semaphore::MAX_PERMITS);

        for (item, answer) in submitted {
            assert_eq!(
                answer.await.unwrap().unwrap(),
                item * 2,
                "answer to item {item}"
            );
        }
        let batches = commits(&journal);
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 4, 2], "seven writes, at most four a commit");
        let mut committed = batches.concat();
        committed.sort_unstable();
        assert_eq!(
            committed,
            [1, 2, 3, 4, 5, 6, 7],
            "each write committed once"
        );
    }

    #[tokio::test]
    async fn a_failed_commit_answers_every_write_of_its_batch_with_one_error() {
        let mut ledger = Ledger::new().with_commits_held();
        ledger.poison = Some(3);
        let (journal, commits_allowed) = (ledger.journal.clone(), ledger.commits.clone());
        let writer = GroupCommit::start(ledger);

        let mut submitted = queue_behind_a_commit(&writer, &journal, 1, [2, 3, 4]).await;
        commits_allowed.add_permits(Semaphore::MAX_PERMITS);

        let (_, first) = submitted.remove(0);
        assert_eq!(
            first.await.unwrap().unwrap(),
            2,
            "its own batch was committed"
        );
        let mut errors = Vec::new();
        for (item, answer) in submitted {
            match answer.await.unwrap() {
                Err(GroupCommitError::NotCommitted(error)) => errors.push(error),
                other => panic!("item {item} of the failed batch was answered {other:?}"),
            }
        }
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[0].kind(), "missing_reference");
        assert!(errors.iter().all(|error| Arc::ptr_eq(error, &errors[0])));
        assert_eq!(writer.submit(5).await.unwrap(), 10, "the writer carries on");
    }

    #[tokio::test]
    async fn the_after_commit_step_runs_once_per_committed_batch_with_its_outputs() {
        let mut ledger = Ledger::new();
        ledger.poison = Some(3);
        let journal = ledger.journal.clone();
        let writer = GroupCommit::start(ledger);

        writer.submit(1).await.unwrap();
        writer.submit(3).await.unwrap_err();
        writer.submit(4).await.unwrap();

        assert_eq!(
            *journal.lock().unwrap(),
            [
                Step::Commit(vec![1]),
                Step::AfterCommit(vec![(1, 2)]),
                Step::Commit(vec![3]),
                Step::Commit(vec![4]),
                Step::AfterCommit(vec![(4, 8)]),
            ],
            "no after-commit step for the batch that failed"
        );
    }

    #[tokio::test]
    async fn a_failed_after_commit_step_leaves_the_writes_committed() {
        let mut ledger = Ledger::new();
        ledger.after_commit_fails = true;
        let journal = ledger.journal.clone();
        let writer = GroupCommit::start(ledger);

        assert_eq!(writer.submit(1).await.unwrap(), 2);
        assert_eq!(writer.submit(2).await.unwrap(), 4, "the writer carries on");
        assert_eq!(
            *journal.lock().unwrap(),
            [
                Step::Commit(vec![1]),
                Step::AfterCommit(vec![(1, 2)]),
                Step::Commit(vec![2]),
                Step::AfterCommit(vec![(2, 4)]),
            ]
        );
    }

    #[tokio::test]
    async fn the_next_batch_waits_for_the_after_commit_step_but_submitters_do_not() {
        let ledger = Ledger::new().with_after_commits_held();
        let (journal, after_commits_allowed) =
            (ledger.journal.clone(), ledger.after_commits.clone());
        let writer = GroupCommit::start(ledger);

        assert_eq!(
            writer.submit(1).await.unwrap(),
            2,
            "answered before the step"
        );
        let second = submit(&writer, 2);
        wait_until(|| queued(&writer) == 1).await;
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            commits(&journal),
            [[1]],
            "the second batch waits for the step"
        );

        after_commits_allowed.add_permits(Semaphore::MAX_PERMITS);
        assert_eq!(second.await.unwrap().unwrap(), 4);
        assert_eq!(commits(&journal), [[1], [2]]);
    }

    /// Commits a batch by doubling each item, noting the thread it was made on and each
    /// thread it committed on.
    struct ThreadNotes {
        threads: Arc<Mutex<Vec<Option<String>>>>,
    }

    impl ThreadNotes {
        fn note_thread(threads: &Mutex<Vec<Option<String>>>) {
            let name = std::thread::current().name().map(str::to_owned);
            threads.lock().unwrap().push(name);
        }
    }

    impl BatchCommit for ThreadNotes {
        type Item = u32;
        type Output = u32;
        const NAME: &'static str = "notes";
        const MAX_BATCH: usize = 4;

        async fn commit(&self, items: &[u32]) -> StoreResult<Vec<u32>> {
            Self::note_thread(&self.threads);
            // Timers work: the writer's runtime has them, as a database client's need.
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok(items.iter().map(|item| item * 2).collect())
        }
    }

    /// Polls until `done` holds, for at most five seconds.
    async fn until(mut done: impl FnMut() -> bool) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("what the test waits for never happened");
    }

    #[tokio::test]
    async fn a_writer_on_its_own_thread_is_made_and_commits_there_and_ends_with_its_handles() {
        let threads = Arc::new(Mutex::new(Vec::new()));
        let writer = GroupCommit::start_on_own_thread({
            let threads = threads.clone();
            move || {
                ThreadNotes::note_thread(&threads);
                // Made on the writer's runtime: what it spawns runs there.
                tokio::spawn(async {});
                ThreadNotes { threads }
            }
        })
        .unwrap();

        assert_eq!(writer.submit(1).await.unwrap(), 2);
        assert_eq!(writer.submit_all(vec![2, 3]).await.unwrap(), [4, 6]);
        let on_writer_thread = Some("notes-writer".to_owned());
        assert!(
            threads
                .lock()
                .unwrap()
                .iter()
                .all(|name| *name == on_writer_thread),
            "made and committed on the writer's thread, not the caller's: {:?}",
            threads.lock().unwrap()
        );
        assert_ne!(std::thread::current().name(), Some("notes-writer"));

        drop(writer);
        // The thread owns the committer, so the notes' last other owner goes with it.
        until(|| Arc::strong_count(&threads) == 1).await;
    }

    #[tokio::test]
    async fn a_writer_on_its_own_thread_whose_commit_panicked_reads_as_stopped() {
        let writer = GroupCommit::start_on_own_thread(|| Panics).unwrap();
        assert!(matches!(
            writer.submit(1).await,
            Err(GroupCommitError::WriterStopped)
        ));
        until(|| writer.health() == WriterHealth::Stopped).await;
    }

    #[tokio::test]
    async fn the_writer_ends_when_every_handle_is_dropped() {
        let ledger = Ledger::new();
        let journal = ledger.journal.clone();
        let writer = GroupCommit::start(ledger);
        let other = writer.clone();

        drop(writer);
        assert_eq!(other.submit(1).await.unwrap(), 2, "one handle still writes");
        drop(other);

        // The task owns the committer, so the journal's last other owner goes with it.
        wait_until(|| Arc::strong_count(&journal) == 1).await;
    }
}
