//! The single writer: one thread owns the store (DuckDB is synchronous and single-writer) and
//! commits requests in groups. A request is acknowledged only after the transaction holding it
//! committed, so a 2xx always means durably stored; grouping the requests that arrive within a
//! short window into one transaction keeps that durability cheap under load.
//!
//! The queue in front of it is bounded: when it is full, callers get [`Overloaded`] at once
//! (the HTTP layer answers 503 with `Retry-After`) instead of memory growing without bound.

use crate::metrics::Metrics;
use ltiscope_store::{Store, WriteBatch, WriteOutcome};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
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
}

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
    /// Starts the writer thread; it stops when every handle is dropped, after committing what
    /// was queued (graceful shutdown drains). Returns the handle and the thread to join.
    pub fn spawn(
        store: Store,
        config: WriterConfig,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(Writer, std::thread::JoinHandle<Store>)> {
        let (tx, rx) = sync_channel(config.queue.max(1));
        let m = Arc::clone(&metrics);
        let alive = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&alive);
        let handle = std::thread::Builder::new()
            .name("ltiscope-writer".into())
            .spawn(move || {
                let store = run(store, rx, config, &m);
                flag.store(false, Ordering::SeqCst);
                store
            })?;
        Ok((Writer { tx, metrics, alive }, handle))
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

fn run(mut store: Store, rx: Receiver<Job>, config: WriterConfig, metrics: &Metrics) -> Store {
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
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    metrics.record_outcome(&job.batch, &outcome);
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
