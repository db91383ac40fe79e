//! The single writer: one thread owns the store (DuckDB is synchronous and single-writer) and
//! commits requests in groups. A request is acknowledged only after the transaction holding it
//! committed, so a 2xx always means durably stored; grouping the requests that arrive within a
//! short window into one transaction keeps that durability cheap under load.
//!
//! On DuckDB the groups commit into the store's inbox and a mover thread copies them into the
//! main tables behind the writer (`ltiscope_store::InboxMover`), so no acknowledgement waits
//! for a checkpoint of the big tables. Reads that must see every acknowledged event first wait
//! for the mover ([`Writer::settled`]).
//!
//! The queue in front of it is bounded: when it is full, callers get [`Overloaded`] at once
//! (the HTTP layer answers 503 with `Retry-After`) instead of memory growing without bound.

use crate::metrics::Metrics;
use ltiscope_store::{Store, WriteBatch, WriteOutcome};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The queue is full: try again later.
#[derive(Debug, Clone, Copy)]
pub struct Overloaded;

/// The writer stopped (the store failed or the server is shutting down).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the store is not accepting writes: {0}")]
pub struct WriteFailed(pub String);

struct Job {
    batch: WriteBatch,
    reply: oneshot::Sender<Result<WriteOutcome, WriteFailed>>,
}

/// A handle to submit batches to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: SyncSender<Job>,
    metrics: Arc<Metrics>,
    alive: Arc<AtomicBool>,
    /// How far the inbox mover got, when writes go through an inbox.
    progress: Option<Arc<Progress>>,
}

/// The inbox groups committed and moved, and the mover's wake-up call.
struct Progress {
    committed: AtomicI64,
    moved: tokio::sync::watch::Sender<i64>,
    /// Set (under the lock) when there is something to move or the writer stopped.
    wake: Mutex<Wake>,
    bell: Condvar,
}

#[derive(Default)]
struct Wake {
    pending: bool,
    stopping: bool,
}

impl Progress {
    fn ring(&self, stop: bool) {
        if let Ok(mut w) = self.wake.lock() {
            w.pending = true;
            w.stopping |= stop;
        }
        self.bell.notify_one();
    }
}

/// The least time between two moves: under load a move takes what arrived meanwhile, so the
/// main database sees fewer, larger transactions.
const MOVE_EVERY: Duration = Duration::from_millis(50);

/// How long a read waits for the mover at most before it reads what is there.
const SETTLE_WAIT: Duration = Duration::from_secs(10);

/// Group-commit tuning.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Requests waiting at most (the bounded queue).
    pub queue: usize,
    /// How long to gather more requests after the first before committing.
    pub window: Duration,
    /// Commit early once a group holds this many events.
    pub max_group_events: usize,
}

impl Writer {
    /// Starts the writer thread (and, on DuckDB, the inbox mover); it stops when every
    /// handle is dropped, after committing what was queued and moving what was committed
    /// (graceful shutdown drains). Returns the handle and the thread to join.
    pub fn spawn(
        mut store: Store,
        config: WriterConfig,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(Writer, std::thread::JoinHandle<Store>)> {
        let mover = store
            .ingest_through_inbox()
            .map_err(|e| std::io::Error::other(format!("cannot open the store's inbox: {e}")))?;
        let progress = mover.as_ref().map(|_| {
            let seq = store.inbox_seq().unwrap_or(0);
            Arc::new(Progress {
                committed: AtomicI64::new(seq),
                moved: tokio::sync::watch::Sender::new(seq),
                wake: Mutex::new(Wake::default()),
                bell: Condvar::new(),
            })
        });
        let mover = match (mover, &progress) {
            (Some(mover), Some(p)) => {
                let (p, m) = (Arc::clone(p), Arc::clone(&metrics));
                Some(
                    std::thread::Builder::new()
                        .name("ltiscope-inbox".into())
                        .spawn(move || run_mover(mover, &p, &m))?,
                )
            }
            _ => None,
        };
        let (tx, rx) = sync_channel(config.queue.max(1));
        let m = Arc::clone(&metrics);
        let alive = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&alive);
        let p = progress.clone();
        let handle = std::thread::Builder::new()
            .name("ltiscope-writer".into())
            .spawn(move || {
                let store = run(store, rx, config, &m, p.as_deref());
                flag.store(false, Ordering::SeqCst);
                if let (Some(p), Some(mover)) = (p, mover) {
                    p.ring(true);
                    if mover.join().is_err() {
                        tracing::error!("the inbox mover panicked; the next start moves the rest");
                    }
                }
                store
            })?;
        Ok((
            Writer {
                tx,
                metrics,
                alive,
                progress,
            },
            handle,
        ))
    }

