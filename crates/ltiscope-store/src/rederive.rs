//! Deriving stored events again from their kept originals: what a newer parser, stricter
//! redaction rules, another PII policy or other tool rules would have stored, compared with
//! what is stored, and, where they differ, written in its place.
//!
//! The work goes window by window of event time (one transaction each): the window's events
//! and launch records are read, each original is derived again by the caller (parse,
//! normalise, redact: the write path's pure half), and every event whose stored row or launch
//! record differs from its new form is replaced, with the hours of the old and new records
//! marked for the rollups. An event whose original no longer parses, or whose identity (source,
//! tenant, event id) or event time would change, is left as stored and counted: its key decides
//! idempotency and its time where it is kept, so it is never moved silently. (An event id made
//! from the content of an event sent without one is of the content as received, not of the
//! scrubbed original: the stored one stays.)

use crate::rollup::{self, Db};
use crate::sql::{Arg, RowRead, fingerprint_in, from_micros, set_fingerprint};
use crate::write::{LAUNCH_SPEC, Stored, Val, event_row, launch_row};
use crate::{StoreError, keys};
use ltiscope_ingest::{EventKind, is_content_id};
use ltiscope_model::{Source, Timestamp};
use ltiscope_redact::{Redacted, StoredEvent};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// A stored event's original, as a re-derive parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOriginal {
    /// The source it was stored as (the parse is held to it).
    pub source: Source,
    /// When it was received (its records keep this time).
    pub received_at: Timestamp,
    /// The kept original: scrubbed JSON.
    pub body: String,
}

/// What deriving the stored events again found and (unless a dry run) changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RederiveOutcome {
    /// Stored events looked at.
    pub examined: u64,
    /// Events whose new form differs from the stored one: replaced (or, on a dry run, would be).
    pub changed: u64,
    /// Of those, events whose kept original changed (redaction removed more).
    pub originals: u64,
    /// Of those, events whose launch record changed, appeared or went away.
    pub records: u64,
    /// Changed launch records by column (`record added` / `record removed` when an event
    /// became or stopped being a launch).
    pub columns: BTreeMap<&'static str, u64>,
    /// Events left as stored because their original no longer parses.
    pub unparsed: u64,
    /// Events left as stored because their identity or event time would change.
    pub moved: u64,
    /// A few of the reasons behind `unparsed` and `moved`, for the summary.
    pub examples: Vec<String>,
}

/// How many examples an outcome keeps.
const EXAMPLES: usize = 5;

impl std::ops::AddAssign for RederiveOutcome {
    fn add_assign(&mut self, o: RederiveOutcome) {
        self.examined += o.examined;
        self.changed += o.changed;
        self.originals += o.originals;
        self.records += o.records;
        for (c, n) in o.columns {
            *self.columns.entry(c).or_default() += n;
        }
        self.unparsed += o.unparsed;
        self.moved += o.moved;
        for e in o.examples {
            if self.examples.len() < EXAMPLES {
                self.examples.push(e);
            }
        }
    }
}

/// What derives stored originals again, as a window's events are read: `submit` hands over
/// each chunk as it is read (the work may start at once, on other threads, while the reading
/// goes on), `finish` returns one result per original submitted since the last `finish`, in
/// order. An error is why an original no longer parses.
pub trait Derive {
    /// Takes the next chunk of originals to derive.
    fn submit(&mut self, originals: Arc<Vec<StoredOriginal>>);
    /// The results of every original submitted since the last call, in order.
    fn finish(&mut self) -> Vec<Result<Redacted<StoredEvent>, String>>;
}

/// How many originals go to [`Derive::submit`] at a time.
const CHUNK: usize = 512;

/// Whether the stored events were derived by `fingerprint` (the write path's, see
/// `ltiscope_pipeline::Pipeline::derivation_fingerprint`): a database holding no event yet
/// takes it and is; one without any (events an earlier ltiscope stored) is not.
pub(crate) fn derived_alike(db: &mut dyn Db, fingerprint: &str) -> Result<bool, StoreError> {
    if derived_by_stored(db)?.as_deref() == Some(fingerprint) {
        return Ok(true);
    }
    let mut any = true;
    db.each("SELECT EXISTS (SELECT 1 FROM events)", &[], &mut |r| {
        any = r.boolean(0)?.unwrap_or(true);
        Ok(())
    })?;
    if !any {
        derived_by(db, fingerprint)?;
    }
    Ok(!any)
}

