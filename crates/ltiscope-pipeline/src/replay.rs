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

/// Replays every waiting quarantined item (optionally only those with one reason code).
pub fn replay_quarantine(
    store: &mut Store,
    pipeline: &Pipeline,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<ReplaySummary, StoreError> {
    let mut summary = ReplaySummary::default();
    let items = store.quarantine_list(reason, usize::MAX >> 1)?;
    let mut recovered = Vec::new();
    for item in items {
        summary.examined += 1;
        let origin = format!("replay of quarantine #{} ({})", item.id, item.origin);
        let mut batch =
            pipeline.prepare(item.body.as_bytes(), item.source, item.received_at, &origin);
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
