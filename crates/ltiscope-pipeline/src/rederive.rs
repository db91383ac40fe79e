//! Deriving the stored events again from their kept originals: after an upgrade (a better
//! parser, stricter redaction rules) or a change of PII policy or tool rules, every stored
//! event's original goes through the write path's pure half again, and what differs from what
//! is stored is replaced (`ltiscope_store::Store::rederive`), window by window of event time.

use crate::Pipeline;
use ltiscope_model::Timestamp;
use ltiscope_redact::{Redacted, StoredEvent};
use ltiscope_store::{Derive, RederiveOutcome, Store, StoreError, StoredOriginal};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, mpsc};

/// Which events a re-derive takes, and whether it changes anything.
#[derive(Debug, Default, Clone, Copy)]
pub struct RederiveOptions {
    /// From this event time on (inclusive); every stored event when `None`.
    pub from: Option<Timestamp>,
    /// Up to this event time (exclusive).
    pub to: Option<Timestamp>,
    /// Say what would change, change nothing.
    pub dry_run: bool,
}

/// About how many events one window (one transaction, held in memory at once) takes: whole
/// UTC hours of event time are put together up to this; a busier hour is a window alone.
const WINDOW_EVENTS: u64 = 8_192;

/// Derives every stored event `options` selects again; `progress` hears (events done, events
/// in all) after each window. The originals are derived on a worker per core while the store
/// goes on reading the window.
pub fn rederive(
    store: &mut Store,
    pipeline: &Pipeline,
    options: RederiveOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RederiveOutcome, StoreError> {
    let hours = store.stored_hours(options.from, options.to)?;
    let total = hours.iter().map(|(_, n)| n).sum();
    let mut outcome = RederiveOutcome::default();
    let mut done = 0;
    progress(0, total);
    std::thread::scope(|s| {
        let mut pool = Pool::start(s, pipeline);
        for (from, to, n) in windows(&hours, WINDOW_EVENTS) {
            // A window never reaches past the range asked for.
            let from = options.from.map_or(from, |f| f.max(from));
            let to = options.to.map_or(to, |t| t.min(to));
            outcome += store.rederive(from, to, options.dry_run, &mut pool)?;
            done += n;
            progress(done, total);
        }
        Ok(outcome)
    })
}

/// The results of one submitted chunk.
type Derived = Vec<Result<Redacted<StoredEvent>, String>>;

/// Workers deriving submitted chunks; their results come back numbered, and are put in order.
struct Pool {
    jobs: mpsc::Sender<(u64, Arc<Vec<StoredOriginal>>)>,
    results: mpsc::Receiver<(u64, Derived)>,
    /// Chunks submitted, and the first not yet finished.
    submitted: u64,
    finished: u64,
}

impl Pool {
    /// A worker per core, until the pool is dropped; as in an import, those beyond one per
    /// core beside the store's thread run at the lowest priority ([`crate::priority`]).
    fn start<'s>(s: &'s std::thread::Scope<'s, '_>, pipeline: &'s Pipeline) -> Pool {
        let (jobs, job_rx) = mpsc::channel::<(u64, Arc<Vec<StoredOriginal>>)>();
        let (result_tx, results) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        for worker in 0..workers {
            let (job_rx, result_tx) = (Arc::clone(&job_rx), result_tx.clone());
            s.spawn(move || {
                crate::priority::take_place(worker, workers);
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((n, originals)) = job else {
                        return; // the pool is gone
                    };
                    let derived = originals.iter().map(|o| derive_one(pipeline, o)).collect();
                    if result_tx.send((n, derived)).is_err() {
                        return;
                    }
                }
            });
        }
        Pool {
            jobs,
            results,
            submitted: 0,
            finished: 0,
        }
    }
}

impl Derive for Pool {
    fn submit(&mut self, originals: Arc<Vec<StoredOriginal>>) {
        // Workers outlive the pool, so the channel is open.
        let _ = self.jobs.send((self.submitted, originals));
        self.submitted += 1;
    }

    fn finish(&mut self) -> Derived {
        let mut by_number = BTreeMap::new();
        while (by_number.len() as u64) < self.submitted - self.finished {
            match self.results.recv() {
                Ok((n, derived)) => by_number.insert(n, derived),
                Err(_) => break,
            };
        }
        self.finished = self.submitted;
        by_number.into_values().flatten().collect()
    }
}

/// Windows `[from, to)` of whole hours holding about `limit` events each (an hour with more
/// is a window alone), and how many events each holds, from the events per hour in order.
fn windows(hours: &[(Timestamp, u64)], limit: u64) -> Vec<(Timestamp, Timestamp, u64)> {
    let hour = chrono::Duration::hours(1);
    let mut out: Vec<(Timestamp, Timestamp, u64)> = Vec::new();
    for &(h, n) in hours {
        match out.last_mut() {
            Some((_, to, m)) if *m + n <= limit => {
                *to = h + hour;
                *m += n;
            }
            _ => out.push((h, h + hour, n)),
        }
    }
    out
}

/// One stored original through parse, normalise and redaction again, held to the source it
/// was stored as and stamped with the time it was received.
fn derive_one(pipeline: &Pipeline, o: &StoredOriginal) -> Result<Redacted<StoredEvent>, String> {
    // A panic would leave its window waiting for a result: it is this event's failure instead
    // (parsing is fuzzed never to panic).
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| derive_parsed(pipeline, o)))
        .unwrap_or_else(
            |_| Err("deriving it panicked (a bug in ltiscope: please report it)".into()),
        )
}

fn derive_parsed(pipeline: &Pipeline, o: &StoredOriginal) -> Result<Redacted<StoredEvent>, String> {
    let mut batch = pipeline.prepare(o.body.as_bytes(), Some(o.source), o.received_at, "rederive");
    if let Some(r) = batch.rejected.first() {
        return Err(format!("{} ({})", r.get().reason, r.get().reason.code()));
    }
    match batch.events.len() {
        1 => batch.events.pop().ok_or_else(String::new),
        n => Err(format!("the original holds {n} events, not one")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(h * 3600, 0).unwrap_or_default()
    }

    #[test]
    fn windows_put_whole_hours_together_up_to_the_limit() {
        let hours = [
            (at(0), 4),
            (at(1), 5),
            (at(3), 1),
            (at(5), 2),
            (at(6), 30),
            (at(7), 1),
        ];
        assert_eq!(
            windows(&hours, 10),
            vec![
                // Hour 2 holds nothing, so it lies inside the first window.
                (at(0), at(4), 10),
                (at(5), at(6), 2),
                (at(6), at(7), 30),
                (at(7), at(8), 1),
            ]
        );
    }
}
