//! The inbox: where the collector's commits land on DuckDB, so an acknowledgement never waits
//! for a checkpoint.
//!
//! DuckDB checkpoints a database inside the commit that fills its write-ahead log, and while
//! it writes a table no other transaction may append to it (nor read the database): at 16
//! senders a checkpoint of the launch records held every waiting request for one to two
//! seconds. So the collector's writer commits each group of requests (`seq`, numbered) into
//! one of two small inbox databases beside the main file (`<db>.inbox0`, `<db>.inbox1`,
//! attached as `ltiscope_inbox0` and `ltiscope_inbox1`) with the shape of `events`, `launches`
//! and `quarantine` plus the group number — durable, acknowledged — and touches nothing else.
//! A mover on its own connection turns the writer to the other inbox, then copies every group
//! of the one it left into the main tables in one transaction, deciding there which events
//! are new (the primary key of `event_keys`) and writing the ingest log, the rollup marks and
//! the last group it moved (`inbox_state.moved_seq`, so a crash between the copy and the
//! clean-up never moves a group twice); then it empties that inbox and checkpoints it while
//! the writer is busy with the other one. Checkpoints of the main database run in the mover's
//! commits, of an inbox while no one writes to it: never in an acknowledgement's way.
//!
//! Opening the database moves whatever an earlier process left in the inboxes (before the
//! migrations, so the inboxes and the main tables still have the same shape), then drops the
//! inbox tables: every command sees every acknowledged event.
//!
//! It does not change what is stored: the same rows, the same first copy of each event, the
//! same duplicates counted in the ingest log. Only the moment duplicates are recognised moves:
//! a group's acknowledgement counts the repeats inside it; repeats of events already stored are
//! counted when the group is moved.

use super::chunks::Inserter;
use super::{DuckStore, Inserters};
use crate::write::{EVENT_SPEC, LAUNCH_SPEC, Plan, Stored, Val, event_row, launch_row};
use crate::{StoreError, WriteBatch, WriteOutcome, event_key};
use duckdb::{Connection, appender_params_from_iter, params};
use ltiscope_ingest::EventKind;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The two inboxes: their names when attached, and the suffix of their files (names no
/// database file of ours takes, since DuckDB names the main database after its file).
const INBOXES: [(&str, &str); 2] = [("ltiscope_inbox0", "inbox0"), ("ltiscope_inbox1", "inbox1")];

/// The file of inbox `i` of a database file.
fn inbox_path(db: &str, i: usize) -> PathBuf {
    PathBuf::from(format!("{db}.{}", INBOXES[i].1))
}

/// The inbox tables, created from the main tables' current shape (empty): the group number
/// first, then (for events) the batch within the group and where it came from. A launch row
/// holds the columns the writer writes ([`LAUNCH_SPEC`], as [`inserters`] registers them), not
/// the ones `launches` derives itself (`user_key`, `course_key`).
fn create(name: &str) -> String {
    let written: Vec<&str> = LAUNCH_SPEC.iter().map(|(column, _)| *column).collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {name}.events AS
             SELECT CAST(0 AS BIGINT) AS seq, CAST(0 AS BIGINT) AS batch,
                    CAST('' AS VARCHAR) AS origin, *
             FROM events LIMIT 0;
         CREATE TABLE IF NOT EXISTS {name}.launches AS
             SELECT CAST(0 AS BIGINT) AS seq, {} FROM launches LIMIT 0;
         CREATE TABLE IF NOT EXISTS {name}.quarantine AS
             SELECT CAST(0 AS BIGINT) AS seq, * EXCLUDE (id, replayed_at) FROM quarantine LIMIT 0;",
        written.join(", ")
    )
}

const TABLES: [&str; 3] = ["events", "launches", "quarantine"];

/// Attaches inbox `i` of the database at `path` (idempotent).
fn attach(conn: &Connection, path: &str, i: usize) -> Result<(), StoreError> {
    conn.execute_batch(&format!(
        "ATTACH IF NOT EXISTS {} AS {}",
        crate::sql::quote(&inbox_path(path, i).display().to_string()),
        INBOXES[i].0
    ))?;
    Ok(())
}

/// Whether attached inbox `name` has its tables.
fn has_tables(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ?",
        params![name],
        |r| r.get(0),
    )?;
    Ok(n as usize == TABLES.len())
}