/// The fingerprint recorded for the stored events, if any.
pub(crate) fn derived_by_stored(db: &mut dyn Db) -> Result<Option<String>, StoreError> {
    fingerprint_in(db, "derivation")
}

/// Records that the stored events are derived by `fingerprint` (after a re-derive of them all).
pub(crate) fn derived_by(db: &mut dyn Db, fingerprint: &str) -> Result<(), StoreError> {
    set_fingerprint(db, "derivation", fingerprint)
}

/// Stored events per UTC hour of event time, the hours in order, within `[from, to)`.
pub(crate) fn hours(
    db: &mut dyn Db,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<Vec<(Timestamp, u64)>, StoreError> {
    let hour = db.dialect().epoch_us("date_trunc('hour', event_time)");
    let (cond, args) = window(from, to);
    let mut out = Vec::new();
    db.each(
        &format!(
            "SELECT {hour} AS h, count(*) FROM events WHERE TRUE {cond} GROUP BY h ORDER BY h"
        ),
        &args,
        &mut |r| {
            let h = r.int(0)?.unwrap_or(0);
            let n = r.int(1)?.unwrap_or(0);
            out.push((from_micros(h), n as u64));
            Ok(())
        },
    )?;
    Ok(out)
}

/// The condition and arguments of an event-time window.
fn window(from: Option<Timestamp>, to: Option<Timestamp>) -> (String, Vec<Arg>) {
    let mut cond = String::new();
    let mut args = Vec::new();
    if let Some(f) = from {
        cond.push_str(" AND event_time >= ?");
        args.push(Arg::Time(f));
    }
    if let Some(t) = to {
        cond.push_str(" AND event_time < ?");
        args.push(Arg::Time(t));
    }
    (cond, args)
}

/// One stored event of the window.
struct StoredRow {
    key: i128,
    tenant: String,
    event_id: String,
    kind: String,
    event_type: String,
    action: String,
    event_time_us: i64,
}

impl StoredRow {
    /// The event as people know it: source / tenant / event id at its event time.
    fn identity(&self, source: Source) -> String {
        format!(
            "{} / {} / {} at {}",
            source,
            self.tenant,
            self.event_id,
            from_micros(self.event_time_us).to_rfc3339()
        )
    }
}

/// Derives the stored events of `[from, to)` again and, unless `dry_run`, replaces those
/// that differ, in the caller's transaction.
pub(crate) fn rederive_window(
    db: &mut dyn Db,
    from: Timestamp,
    to: Timestamp,
    dry_run: bool,
    derive: &mut dyn Derive,
) -> Result<RederiveOutcome, StoreError> {
    let (cond, args) = window(Some(from), Some(to));
    let dialect = db.dialect();
    let us = |c: &str| dialect.epoch_us(c);
    let mut rows = Vec::new();
    // The originals in the chunks handed to `derive` as they were read.
    let mut chunks: Vec<Arc<Vec<StoredOriginal>>> = Vec::new();
    let mut chunk = Vec::with_capacity(CHUNK);
    db.each(
        &format!(
            "SELECT source, tenant, event_id, kind, event_type, action, {}, {}, body
             FROM events WHERE TRUE {cond}",
            us("event_time"),
            us("received_at")
        ),
        &args,
        &mut |r| {
            let source = text(r, 0)?;
            let (tenant, event_id) = (text(r, 1)?, text(r, 2)?);
            let source: Source = source
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("unknown source {source:?} in events")))?;
            rows.push(StoredRow {
                key: keys::key_of(source, &tenant, &event_id),
                tenant,
                event_id,
                kind: text(r, 3)?,
                event_type: text(r, 4)?,
                action: text(r, 5)?,
                event_time_us: r.int(6)?.unwrap_or(0),
            });
            chunk.push(StoredOriginal {
                source,
                received_at: from_micros(r.int(7)?.unwrap_or(0)),
                body: text(r, 8)?,
            });
            if chunk.len() == CHUNK {
                let full = Arc::new(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)));
                derive.submit(Arc::clone(&full));
                chunks.push(full);
            }
            Ok(())
        },
    )?;
    if !chunk.is_empty() {
        let last = Arc::new(chunk);
        derive.submit(Arc::clone(&last));
        chunks.push(last);
    }
    let mut records: HashMap<i128, Vec<Stored>> = HashMap::new();
    let columns: Vec<String> = LAUNCH_SPEC
        .iter()
        .map(|(name, kind)| match kind {
            Stored::Time(_) => us(name),
            _ => (*name).to_owned(),
        })
        .collect();
    db.each(
        &format!(
            "SELECT {} FROM launches WHERE TRUE {cond}",
            columns[1..].join(", ")
        ),
        &args,
        &mut |r| {
            let mut row = vec![Stored::Key]; // matched by, not read
            for (i, (_, kind)) in LAUNCH_SPEC.iter().enumerate().skip(1) {
                row.push(kind.read(r, i - 1)?);
            }
            let (Stored::Text(Some(s)), Stored::Text(Some(t)), Stored::Text(Some(e))) =
                (&row[1], &row[2], &row[3])
            else {
                return Err(StoreError::Corrupt(
                    "a launch record without identity".into(),
                ));
            };
            let source: Source = s
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("unknown source {s:?} in launches")))?;
            records.insert(keys::key_of(source, t, e), row);
            Ok(())
        },
    )?;

    // The launch records were read while `derive` worked.
    let derived = derive.finish();
    let originals = chunks.iter().flat_map(|c| c.iter());
    let mut out = RederiveOutcome {
        examined: rows.len() as u64,
        ..RederiveOutcome::default()
    };
    // (key, stored event id, new form) of the events to replace.
    let mut replaced: Vec<(i128, String, Redacted<StoredEvent>)> = Vec::new();
    // The courses (their hashes, which are of tenant and course) replaced records leave.
    let mut left: BTreeSet<i64> = BTreeSet::new();
    for ((row, original), new) in rows.iter().zip(originals).zip(derived) {
        let new = match new {
            Ok(new) => new,
            Err(reason) => {
                out.unparsed += 1;
                out.example(|| {
                    format!(
                        "{}: no longer parses: {reason}",
                        row.identity(original.source)
                    )
                });
                continue;
            }
        };
        let e = new.get();
        let meta = e.meta();
        // An id made from the content is of the content as received, which the kept
        // original no longer is (scrubbed): the stored one stays.
        let same_id = meta.event_id == row.event_id
            || (is_content_id(&meta.event_id) && is_content_id(&row.event_id));
        if meta.source != original.source
            || meta.tenant != row.tenant
            || !same_id
            || meta.event_time.timestamp_micros() != row.event_time_us
        {
            out.moved += 1;
            out.example(|| {
                format!(
                    "{}: would become {} / {} / {} at {}",
                    row.identity(original.source),
                    meta.source,
                    meta.tenant,
                    meta.event_id,
                    meta.event_time.to_rfc3339()
                )
            });
            continue;
        }
        let (new_event, new_launch) = rows_of(row.key, &row.event_id, e);
        let event_same = matches!(&new_event[4], Val::Text(Some(k)) if *k == row.kind)
            && matches!(&new_event[5], Val::Text(Some(t)) if *t == row.event_type)
            && matches!(&new_event[6], Val::Text(Some(a)) if *a == row.action);
        let body_same = e.body == original.body;
        let stored_record = records.get(&row.key);
        let record_same = match (&new_launch, stored_record) {
            (Some(new_row), Some(old)) => {
                let mut same = true;
                for (i, (v, o)) in new_row.iter().zip(old).enumerate().skip(1) {
                    if !o.same(v) {
                        same = false;
                        *out.columns.entry(LAUNCH_SPEC[i].0).or_default() += 1;
                    }
                }
                same
            }
            (Some(_), None) => {
                *out.columns.entry("record added").or_default() += 1;
                false
            }
            (None, Some(_)) => {
                *out.columns.entry("record removed").or_default() += 1;
                false
            }
            (None, None) => true,
        };
        if event_same && body_same && record_same {
            continue;
        }
        out.changed += 1;
        out.originals += u64::from(!body_same);
        out.records += u64::from(!record_same);
        // A launch leaving its course: the course's rollup rows are rebuilt (`replace`).
        if let Some(Stored::Int(Some(course))) = stored_record.map(|old| &old[COL_COURSE])
            && !new_launch
                .as_ref()
                .is_some_and(|l| matches!(l[COL_COURSE], Val::Int(Some(c)) if c == *course))
        {
            left.insert(*course);
        }
        replaced.push((row.key, row.event_id.clone(), new));
    }
    if !dry_run && !replaced.is_empty() {
        replace(db, &cond, &args, &replaced, &left)?;
    }
    Ok(out)
}

