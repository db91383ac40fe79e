//! Deriving the stored events again from their kept originals: after an upgrade (a better
//! parser, stricter redaction rules) or a change of PII policy or tool rules, every stored
//! event's original goes through the write path's pure half again, and what differs from what
//! is stored is replaced (`ltiscope_store::Store::rederive`), window by window of event time.

use crate::Pipeline;
use ltiscope_model::Timestamp;
use ltiscope_redact::{Redacted, StoredEvent};
use ltiscope_store::{RederiveOutcome, Store, StoreError, StoredOriginal};

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
/// in all) after each window.
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
    for (from, to, n) in windows(&hours, WINDOW_EVENTS) {
        // A window never reaches past the range asked for.
        let from = options.from.map_or(from, |f| f.max(from));
        let to = options.to.map_or(to, |t| t.min(to));
        outcome += store.rederive(from, to, options.dry_run, &mut |originals| {
            derive_all(pipeline, originals)
        })?;
        done += n;
        progress(done, total);
    }
    Ok(outcome)
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

/// Derives every original again, on as many threads as there are cores.
fn derive_all(
    pipeline: &Pipeline,
    originals: &[StoredOriginal],
) -> Vec<Result<Redacted<StoredEvent>, String>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = originals.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = originals
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|o| derive_one(pipeline, o))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| {
                p.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// One stored original through parse, normalise and redaction again, held to the source it
/// was stored as and stamped with the time it was received.
fn derive_one(pipeline: &Pipeline, o: &StoredOriginal) -> Result<Redacted<StoredEvent>, String> {
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