/// At open: moves what an earlier process left in the inboxes into the main tables (the one
/// holding the older groups first), then drops the inbox tables (they are made again, in the
/// current shape, when a collector starts).
pub(crate) fn recover(store: &DuckStore) -> Result<(), StoreError> {
    let mut found = Vec::new();
    for (i, (name, _)) in INBOXES.iter().enumerate() {
        if !inbox_path(&store.path, i).exists() {
            continue;
        }
        attach(&store.conn, &store.path, i)?;
        if has_tables(&store.conn, name)? {
            let first: Option<i64> = store.conn.query_row(
                &format!(
                    "SELECT least((SELECT min(seq) FROM {name}.events),
                                  (SELECT min(seq) FROM {name}.quarantine))"
                ),
                [],
                |r| r.get(0),
            )?;
            found.push((first.unwrap_or(i64::MAX), *name));
        }
    }
    // Without the watermark (migration 8) the main database never had a collector with an
    // inbox: such files are strays and hold nothing acknowledged for this database.
    let n: i64 = store.conn.query_row(
        "SELECT count(*) FROM duckdb_tables()
         WHERE database_name = current_database() AND table_name = 'inbox_state'",
        [],
        |r| r.get(0),
    )?;
    found.sort();
    for (_, name) in &found {
        if n > 0 {
            // An inbox a build before migration 11 left has no item keys; nor has the main
            // table yet (recovery runs before the migrations), and migration 11 keys what this
            // moves.
            let keyed: bool = store.conn.query_row(
                "SELECT count(*) > 0 FROM duckdb_columns()
                 WHERE database_name = ? AND table_name = 'quarantine' AND column_name = 'item_key'",
                params![name],
                |r| r.get(0),
            )?;
            move_pending(&store.conn, name, None, keyed)?;
        }
        for t in TABLES {
            store
                .conn
                .execute_batch(&format!("DROP TABLE IF EXISTS {name}.{t}"))?;
        }
    }
    for (i, (name, _)) in INBOXES.iter().enumerate() {
        if inbox_path(&store.path, i).exists() {
            store
                .conn
                .execute_batch(&format!("DETACH DATABASE IF EXISTS {name}"))?;
        }
    }
    Ok(())
}

/// Which inbox the writer commits into, and the last group it committed into each; the mover
/// turns it to the other one under the same lock, so no commit into the inbox it leaves is
/// in flight when it starts moving it.
#[derive(Default)]
pub(crate) struct Active {
    index: usize,
    last: [i64; 2],
}

/// The writer's side of the inboxes: the choice it shares with the mover, whose `last` also
/// numbers its groups (the next follows the greater).
pub(crate) struct InboxWriter {
    pub(crate) active: std::sync::Arc<std::sync::Mutex<Active>>,
    /// Per inbox, how its `events` and `launches` rows are handed over (see `super::chunks`).
    rows: Box<[Inserters; 2]>,
}

/// The rows of inbox `name`'s `events` and `launches`: the group number first, then (for
/// events) the batch within the group and where it came from, as [`create`] makes them.
fn inserters(conn: &Connection, name: &str) -> Result<Inserters, StoreError> {
    let head = [
        ("seq", Stored::Int(None)),
        ("batch", Stored::Int(None)),
        ("origin", Stored::Text(None)),
    ];
    let events = head.iter().cloned().chain(EVENT_SPEC).collect();
    let launches = head[..1].iter().cloned().chain(LAUNCH_SPEC).collect();
    Ok(Inserters {
        events: Inserter::register(conn, &format!("{name}.main.events"), events)?,
        launches: Inserter::register(conn, &format!("{name}.main.launches"), launches)?,
    })
}

/// Attaches both inboxes and makes their tables (after [`recover`], they are empty); returns
/// the writer's side, whose first group follows the last one moved.
pub(crate) fn open(store: &DuckStore) -> Result<InboxWriter, StoreError> {
    for (i, (name, _)) in INBOXES.iter().enumerate() {
        attach(&store.conn, &store.path, i)?;
        store.conn.execute_batch(&create(name))?;
    }
    let moved: i64 = store
        .conn
        .query_row("SELECT moved_seq FROM inbox_state", [], |r| r.get(0))?;
    Ok(InboxWriter {
        active: std::sync::Arc::new(std::sync::Mutex::new(Active {
            index: 0,
            last: [moved; 2],
        })),
        rows: Box::new([
            inserters(&store.conn, INBOXES[0].0)?,
            inserters(&store.conn, INBOXES[1].0)?,
        ]),
    })
}

impl InboxWriter {
    /// The last group committed (the last one moved before any). Two numbers read: a
    /// poisoned lock still holds them whole.
    pub(crate) fn last(&self) -> i64 {
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        active.last[0].max(active.last[1])
    }

    /// Commits a group into the active inbox.
    pub(crate) fn write(
        &mut self,
        conn: &mut Connection,
        batches: &[&WriteBatch],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let mut active = self.active.lock().map_err(|_| StoreError::InboxPoisoned)?;
        let seq = active.last[0].max(active.last[1]) + 1;
        let i = active.index;
        let outcomes = write(conn, (INBOXES[i].0, &mut self.rows[i]), seq, batches)?;
        active.last[i] = seq;
        Ok(outcomes)
    }
}