/// Replaces the stored rows of these events (same keys, same window) by their new forms, the
/// hours of the old and the new launch records marked for the rollups.
///
/// The course rollup rewrites, for the days a refresh recomputes, only the rows of courses
/// that have launches on them (`rollup/courses.rs`): a course that `left` names (one a
/// replaced launch record no longer counts towards) may have none left there, so its rows are
/// dropped and every hour with its launches marked, and the refresh builds them again whole.
fn replace(
    db: &mut dyn Db,
    cond: &str,
    args: &[Arg],
    replaced: &[(i128, String, Redacted<StoredEvent>)],
    left: &BTreeSet<i64>,
) -> Result<(), StoreError> {
    db.exec(
        "CREATE TEMP TABLE IF NOT EXISTS rederive_keys AS SELECT event_key FROM events LIMIT 0",
        &[],
    )?;
    db.exec("DELETE FROM rederive_keys", &[])?;
    let keys: Vec<Vec<Val<'_>>> = replaced
        .iter()
        .map(|(k, _, _)| vec![Val::Key(*k)])
        .collect();
    db.append("rederive_keys", &keys)?;
    let these = format!("{cond} AND event_key IN (SELECT event_key FROM rederive_keys)");
    rollup::mark_where(db, &these, args)?;
    db.exec(&format!("DELETE FROM launches WHERE TRUE {these}"), args)?;
    db.exec(&format!("DELETE FROM events WHERE TRUE {these}"), args)?;
    let (events, launches): (Vec<_>, Vec<_>) = replaced
        .iter()
        .map(|(k, id, e)| rows_of(*k, id, e.get()))
        .unzip();
    db.append("events", &events)?;
    db.append(
        "launches",
        &launches.into_iter().flatten().collect::<Vec<_>>(),
    )?;
    rollup::mark_where(db, &these, args)?;
    if !left.is_empty() {
        db.exec(
            "CREATE TEMP TABLE IF NOT EXISTS rederive_courses AS
             SELECT course_hash FROM launches LIMIT 0",
            &[],
        )?;
        db.exec("DELETE FROM rederive_courses", &[])?;
        let rows: Vec<Vec<Val<'_>>> = left.iter().map(|c| vec![Val::Int(Some(*c))]).collect();
        db.append("rederive_courses", &rows)?;
        for table in rollup::COURSE_TABLES {
            db.exec(
                &format!(
                    "DELETE FROM {table} WHERE course_no IN
                     (SELECT r.n FROM rollup_courses r JOIN rederive_courses c
                      ON c.course_hash = r.course_hash)"
                ),
                &[],
            )?;
        }
        rollup::mark_where(
            db,
            "AND course_hash IN (SELECT course_hash FROM rederive_courses)",
            &[],
        )?;
    }
    Ok(())
}

