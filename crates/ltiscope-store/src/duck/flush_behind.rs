//! Writing the database file back to disk behind a streaming write, off the writer's thread.
//!
//! DuckDB syncs the database file at every commit. A bulk import's commit comes after a
//! quarter of a million events, whose row groups are by then written to the file but still
//! only in the kernel's cache (it starts writing dirty pages back on its own only at a tenth
//! of available memory or after 30 s), so each commit's sync waited for ~100 MB to reach the
//! disk: 1.0 s of a million-event import's writer thread, on its critical path (`strace -f -e
//! fsync -T`). A
//! helper thread now syncs the file every [`EVERY`] while the stream runs, so that the pages
//! are mostly on disk when the commit asks. Syncing more often than needed is never wrong;
//! the commit's own sync is still what makes a transaction durable.

use std::fs::File;
use std::sync::mpsc;
use std::time::Duration;

/// How often the helper syncs the file.
const EVERY: Duration = Duration::from_millis(500);

/// The helper, syncing the file until this is dropped: dropping the sender wakes the helper,
/// which then ends (the scope joins it).
pub(super) struct FlushBehind(#[allow(dead_code)] mpsc::Sender<()>);

/// Starts the helper within `scope`, syncing `file` every [`EVERY`]. A sync that fails is left
/// to the commit's own, which reports it.
pub(super) fn start<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    file: File,
) -> FlushBehind {
    every(scope, EVERY, move || file.sync_data())
}

/// Runs `sync` every `period` on a thread of `scope` until the helper is dropped or a sync
/// fails.
fn every<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    period: Duration,
    mut sync: impl FnMut() -> std::io::Result<()> + Send + 'scope,
) -> FlushBehind {
    let (stop, stopped) = mpsc::channel::<()>();
    // A helper the system would not start leaves the commits to sync as before: only slower.
    let _ = std::thread::Builder::new()
        .name("flush-behind".to_owned())
        .spawn_scoped(scope, move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                if sync().is_err() {
                    return;
                }
            }
        });
    FlushBehind(stop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    #[test]
    fn syncs_while_held_and_stops_when_dropped() {
        let syncs = AtomicUsize::new(0);
        // Set once the test has looked, so that a helper that did not stop ends all the same
        // (with a failed sync) and the test fails instead of hanging in the scope's join.
        let over = AtomicBool::new(false);
        let went_on = std::thread::scope(|scope| {
            let helper = every(scope, Duration::from_millis(10), || {
                syncs.fetch_add(1, Ordering::SeqCst);
                match over.load(Ordering::SeqCst) {
                    false => Ok(()),
                    true => Err(std::io::Error::other("the test is over")),
                }
            });
            while syncs.load(Ordering::SeqCst) < 3 {
                std::thread::sleep(Duration::from_millis(5));
            }
            drop(helper);
            // At most the sync under way when it was dropped follows; a helper that went on
            // would sync ten more times meanwhile.
            let dropped = syncs.load(Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            let went_on = syncs.load(Ordering::SeqCst) > dropped + 1;
            over.store(true, Ordering::SeqCst);
            went_on
        });
        assert!(!went_on, "the helper went on syncing after it was dropped");
        assert!(syncs.load(Ordering::SeqCst) >= 3);
    }

    #[test]
    fn a_failed_sync_ends_the_helper() {
        let syncs = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let _helper = every(scope, Duration::from_millis(5), || {
                syncs.fetch_add(1, Ordering::SeqCst);
                Err(std::io::Error::other("disk gone"))
            });
            std::thread::sleep(Duration::from_millis(100));
        });
        assert_eq!(syncs.load(Ordering::SeqCst), 1);
    }
}