/// Commits a group of batches into inbox `inbox` as group `seq`: every event (repeats too: the
/// mover decides which copy is stored), every launch record, every quarantined item. The
/// outcomes count the repeats inside the group as duplicates and the rest as stored.
fn write(
    conn: &mut Connection,
    (inbox, rows): (&str, &mut Inserters),
    seq: i64,
    batches: &[&WriteBatch],
) -> Result<Vec<WriteOutcome>, StoreError> {
    let mut plan = Plan::new(batches);
    let tx = conn.transaction()?;
    {
        // (batch index, origin, key, event) of every event of the group, repeats too: each
        // key hashed once for both tables.
        let keyed: Vec<_> = batches
            .iter()
            .enumerate()
            .flat_map(|(b, batch)| {
                batch.events.iter().map(move |e| {
                    let e = e.get();
                    (b as i64, batch.origin.as_str(), event_key(e.meta()), e)
                })
            })
            .collect();
        let events = || keyed.iter().copied();
        let head = |b: i64, origin| {
            [
                Val::Int(Some(seq)),
                Val::Int(Some(b)),
                Val::Text(Some(origin)),
            ]
        };
        rows.events.insert(
            &tx,
            events()
                .map(|(b, origin, key, e)| head(b, origin).into_iter().chain(event_row(key, e))),
        )?;
        let launches = events().filter_map(|(_, _, key, e)| match &e.kind {
            EventKind::Launch(r) => {
                Some(std::iter::once(Val::Int(Some(seq))).chain(launch_row(key, r)))
            }
            _ => None,
        });
        rows.launches.insert(&tx, launches)?;
        let mut q = tx.appender_to_catalog_and_db("quarantine", inbox, "main")?;
        for r in plan.quarantine_rows() {
            let row = std::iter::once(Val::Int(Some(seq))).chain(r.values());
            q.append_row(appender_params_from_iter(row))?;
        }
        q.flush()?;
    }
    tx.commit()?;
    let accepted = plan.staged.iter().map(|(_, k, _)| *k).collect();
    plan.settle(&accepted);
    Ok(plan.outcomes())
}

/// What a move stored, per origin (the endpoint or file the batches came from).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Moved {
    /// The last group now in the main tables.
    pub seq: i64,
    /// Per origin: launch records and non-LTI events newly stored, and duplicates (repeats
    /// inside a group and events stored before); `quarantined` is not counted here.
    pub per_origin: BTreeMap<String, WriteOutcome>,
}