/// The `events` row and (for a launch, return or use) the `launches` row of a re-derived
/// event, under its stored key and event id.
fn rows_of<'a>(
    key: i128,
    event_id: &'a str,
    e: &'a StoredEvent,
) -> (Vec<Val<'a>>, Option<Vec<Val<'a>>>) {
    let mut event = event_row(key, e).to_vec();
    event[COL_EVENT_ID] = Val::Text(Some(event_id));
    let launch = match &e.kind {
        EventKind::Launch(r) => {
            let mut row = launch_row(key, r).to_vec();
            row[COL_EVENT_ID] = Val::Text(Some(event_id));
            Some(row)
        }
        _ => None,
    };
    (event, launch)
}

/// Positions in [`LAUNCH_SPEC`] a re-derive reads on their own; the event id is at the same
/// place in an `events` row.
const COL_EVENT_ID: usize = 3;
const COL_COURSE: usize = 15;

impl RederiveOutcome {
    fn example(&mut self, e: impl FnOnce() -> String) {
        if self.examples.len() < EXAMPLES {
            self.examples.push(e());
        }
    }
}

fn text(r: &dyn RowRead, i: usize) -> Result<String, StoreError> {
    Ok(r.text(i)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::EVENT_SPEC;
    use crate::write::LAUNCH_COLUMNS;

    #[test]
    fn the_columns_read_on_their_own_are_where_the_spec_says() {
        assert_eq!(LAUNCH_SPEC.len(), LAUNCH_COLUMNS);
        assert_eq!(LAUNCH_SPEC[COL_COURSE].0, "course_hash");
        assert_eq!(LAUNCH_SPEC[COL_EVENT_ID].0, "event_id");
        assert_eq!(EVENT_SPEC[COL_EVENT_ID].0, "event_id");
    }
}