    /// Waits until every batch acknowledged before the call is in the main tables (at most
    /// ten seconds; then the read goes ahead with what is there). At once without an inbox.
    pub async fn settled(&self) {
        let Some(p) = &self.progress else {
            return;
        };
        let target = p.committed.load(Ordering::SeqCst);
        let mut moved = p.moved.subscribe();
        let _ = tokio::time::timeout(SETTLE_WAIT, moved.wait_for(|m| *m >= target)).await;
    }

    /// False once the writer thread has stopped.
    pub fn is_running(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Queues a batch; the receiver resolves once it is committed (or failed).
    pub fn submit(
        &self,
        batch: WriteBatch,
    ) -> Result<oneshot::Receiver<Result<WriteOutcome, WriteFailed>>, Overloaded> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job { batch, reply }) {
            Ok(()) => {
                self.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
                Ok(rx)
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => Err(Overloaded),
        }
    }
}

fn run(
    mut store: Store,
    rx: Receiver<Job>,
    config: WriterConfig,
    metrics: &Metrics,
    progress: Option<&Progress>,
) -> Store {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        let mut events = group[0].batch.events.len();
        let deadline = Instant::now() + config.window;
        while events < config.max_group_events {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(job) => {
                    events += job.batch.events.len();
                    group.push(job);
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        metrics
            .queue_depth
            .fetch_sub(group.len() as i64, Ordering::Relaxed);
        let started = Instant::now();
        let batches: Vec<&WriteBatch> = group.iter().map(|j| &j.batch).collect();
        let result = store.write_many(&batches);
        metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(outcomes) => {
                if let (Some(p), Some(seq)) = (progress, store.inbox_seq()) {
                    p.committed.store(seq, Ordering::SeqCst);
                    p.ring(false);
                }
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    metrics.record_outcome(&job.batch, &outcome, progress.is_none());
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = group.len(), "commit failed; requests answered 503");
                let msg = e.to_string();
                for job in group {
                    let _ = job.reply.send(Err(WriteFailed(msg.clone())));
                }
            }
        }
    }
    store
}

/// The inbox mover: after each commit (at most every [`MOVE_EVERY`]), turns the writer to the
/// other inbox and moves the one it left into the main tables, until everything committed is
/// moved; when the writer stops, moves the rest and returns.
fn run_mover(mut mover: ltiscope_store::InboxMover, p: &Progress, metrics: &Metrics) {
    let mut failures_while_stopping = 0;
    loop {
        let stopping = {
            let Ok(mut w) = p.wake.lock() else {
                return;
            };
            while !w.pending {
                w = match p.bell.wait(w) {
                    Ok(w) => w,
                    Err(_) => return,
                };
            }
            w.pending = false;
            w.stopping
        };
        let started = Instant::now();
        match mover.move_committed() {
            Ok(moved) => {
                metrics.record_moved(&moved);
                p.moved.send_replace(moved.seq);
                let committed = p.committed.load(Ordering::SeqCst);
                if moved.seq >= committed && stopping {
                    return;
                }
                if moved.seq < committed {
                    // More waits in the inbox the writer turned to.
                    p.ring(false);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "moving the inbox into the database failed; retrying in a second");
                if stopping {
                    failures_while_stopping += 1;
                    if failures_while_stopping >= 3 {
                        // Acknowledged groups stay in the inbox file; opening the database
                        // moves them.
                        tracing::error!(
                            "stopping with groups left in the inbox; the next start moves them"
                        );
                        return;
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
                p.ring(false);
            }
        }
        if stopping {
            p.ring(true);
        } else if let Some(rest) = MOVE_EVERY.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}
