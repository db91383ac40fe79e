//! The canonical model of ltiscope: one [`LaunchRecord`] per LTI launch, return or use, whatever
//! platform sent it, plus the small vocabulary types it is made of.
//!
//! This crate does no IO and knows no wire format: it has no serde derives on purpose, so that a
//! change to what Blackboard or Brightspace send can never silently change what we store or
//! report. Parsers in `ltiscope-ingest` build these values by hand; the store maps them to rows.

mod record;
mod roles;
mod source;

pub use record::{
    Action, CourseRef, EventMeta, LaunchRecord, LtiVersion, ToolIdentity, ToolMatch, ToolRef,
    UserRef,
};
pub use roles::{RoleBucket, Roles};
pub use source::Source;

/// A point in time, always UTC. Platforms send offsets (`Z`, `+00:00`, `+0000`); parsers convert.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// The first moment of a local day in `tz`: its midnight, or where daylight saving skips
/// midnight (Havana, Santiago) its first valid local time. What a date means everywhere: a
/// report's `--from`/`--to` date, a rollup's day, a retention cutoff.
pub fn day_start<Z: chrono::TimeZone>(tz: &Z, day: chrono::NaiveDate) -> Timestamp {
    (0..24)
        .find_map(|h| {
            day.and_hms_opt(h, 0, 0)
                .and_then(|t| tz.from_local_datetime(&t).earliest())
        })
        .map_or_else(
            || day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
            |t| t.with_timezone(&chrono::Utc),
        )
}

pub mod report;
