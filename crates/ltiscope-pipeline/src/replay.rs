//! Quarantine replay: quarantined bodies go through the current parser again; those that now
//! parse cleanly are stored (idempotently) and marked replayed, the others stay waiting.

use crate::Pipeline;
use ltiscope_model::Timestamp;
use ltiscope_store::{Store, StoreError, WriteOutcome};

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Items looked at.
    pub examined: u64,
    /// Items that now parse and were stored.
    pub recovered: u64,
    /// Items that still fail and stay in quarantine.
    pub still_failing: u64,
    /// What storing the recovered items did.
    pub stored: WriteOutcome,
}

/// Which items a replay takes, and how it parses them.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplayOptions<'a> {
    /// Only the items with this reason code; every waiting item when `None`.
    pub reason: Option<&'a str>,
    /// Tell each item's source from its body, as an import without `--source` does, instead
    /// of parsing it as the source it was received as. This is what an item quarantined as
    /// `source_mismatch` needs once an administrator has checked where it really came from
    /// (a file imported with the wrong `--source`); it is never the default, since the
    /// source an endpoint gives is what its ingest key vouches for.
    pub detect_source: bool,
}

/// Replays every waiting quarantined item that `options` selects.
pub fn replay_quarantine(
    store: &mut Store,
    pipeline: &Pipeline,
    options: ReplayOptions<'_>,
    now: Timestamp,
) -> Result<ReplaySummary, StoreError> {
    let mut summary = ReplaySummary::default();
    let items = store.quarantine_list(options.reason, usize::MAX >> 1)?;
    let mut recovered = Vec::new();
    for item in items {
        summary.examined += 1;
        let origin = format!("replay of quarantine #{} ({})", item.id, item.origin);
        let source = if options.detect_source {
            None
        } else {
            item.source
        };
        let mut batch = pipeline.prepare(item.body.as_bytes(), source, item.received_at, &origin);
        if batch.rejected.is_empty() && !batch.events.is_empty() {
            batch.received_at = Some(now);
            summary.stored += store.write(&batch)?;
            summary.recovered += 1;
            recovered.push(item.id);
        } else {
            summary.still_failing += 1;
        }
    }
    store.quarantine_mark_replayed(&recovered, now)?;
    Ok(summary)
}