/// Moves the groups committed to the inbox up to `through` (every one found there without
/// it; a group may hold no row at all) and not moved yet into the main tables, in one
/// transaction with the new watermark; then clears those groups from the inbox. `keyed`:
/// the inbox's quarantined items carry their item keys (every inbox made since migration 11).
fn move_pending(
    conn: &Connection,
    inbox: &str,
    through: Option<i64>,
    keyed: bool,
) -> Result<Moved, StoreError> {
    let (from, found): (i64, i64) = conn.query_row(
        &format!(
            "SELECT (SELECT moved_seq FROM inbox_state),
                    greatest((SELECT coalesce(max(seq), 0) FROM {inbox}.events),
                             (SELECT coalesce(max(seq), 0) FROM {inbox}.quarantine))"
        ),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let to = through.unwrap_or(found);
    let mut moved = Moved {
        seq: from,
        ..Moved::default()
    };
    if to > from {
        let tx = conn.unchecked_transaction()?;
        let range = "seq > ? AND seq <= ?";
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS moved_keys (event_key HUGEINT);
             DELETE FROM moved_keys;",
        )?;
        // Which keys are new: the primary key decides, and RETURNING says.
        let new: Vec<i128> = {
            let mut stmt = tx.prepare(&format!(
                "INSERT OR IGNORE INTO event_keys
                 SELECT DISTINCT event_key FROM {inbox}.events WHERE {range}
                 RETURNING event_key"
            ))?;
            let rows = stmt.query_map(params![from, to], |r| r.get::<_, i128>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        {
            let mut app = tx.appender("moved_keys")?;
            for key in &new {
                app.append_row(params![key])?;
            }
            app.flush()?;
        }
        // The first copy of each new event (by group, then batch), its launch record.
        let first = "event_key IN (SELECT event_key FROM moved_keys)
                     QUALIFY row_number() OVER (PARTITION BY event_key ORDER BY seq, batch) = 1";
        tx.execute(
            &format!(
                "INSERT INTO events SELECT * EXCLUDE (seq, batch, origin)
                 FROM {inbox}.events WHERE {range} AND {first}"
            ),
            params![from, to],
        )?;
        tx.execute(
            &format!(
                "INSERT INTO launches BY NAME SELECT * EXCLUDE (seq)
                 FROM {inbox}.launches WHERE {range}
                   AND event_key IN (SELECT event_key FROM moved_keys)
                 QUALIFY row_number() OVER (PARTITION BY event_key ORDER BY seq) = 1"
            ),
            params![from, to],
        )?;
        tx.execute(
            &format!(
                "INSERT INTO rollup_marks (tenant, hour, kind)
                 SELECT DISTINCT tenant, date_trunc('hour', event_time), action FROM {inbox}.launches
                 WHERE {range} AND action IN ('launch', 'return')
                   AND event_key IN (SELECT event_key FROM moved_keys)"
            ),
            params![from, to],
        )?;
        // Per batch and source, as a direct write logs them: new launch records, new non-LTI
        // events, and the rest as duplicates.
        let tallied = format!(
            "CREATE OR REPLACE TEMP TABLE moved_log AS
             SELECT seq, batch, origin, min(received_at) AS received_at, source,
                    count(*) FILTER (WHERE fresh AND kind = 'launch') AS launches,
                    count(*) FILTER (WHERE fresh AND kind <> 'launch') AS non_lti,
                    count(*) FILTER (WHERE NOT fresh) AS duplicates
             FROM (SELECT seq, batch, origin, received_at, source, kind,
                          coalesce(event_key IN (SELECT event_key FROM moved_keys)
                                   AND row_number() OVER (PARTITION BY event_key ORDER BY seq, batch) = 1,
                                   false) AS fresh
                   FROM {inbox}.events WHERE {range})
             GROUP BY seq, batch, origin, source"
        );
        tx.execute(&tallied, params![from, to])?;
        tx.execute_batch(
            "INSERT INTO ingest_log
             SELECT received_at, origin, source, launches, non_lti, duplicates FROM moved_log",
        )?;
        {
            let mut stmt = tx.prepare(
                "SELECT origin, sum(launches), sum(non_lti), sum(duplicates)
                 FROM moved_log GROUP BY origin",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let n = |i: usize| -> Result<u64, duckdb::Error> {
                    Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
                };
                moved.per_origin.insert(
                    r.get(0)?,
                    WriteOutcome {
                        launches: n(1)?,
                        non_lti: n(2)?,
                        duplicates: n(3)?,
                        quarantined: 0,
                        quarantine_repeats: 0,
                    },
                );
            }
        }
        let columns = "received_at, source, origin, item_index, reason_code, reason, body";
        let (columns, or_ignore) = if keyed {
            (format!("{columns}, item_key"), "OR IGNORE")
        } else {
            (columns.to_owned(), "")
        };
        tx.execute(
            &format!(
                "INSERT {or_ignore} INTO quarantine ({columns})
                 SELECT {columns} FROM {inbox}.quarantine WHERE {range} ORDER BY seq, rowid"
            ),
            params![from, to],
        )?;
        tx.execute("UPDATE inbox_state SET moved_seq = ?", params![to])?;
        tx.commit()?;
        moved.seq = to;
    }
    // Groups up to the watermark are in the main tables: clear them (again, after a crash
    // between the move and this).
    let tx = conn.unchecked_transaction()?;
    for t in TABLES {
        tx.execute(
            &format!("DELETE FROM {inbox}.{t} WHERE seq <= ?"),
            params![moved.seq],
        )?;
    }
    tx.commit()?;
    Ok(moved)
}

/// The mover's handle: its own connection to the database, with the inboxes attached, and
/// the writer's choice of inbox.
pub struct InboxMover {
    pub(crate) store: DuckStore,
    pub(crate) active: std::sync::Arc<std::sync::Mutex<Active>>,
}

impl InboxMover {
    /// Turns the writer to the other inbox, moves every group of the one it left into the
    /// main tables, empties it and checkpoints it (see the module docs). Returns what was
    /// stored and the last group now in the main tables.
    pub fn move_committed(&mut self) -> Result<Moved, StoreError> {
        let (left, through) = {
            let mut a = self.active.lock().map_err(|_| StoreError::InboxPoisoned)?;
            let left = a.index;
            a.index = 1 - left;
            (left, a.last[left])
        };
        let name = INBOXES[left].0;
        // The collector's inboxes are made from the migrated tables: keyed.
        let moved = move_pending(&self.store.conn, name, Some(through), true)?;
        // No one writes to it until the next turn: its checkpoint holds no one up.
        self.store
            .conn
            .execute_batch(&format!("CHECKPOINT {name}"))?;
        Ok(moved)
    }
}
