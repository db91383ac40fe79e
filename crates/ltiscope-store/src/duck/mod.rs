//! The embedded DuckDB backend.

mod chunks;
mod flush_behind;
pub(crate) mod inbox;
mod report;
mod schema;
mod stream_keys;

use crate::keys::KeySet;
use crate::migrate::{self, Migrate, Migration, Upgrade};
use crate::rollup::{self, Db, RefreshOutcome, Transact};
use crate::sql::{
    Arg, Dialect, RowRead, export_select, export_values, from_micros, purge_counts, purge_deletes,
    purge_outcome, quote,
};
use crate::write::{EVENT_SPEC, LAUNCH_SPEC, LogRow, Plan, Val, event_row, launch_row};
use crate::{ApiKeyRow, PurgeOutcome, QuarantinedItem, StoreError, WriteBatch, WriteOutcome};
use chunks::Inserter;
use duckdb::types::{TimeUnit, ToSqlOutput, Value, ValueRef};
use duckdb::{Connection, appender_params_from_iter, params, params_from_iter};
use ltiscope_ingest::EventKind;
use ltiscope_model::report::ReportFilter;
use ltiscope_model::{Source, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use stream_keys::StreamKeys;

/// A DuckDB database file.
pub struct DuckStore {
    conn: Connection,
    path: String,
    /// The inboxes, when this handle's writes go through them (the collector).
    inbox: Option<inbox::InboxWriter>,
    /// How this handle's writes hand `events` and `launches` rows over (registered at its
    /// first write).
    inserters: Option<Box<Inserters>>,
}

/// The rows of `events` and `launches` a writer hands over a data chunk at a time (see
/// [`chunks`]): the main tables' or an inbox's.
struct Inserters {
    events: Inserter,
    launches: Inserter,
}

impl Inserters {
    /// This handle's, for the main tables, registered on its connection at the first use
    /// (outside any transaction: a function registered in one would go with its rollback).
    fn of<'a>(
        slot: &'a mut Option<Box<Inserters>>,
        conn: &Connection,
    ) -> Result<&'a mut Inserters, StoreError> {
        let inserters = match slot.take() {
            Some(inserters) => inserters,
            None => Box::new(Inserters {
                events: Inserter::register(conn, "events", EVENT_SPEC.to_vec())?,
                launches: Inserter::register(conn, "launches", LAUNCH_SPEC.to_vec())?,
            }),
        };
        Ok(slot.insert(inserters))
    }
}

fn ts(t: Timestamp) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, t.timestamp_micros())
}

/// The name the database file is attached under; every connection uses it.
const CATALOG: &str = "ltiscope";

/// The freed buffer blocks DuckDB keeps for reuse while a stream is stored
/// ([`DuckStore::write_stream`]). Without them an import of a million launches took ~1.02
/// million page faults, most of them DuckDB writing strings into fresh row-group blocks; with
/// 128 MiB kept, ~0.83 million (256 MiB kept no fewer, 64 MiB ~0.95 million) and ~0.5 s less
/// system CPU. The kept blocks stay resident after the stream, which is why it is no more than
/// the closing refresh may use for its buffers anyway (the import's `REFRESH_MEMORY_BYTES`):
/// with the whole 256 MB pool kept, peak memory reached 485 MiB once (BENCHMARKS.md, "Buffers
/// kept, at 128 MiB").
const KEPT_BLOCK_BYTES: u64 = 128 << 20;

/// Rows per row group of what this process appends (DuckDB's default is 122,880). A bulk
/// load's open row group is held in the buffer pool until it is full and written, compressed,
/// straight into the file; at the default size (~300 MB of event bodies) it did not fit the
/// 256 MB pool, and DuckDB evicted it to a temporary file and read it back first
/// (docs/benchmarks-history.md, "Smaller row groups"). The size is a property of how the file
/// is opened, not of the file: row groups written at any size read the same.
pub const ROW_GROUP_ROWS: usize = 30_720;

impl DuckStore {
    pub(crate) fn open(
        path: &Path,
        upgrading: &mut (dyn FnMut(Upgrade<'_>) + Send),
    ) -> Result<Self, StoreError> {
        let store = DuckStore::connect(path)?;
        // What an earlier collector acknowledged but had not moved yet, before the migrations
        // (the inbox has the shape of the tables it was written for).
        inbox::recover(&store)?;
        store.migrate(upgrading)?;
        Ok(store)
    }

    /// The database without migrations (also a scratch database for the PostgreSQL Parquet
    /// export).
    pub(crate) fn connect(path: &Path) -> Result<Self, StoreError> {
        // A bounded buffer pool: DuckDB would otherwise cache up to 80% of RAM; written pages
        // are evictable, so a small pool costs little and keeps the footprint flat.
        let config = duckdb::Config::default()
            .max_memory("256MB")
            .and_then(|c| c.threads(2));
        let conn = config
            .and_then(Connection::open_in_memory_with_flags)
            .and_then(|conn| {
                conn.execute_batch(&format!(
                    "ATTACH {} AS {CATALOG} (ROW_GROUP_SIZE {ROW_GROUP_ROWS}); USE {CATALOG};",
                    quote(&path.display().to_string())
                ))?;
                Ok(conn)
            })
            .map_err(|cause| StoreError::Open {
                path: path.display().to_string(),
                cause,
            })?;
        Ok(DuckStore {
            conn,
            path: path.display().to_string(),
            inbox: None,
            inserters: None,
        })
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Another connection to the same database: reads through it see committed data and run
    /// beside the writer (DuckDB is multi-version within one process).
    pub(crate) fn try_clone(&self) -> Result<Self, StoreError> {
        Ok(DuckStore {
            conn: self.connection()?,
            path: self.path.clone(),
            inbox: None,
            inserters: None,
        })
    }

    /// Another connection to the same database, using the attached file as the first.
    pub(crate) fn connection(&self) -> Result<Connection, StoreError> {
        let conn = self.conn.try_clone()?;
        conn.execute_batch(&format!("USE {CATALOG}"))?;
        Ok(conn)
    }

    pub(crate) fn has_launches(&self) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM launches)", [], |r| r.get(0))?)
    }

    /// Writes every launch record of the filter (all actions; test users only when the
    /// filter includes them) to `path` as CSV or Parquet, with DuckDB's own writer.
    pub(crate) fn export_copy(
        &self,
        f: &ReportFilter,
        parquet: bool,
        path: &Path,
    ) -> Result<u64, StoreError> {
        let (select, _) = export_select(Dialect::Duck, f, !parquet, true);
        let format = if parquet {
            "FORMAT PARQUET, COMPRESSION ZSTD"
        } else {
            "FORMAT CSV, HEADER"
        };
        let sql = format!(
            "COPY ({select}) TO {} ({format})",
            quote(&path.display().to_string())
        );
        Ok(self.conn.execute(&sql, [])? as u64)
    }

    /// Calls `row` with every launch record of the filter as (column name, JSON value) pairs.
    pub(crate) fn export_rows(
        &self,
        f: &ReportFilter,
        row: &mut crate::ExportRowSink<'_>,
    ) -> Result<u64, StoreError> {
        let (sql, args) = export_select(Dialect::Duck, f, true, false);
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(args.iter().map(arg)))?;
        let mut n = 0u64;
        let mut values: Vec<(&'static str, serde_json::Value)> = Vec::new();
        while let Some(r) = rows.next()? {
            export_values(r, &mut values)?;
            row(&values).map_err(|e| StoreError::Export(e.to_string()))?;
            n += 1;
        }
        Ok(n)
    }

    /// Creates a table of `columns` (SQL column definitions), lets `fill` append rows to it,
    /// and writes it to `out` as Parquet. Returns the number of rows.
    pub(crate) fn load_and_copy_parquet(
        &self,
        columns: &str,
        out: &Path,
        fill: impl FnOnce(
            &mut dyn FnMut(Vec<Val<'static>>) -> Result<(), StoreError>,
        ) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.conn
            .execute_batch(&format!("CREATE TABLE export ({columns})"))?;
        {
            let mut app = self.conn.appender("export")?;
            let mut append = |values: Vec<Val<'static>>| -> Result<(), StoreError> {
                app.append_row(appender_params_from_iter(values.iter()))?;
                Ok(())
            };
            fill(&mut append)?;
            app.flush()?;
        }
        let n = self.conn.execute(
            &format!(
                "COPY export TO {} (FORMAT PARQUET, COMPRESSION ZSTD)",
                quote(&out.display().to_string())
            ),
            [],
        )?;
        Ok(n as u64)
    }

    /// Removes everything that happened before `before` (launch records and events by event
    /// time, quarantine and ingest log by receipt). With `dry_run`, only counts.
    pub(crate) fn purge(
        &mut self,
        before: Timestamp,
        dry_run: bool,
    ) -> Result<PurgeOutcome, StoreError> {
        // One refresher at a time: the purge rewrites rollup rows too (a report's refresh on
        // another handle of the collector must not rewrite them at the same time).
        let _one = REFRESH
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cutoff = ts(before);
        let tx = self.conn.transaction()?;
        let outcome = purge_outcome(tx.query_row(
            &purge_counts(),
            params![cutoff, cutoff, cutoff, cutoff],
            |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
        )?);
        if !dry_run {
            // Keys first: they are found through the events about to go.
            tx.execute(
                "DELETE FROM event_keys WHERE event_key IN (SELECT event_key FROM events WHERE event_time < ?)",
                params![cutoff],
            )?;
            for sql in purge_deletes() {
                tx.execute(&sql, params![cutoff])?;
            }
            rollup::purge(&mut DuckDb(&tx), before)?;
        }
        tx.commit()?;
        Ok(outcome)
    }

    fn migrate(&self, upgrading: &mut (dyn FnMut(Upgrade<'_>) + Send)) -> Result<(), StoreError> {
        migrate::run(&mut Migrations(self), schema::MIGRATIONS, upgrading)
    }

    pub(crate) fn set_checkpoint_threshold(&mut self, bytes: u64) -> Result<(), StoreError> {
        self.conn
            .execute_batch(&format!("SET checkpoint_threshold = '{bytes}B'"))?;
        Ok(())
    }

    pub(crate) fn set_threads(&mut self, threads: u32) -> Result<(), StoreError> {
        self.conn
            .execute_batch(&format!("SET threads = {}", threads.max(1)))?;
        Ok(())
    }

    /// Has DuckDB keep up to [`KEPT_BLOCK_BYTES`] of its freed buffer blocks and reuse them,
    /// instead of returning each to the system and taking fresh pages for the next. The
    /// amount can be raised but never lowered for the life of the database instance, so it
    /// is one constant.
    fn keep_blocks(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch(&format!(
            "SET block_allocator_memory = '{KEPT_BLOCK_BYTES}B'"
        ))?;
        Ok(())
    }

    pub(crate) fn set_memory_limit(&mut self, bytes: u64) -> Result<(), StoreError> {
        self.conn
            .execute_batch(&format!("SET memory_limit = '{bytes}B'"))?;
        Ok(())
    }

    pub(crate) fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?)
    }

    /// Stores several batches in one transaction (group commit): one outcome per batch.
    pub(crate) fn write_many(
        &mut self,
        batches: &[&WriteBatch],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        if let Some(inbox) = &mut self.inbox {
            return inbox.write(&mut self.conn, batches);
        }
        let inserters = Inserters::of(&mut self.inserters, &self.conn)?;
        let tx = self.conn.transaction()?;
        let mut writer = TxWriter::new(&tx, inserters)?;
        let outcomes = writer.write(batches, None)?;
        writer.finish()?;
        tx.commit()?;
        Ok(outcomes)
    }

    /// From now on this handle's writes commit into the inbox (see [`inbox`]); returns the
    /// mover that copies them into the main tables.
    pub(crate) fn ingest_through_inbox(&mut self) -> Result<inbox::InboxMover, StoreError> {
        let writer = inbox::open(self)?;
        let mover = inbox::InboxMover {
            store: self.try_clone()?,
            active: std::sync::Arc::clone(&writer.active),
        };
        self.inbox = Some(writer);
        Ok(mover)
    }

    /// The last group committed into the inbox (0 before any).
    pub(crate) fn inbox_seq(&self) -> Option<i64> {
        self.inbox.as_ref().map(inbox::InboxWriter::last)
    }

    /// Stores a stream of batches, each as [`DuckStore::write_many`] would, in transactions of
    /// at least `commit_every` events and quarantined items: a transaction that appends whole
    /// row groups has DuckDB write them compressed straight into the database file instead of
    /// through the write-ahead log, so a bulk load writes its data once instead of twice. `stored` hears
    /// of each batch once it is in the open transaction; everything is committed on return.
    pub(crate) fn write_stream<T: AsRef<WriteBatch>>(
        &mut self,
        items: impl Iterator<Item = T>,
        commit_every: usize,
        mut stored: impl FnMut(&T, WriteOutcome),
    ) -> Result<(), StoreError> {
        // One DuckDB thread while streaming: a commit compresses its row groups on one worker
        // thread while the calling thread spins waiting for it (a fifth of the writer's samples
        // were mutex calls in `Executor::IdleState`); on the calling thread alone the same work
        // cost 9-25% less CPU in the runs measured and leaves the other core to the parsers
        // (docs/benchmarks-history.md, "One DuckDB thread while importing").
        let threads: u32 = self
            .conn
            .query_row("SELECT current_setting('threads')", [], |r| r.get(0))?;
        self.set_threads(1)?;
        // Kept for the life of the database instance, like the pool itself.
        self.keep_blocks()?;
        let file = std::fs::File::open(&self.path).ok();
        let result = std::thread::scope(|scope| {
            let _behind = file.map(|f| flush_behind::start(scope, f));
            self.stream_in(items, commit_every, &mut stored)
        });
        // Restored whatever happened; a failed write's own error is the one reported.
        let restored = self.set_threads(threads);
        result?;
        restored
    }

    /// [`DuckStore::write_stream`]'s transactions.
    fn stream_in<T: AsRef<WriteBatch>>(
        &mut self,
        items: impl Iterator<Item = T>,
        commit_every: usize,
        stored: &mut impl FnMut(&T, WriteOutcome),
    ) -> Result<(), StoreError> {
        let mut items = items.peekable();
        // Into a store without any event, this stream is the only writer of keys: a filter of
        // the keys it wrote tells most new events apart without asking the database.
        let empty: bool =
            self.conn
                .query_row("SELECT NOT EXISTS (SELECT 1 FROM event_keys)", [], |r| {
                    r.get(0)
                })?;
        let mut fresh = empty.then(StreamKeys::new);
        let inserters = Inserters::of(&mut self.inserters, &self.conn)?;
        let mut group = Vec::new();
        while items.peek().is_some() {
            let tx = self.conn.unchecked_transaction()?;
            let mut writer = TxWriter::new(&tx, inserters)?;
            let mut open = 0;
            while open < commit_every {
                // A group of batches for one write, kept until it is written: their rows'
                // text is read where it is. Counted in items (events and quarantined ones,
                // at least one a batch), so that batches of nothing but quarantined lines
                // are written, and let go, as they come too.
                let mut rows = 0;
                while rows < FLUSH_ROWS && open + rows < commit_every {
                    let Some(item) = items.next() else { break };
                    let batch = item.as_ref();
                    rows += (batch.events.len() + batch.rejected.len()).max(1);
                    group.push(item);
                }
                if group.is_empty() {
                    break;
                }
                let batches: Vec<&WriteBatch> = group.iter().map(AsRef::as_ref).collect();
                let outcomes = writer.write(&batches, fresh.as_mut())?;
                open += rows;
                for (item, outcome) in group.drain(..).zip(outcomes) {
                    stored(&item, outcome);
                }
            }
            writer.finish()?;
            tx.commit()?;
            if fresh.as_ref().is_some_and(|f| !f.useful()) {
                fresh = None;
            }
        }
        Ok(())
    }

    pub(crate) fn find_text(&self, needle: &str) -> Result<Vec<(String, String, u64)>, StoreError> {
        let columns: Vec<(String, String)> = {
            let mut stmt = self.conn.prepare(
                "SELECT table_name, column_name FROM information_schema.columns
                 WHERE table_schema = 'main' AND data_type = 'VARCHAR' ORDER BY 1, 2",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut found = Vec::new();
        for (table, column) in columns {
            // Names come from the catalogue, not from input; quoted all the same.
            let sql = format!(
                "SELECT count(*) FROM \"{}\" WHERE contains(\"{}\", ?)",
                table.replace('"', "\"\""),
                column.replace('"', "\"\"")
            );
            let n: i64 = self.conn.query_row(&sql, params![needle], |r| r.get(0))?;
            if n > 0 {
                found.push((table, column, n as u64));
            }
        }
        Ok(found)
    }

    pub(crate) fn event_id_counts(&self, source: Source) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT event_id, count(*) FROM events WHERE source = ? GROUP BY event_id ORDER BY 1",
        )?;
        let rows = stmt.query_map(params![source.as_str()], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn quarantine_list(
        &self,
        reason: Option<&str>,
        limit: usize,
    ) -> Result<Vec<QuarantinedItem>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, epoch_us(received_at), source, origin, reason_code, reason, body
             FROM quarantine WHERE replayed_at IS NULL AND (? IS NULL OR reason_code = ?)
             ORDER BY id DESC LIMIT ?",
        )?;
        let rows = stmt.query_map(params![reason, reason, limit as i64], |r| {
            Ok(QuarantinedItem {
                id: r.get(0)?,
                received_at: from_micros(r.get(1)?),
                source: r.get::<_, Option<String>>(2)?.and_then(|s| s.parse().ok()),
                origin: r.get(3)?,
                reason_code: r.get(4)?,
                reason: r.get(5)?,
                body: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn key_insert(
        &mut self,
        name: &str,
        scope: &str,
        key_hash: &str,
        key_prefix: &str,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "INSERT INTO api_keys (name, scope, key_hash, key_prefix, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
            params![name, scope, key_hash, key_prefix, ts(at)],
            |r| r.get(0),
        )?)
    }

    pub(crate) fn keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, name, scope, key_hash, key_prefix, epoch_us(created_at), epoch_us(revoked_at)
             FROM api_keys ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ApiKeyRow {
                id: r.get(0)?,
                name: r.get(1)?,
                scope: r.get(2)?,
                key_hash: r.get(3)?,
                key_prefix: r.get(4)?,
                created_at: from_micros(r.get(5)?),
                revoked_at: r.get::<_, Option<i64>>(6)?.map(from_micros),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn key_revoke(&mut self, id: i64, at: Timestamp) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            params![ts(at), id],
        )?;
        Ok(n > 0)
    }

    pub(crate) fn quarantine_mark_replayed(
        &mut self,
        ids: &[i64],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare("UPDATE quarantine SET replayed_at = ? WHERE id = ?")?;
            for id in ids {
                stmt.execute(params![ts(at), id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

impl duckdb::ToSql for Val<'_> {
    fn to_sql(&self) -> duckdb::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Key(k) => ToSqlOutput::Owned(Value::HugeInt(*k)),
            Val::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Owned(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Text(None) | Val::Owned(None) | Val::Int(None) => ToSqlOutput::Owned(Value::Null),
            Val::Time(t) => ToSqlOutput::Owned(ts(*t)),
            Val::Int(Some(n)) => ToSqlOutput::Owned(Value::BigInt(*n)),
            Val::Bool(b) => ToSqlOutput::Owned(Value::Boolean(*b)),
            Val::Date(d) => ToSqlOutput::Owned(date(*d)),
            Val::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

impl RowRead for duckdb::Row<'_> {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(i)?)
    }
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(i)?)
    }
    fn float(&self, i: usize) -> Result<Option<f64>, StoreError> {
        Ok(self.get(i)?)
    }
    fn boolean(&self, i: usize) -> Result<Option<bool>, StoreError> {
        Ok(self.get(i)?)
    }
    fn text_ref(&self, i: usize) -> Result<Option<&str>, StoreError> {
        match self.get_ref(i)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => Ok(std::str::from_utf8(t).ok()),
            other => {
                Err(duckdb::Error::InvalidColumnType(i, String::new(), other.data_type()).into())
            }
        }
    }
    fn bytes(&self, i: usize) -> Result<Option<&[u8]>, StoreError> {
        match self.get_ref(i)? {
            ValueRef::Null => Ok(None),
            ValueRef::Blob(b) | ValueRef::Text(b) => Ok(Some(b)),
            other => {
                Err(duckdb::Error::InvalidColumnType(i, String::new(), other.data_type()).into())
            }
        }
    }
}

/// A shared query's parameter as a DuckDB value.
fn arg(a: &Arg) -> Value {
    match a {
        Arg::Text(s) => Value::Text(s.clone()),
        Arg::Time(t) => ts(*t),
        Arg::Int(n) => Value::BigInt(*n),
        Arg::Date(d) => date(*d),
    }
}

/// A calendar day as a DuckDB value (days since 1970-01-01).
fn date(d: chrono::NaiveDate) -> Value {
    Value::Date32((d - chrono::NaiveDate::default()).num_days() as i32)
}

/// One refresh of the rollups at a time in this process (DuckDB has one process per file).
static REFRESH: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A DuckDB connection (or open transaction) as the rollup code uses it.
pub(crate) struct DuckDb<'a>(pub(crate) &'a Connection);

impl Db for DuckDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Duck
    }

    fn each(
        &mut self,
        sql: &str,
        args: &[Arg],
        row: &mut dyn FnMut(&dyn RowRead) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.0.prepare(sql)?;
        // A streaming result: DuckDB's worker thread runs the query ahead while this thread
        // reads its chunks, instead of the whole result being gathered first and copied
        // (BENCHMARKS.md, "The refresh reads a streaming result"). The handle `stream_arrow`
        // returns only borrows the executed statement; its rows are read as rows.
        drop(stmt.stream_arrow(params_from_iter(args.iter().map(arg)))?);
        let mut rows = stmt.raw_query();
        while let Some(r) = rows.next()? {
            row(r)?;
        }
        Ok(())
    }

    fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
        Ok(self
            .0
            .execute(sql, params_from_iter(args.iter().map(arg)))? as u64)
    }

    fn append(&mut self, table: &str, rows: &[Vec<Val<'_>>]) -> Result<(), StoreError> {
        let mut app = self.0.appender(table)?;
        for row in rows {
            app.append_row(appender_params_from_iter(row.iter()))?;
        }
        app.flush()?;
        Ok(())
    }
}

/// A refresh's transactions on the store's own connection.
impl Transact for &Connection {
    fn transact(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Db) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let tx = self.unchecked_transaction()?;
        work(&mut DuckDb(&tx))?;
        tx.commit()?;
        Ok(())
    }
}

/// A refresh's transactions on a lane's connection of its own.
impl Transact for Connection {
    fn transact(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Db) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        (&*self).transact(work)
    }
}

impl DuckStore {
    /// Rolls up what was stored since the last refresh (nothing to do is cheap), with a second
    /// connection to the database beside this one when there are months to share
    /// (`rollup::refresh`).
    pub(crate) fn refresh_rollups(&self) -> Result<RefreshOutcome, StoreError> {
        let _one = REFRESH
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !rollup::pending(&mut DuckDb(&self.conn))? {
            return Ok(RefreshOutcome::default());
        }
        rollup::refresh(&mut &self.conn, || self.connection(), drop)
    }

    /// Runs `read` on this database as the backend-neutral `Db`, outside any transaction.
    pub(crate) fn read<R>(
        &self,
        read: impl FnOnce(&mut dyn rollup::Db) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        read(&mut DuckDb(&self.conn))
    }

    /// Runs `change` in one transaction, one refresher at a time: the rollup marks it adds
    /// are the refresh's to consume (tool naming, the rollup settings, a re-derive).
    pub(crate) fn change<R>(
        &mut self,
        change: impl FnOnce(&mut dyn rollup::Db) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let _one = REFRESH
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = self.conn.unchecked_transaction()?;
        let out = change(&mut DuckDb(&tx))?;
        tx.commit()?;
        Ok(out)
    }
}

impl DuckStore {
    /// Rewrites the database into a fresh file beside it (`COPY FROM DATABASE`: tables with
    /// their compression, constraints and sequences), checks that every table holds as many
    /// rows, and puts it in the old file's place: deleted and replaced rows leave their bytes
    /// in the old file's free blocks until DuckDB happens to reuse them, and the new file has
    /// none. Returns the file's size before and after.
    pub(crate) fn compact(self) -> Result<(u64, u64), StoreError> {
        let path = std::path::PathBuf::from(&self.path);
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let before = size(&path);
        let fresh = std::path::PathBuf::from(format!("{}.compacting", self.path));
        let gone = |p: &Path| match std::fs::remove_file(p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::Compact(format!(
                    "cannot remove {}, left by an earlier attempt: {e}; remove it and run again",
                    p.display()
                )))
            }
            _ => Ok(()),
        };
        // What an interrupted compaction left.
        gone(&fresh)?;
        gone(Path::new(&format!("{}.wal", fresh.display())))?;
        let copied = (|| {
            self.conn.execute_batch(&format!(
                "CHECKPOINT; ATTACH {} AS compacting (ROW_GROUP_SIZE {ROW_GROUP_ROWS});
                 COPY FROM DATABASE {CATALOG} TO compacting;",
                quote(&fresh.display().to_string())
            ))?;
            let mut tables: Vec<String> = Vec::new();
            DuckDb(&self.conn).each(
                &format!(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = '{CATALOG}'"
                ),
                &[],
                &mut |r| {
                    tables.extend(r.text(0)?);
                    Ok(())
                },
            )?;
            for table in &tables {
                let (old, new): (i64, i64) = self.conn.query_row(
                    &format!(
                        "SELECT (SELECT count(*) FROM {CATALOG}.{table}),
                                (SELECT count(*) FROM compacting.{table})"
                    ),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                if old != new {
                    return Err(StoreError::Compact(format!(
                        "the copy of {table} held {new} rows, not {old}; the database is as it was"
                    )));
                }
            }
            Ok(())
        })();
        // A copy that failed (a full disk, say) is not left behind.
        let detached = self
            .conn
            .execute_batch("DETACH DATABASE IF EXISTS compacting");
        if let Err(e) = copied {
            let _ = gone(&fresh);
            let _ = gone(Path::new(&format!("{}.wal", fresh.display())));
            return Err(e);
        }
        detached?;
        // Closed (and checkpointed) before its file is replaced.
        drop(self);
        std::fs::rename(&fresh, &path).map_err(|e| {
            StoreError::Compact(format!(
                "cannot put the compacted copy {} in the place of {}: {e}; the database is as it was, and the copy complete (move it there by hand, or delete it)",
                fresh.display(),
                path.display()
            ))
        })?;
        Ok((before, size(&path)))
    }
}

/// How often a running migration's progress is read.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The migrations' view of a DuckDB database.
struct Migrations<'a>(&'a DuckStore);

impl Migrate for Migrations<'_> {
    fn current_version(&mut self) -> Result<i64, StoreError> {
        self.0.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)",
        )?;
        self.0.schema_version()
    }

    /// Given `progress`, runs the migration while another thread reads DuckDB's estimate of
    /// the running statement's progress (the same estimate its own progress bar shows) every
    /// [`PROGRESS_EVERY`], until the transaction is over.
    fn apply(
        &mut self,
        (version, name, sql): &Migration,
        progress: Option<&mut (dyn FnMut(f64) + Send)>,
    ) -> Result<(), StoreError> {
        let conn = &self.0.conn;
        let migrate = || -> Result<(), StoreError> {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now())",
                params![version, name],
            )?;
            tx.commit()?;
            Ok(())
        };
        let Some(progress) = progress else {
            return migrate();
        };
        conn.set_query_progress_tracking(true)?;
        let handle = conn.progress_handle();
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let result = std::thread::scope(|s| {
            s.spawn(move || {
                let mut last = None;
                // Until `done` is dropped: a timeout is the next reading.
                while finished.recv_timeout(PROGRESS_EVERY)
                    == Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                {
                    let Some(percent) = handle.query_progress().percentage() else {
                        continue;
                    };
                    let percent = percent.clamp(0.0, 100.0).floor();
                    // DuckDB estimates each statement of a migration from 0 again (a poll
                    // during the commit after the long copy read 0%): what is reported only
                    // rises, as one bar for the whole migration.
                    if last.is_none_or(|l| percent > l) {
                        last = Some(percent);
                        progress(percent);
                    }
                }
            });
            let result = migrate();
            drop(done);
            result
        });
        // Turned off whatever happened; a failed migration's own error is the one reported.
        let reset = conn.set_query_progress_tracking(false);
        result?;
        Ok(reset?)
    }
}

/// Items (events, quarantined items) a stream gathers, a few batches of them, for one write
/// (one insert into `events` and one into `launches`: [`DuckStore::stream_in`]). With appenders,
/// whose every flush DuckDB turned into an INSERT it planned anew, flushing after each
/// 1,024-line chunk spent ~11% of an import's writer thread in DuckDB's planner
/// (docs/benchmarks-history.md, "Fewer statements per chunk"); 8,192 rows held more memory
/// and were no faster. The inserts through `chunks.rs` are prepared once; 8,192 rows per
/// insert were again no faster through them, and one import of a million peaked at 503 MiB
/// (BENCHMARKS.md, "The writer's queue").
const FLUSH_ROWS: usize = 4096;

/// The writes of one open transaction: the rows of `events` and `launches`, inserted by each
/// write of a group of batches, and the rollup marks and ingest-log rows gathered until
/// [`TxWriter::finish`] writes them, once per transaction.
struct TxWriter<'c> {
    conn: &'c Connection,
    rows: &'c mut Inserters,
    /// The keys a stream's filter knows to be new, appended to `event_keys` in order when
    /// the transaction finishes, or before the primary key is asked about others (see
    /// [`TxWriter::append_new_keys`]).
    new_keys: Vec<i128>,
    /// Per tenant, (UTC hour, `launch`|`return`), each once (see `crate::rollup`): keyed by
    /// tenant so that a chunk's marks cost no allocation once their tenant is known.
    marks: BTreeMap<String, BTreeSet<(Timestamp, &'static str)>>,
    log: Vec<LogRow>,
}

impl<'c> TxWriter<'c> {
    /// Starts writing in the transaction open on `conn`.
    fn new(conn: &'c Connection, rows: &'c mut Inserters) -> Result<Self, StoreError> {
        conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS stage_keys (event_key HUGEINT);
             CREATE TEMP TABLE IF NOT EXISTS stage_marks (tenant VARCHAR, hour TIMESTAMP, kind VARCHAR);",
        )?;
        Ok(TxWriter {
            conn,
            rows,
            new_keys: Vec::new(),
            marks: BTreeMap::new(),
            log: Vec::new(),
        })
    }

    /// Inserts the rows of a group of batches: one outcome per batch. `fresh` is the filter
    /// of a stream into a store that held no event when the stream began (see
    /// [`StreamKeys`]).
    fn write(
        &mut self,
        batches: &[&WriteBatch],
        fresh: Option<&mut StreamKeys>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let conn = self.conn;
        let mut plan = Plan::new(batches);
        let staged = plan.staged.iter().map(|(_, key, _)| *key);
        let inserted = match fresh {
            Some(filter) => self.filter_keys(filter, staged)?,
            None => self.insert_keys(staged)?,
        };
        plan.settle(&inserted);
        let events = plan.staged.iter().map(|(_, key, e)| event_row(*key, e));
        self.rows.events.insert(conn, events)?;
        let launches = plan.staged.iter().filter_map(|(_, key, e)| match &e.kind {
            EventKind::Launch(r) => Some(launch_row(*key, r)),
            _ => None,
        });
        self.rows.launches.insert(conn, launches)?;
        for (tenant, hour, kind) in plan.rollup_marks() {
            match self.marks.get_mut(tenant) {
                Some(hours) => {
                    hours.insert((hour, kind));
                }
                None => {
                    self.marks
                        .insert(tenant.to_owned(), BTreeSet::from([(hour, kind)]));
                }
            }
        }
        self.log.extend(plan.log_rows());
        let mut q = conn.prepare_cached(
            "INSERT OR IGNORE INTO quarantine
                 (received_at, source, origin, item_index, reason_code, reason, body, item_key)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )?;
        for r in plan.quarantine_rows() {
            if q.execute(params_from_iter(r.values()))? == 0 {
                plan.quarantine_repeat(r.batch);
            }
        }
        Ok(plan.outcomes())
    }

    /// Which of these keys are new: the primary key of `event_keys` decides, and RETURNING
    /// says.
    fn insert_keys(&self, keys: impl Iterator<Item = i128>) -> Result<KeySet, StoreError> {
        let conn = self.conn;
        conn.prepare_cached("DELETE FROM stage_keys")?.execute([])?;
        {
            let mut app = conn.appender("stage_keys")?;
            for key in keys {
                app.append_row(params![key])?;
            }
            app.flush()?;
        }
        let mut stmt = conn.prepare_cached(
            "INSERT OR IGNORE INTO event_keys SELECT event_key FROM stage_keys RETURNING event_key",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, i128>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Which of these keys are new, in a stream into a store that held no event when it
    /// began: those the stream's filter has never seen are, and are kept to be appended to
    /// `event_keys`; the primary key decides the others.
    fn filter_keys(
        &mut self,
        filter: &mut StreamKeys,
        keys: impl Iterator<Item = i128>,
    ) -> Result<KeySet, StoreError> {
        let mut new = KeySet::with_capacity_and_hasher(keys.size_hint().0, Default::default());
        let mut maybe = Vec::new();
        for key in keys {
            if filter.may_contain(key) {
                maybe.push(key);
            } else {
                self.new_keys.push(key);
                filter.insert(key);
                new.insert(key);
            }
        }
        if !maybe.is_empty() {
            // The primary key decides only over the keys it holds: those kept so far too.
            self.append_new_keys()?;
            for key in self.insert_keys(maybe.into_iter())? {
                filter.insert(key);
                new.insert(key);
            }
        }
        Ok(new)
    }

    /// Appends the keys the stream's filter knew to be new to `event_keys`, in key order.
    /// The primary key's index takes keys in order far faster than as they come (hashes,
    /// spread over all of it): 245,760 random 128-bit keys per transaction into a million went
    /// in 0.77-0.78 s sorted against 1.19-1.32 s as they came (`bench/keys_order.py`;
    /// BENCHMARKS.md, "Keys in order").
    fn append_new_keys(&mut self) -> Result<(), StoreError> {
        if self.new_keys.is_empty() {
            return Ok(());
        }
        self.new_keys.sort_unstable();
        let mut app = self.conn.appender("event_keys")?;
        for key in self.new_keys.drain(..) {
            app.append_row(params![key])?;
        }
        app.flush()?;
        Ok(())
    }

    /// Writes what waits: the new keys, the rollup marks and the ingest log. The
    /// transaction can commit after this.
    fn finish(mut self) -> Result<(), StoreError> {
        self.append_new_keys()?;
        let conn = self.conn;
        // Through a staging table: a term-long file can mark a thousand hours, and one
        // appender plus one insert costs far less than an insert per mark.
        conn.prepare_cached("DELETE FROM stage_marks")?
            .execute([])?;
        {
            let mut app = conn.appender("stage_marks")?;
            for (tenant, hours) in &self.marks {
                for (hour, kind) in hours {
                    app.append_row(params![tenant, ts(*hour), kind])?;
                }
            }
            app.flush()?;
        }
        conn.prepare_cached(
            "INSERT INTO rollup_marks (tenant, hour, kind) SELECT tenant, hour, kind FROM stage_marks",
        )?
        .execute([])?;
        let mut stmt = conn.prepare_cached("INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?)")?;
        for l in &self.log {
            stmt.execute(params![
                ts(l.received_at),
                l.origin,
                l.source.as_str(),
                l.launches,
                l.non_lti,
                l.duplicates
            ])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_in(store: &DuckStore) -> BTreeSet<i128> {
        let mut stmt = store
            .conn
            .prepare("SELECT event_key FROM event_keys")
            .expect("prepare");
        let rows = stmt.query_map([], |r| r.get::<_, i128>(0)).expect("query");
        rows.collect::<Result<_, _>>().expect("keys")
    }

    /// The filter of a stream decides alone only that a key is new; a key it may have seen
    /// (here one it holds although the database does not: a false positive) is decided by the
    /// primary key, so it is stored, and a key the database holds is not stored again.
    #[test]
    fn a_key_the_filter_may_hold_is_decided_by_the_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = DuckStore::open(&dir.path().join("k.duckdb"), &mut |_| {}).expect("open");
        store
            .conn
            .execute("INSERT INTO event_keys VALUES (7)", [])
            .expect("a stored key");
        let mut filter = StreamKeys::new();
        filter.insert(7); // stored, and seen
        filter.insert(8); // seen by the filter only: a false positive
        let inserters = Inserters::of(&mut store.inserters, &store.conn).expect("inserters");
        let tx = store.conn.unchecked_transaction().expect("tx");
        let mut writer = TxWriter::new(&tx, inserters).expect("writer");
        let new = writer
            .filter_keys(&mut filter, [7, 8, 9].into_iter())
            .expect("keys");
        assert_eq!(new, KeySet::from_iter([8, 9]));
        writer.finish().expect("finish");
        tx.commit().expect("commit");
        assert_eq!(keys_in(&store), BTreeSet::from([7, 8, 9]));
        assert!(filter.may_contain(9));
    }

    /// A stream has DuckDB keep freed buffer blocks; the amount can never be lowered, so a
    /// second stream through the same handle must ask for no less and not fail. (That a
    /// second stream's events are stored is the store test
    /// `a_second_stream_through_the_same_handle_is_stored_too`.)
    #[test]
    fn streams_keep_duckdb_blocks_and_a_second_stream_asks_for_no_less() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = DuckStore::open(&dir.path().join("b.duckdb"), &mut |_| {}).expect("open");
        let kept = |store: &DuckStore| -> String {
            store
                .conn
                .query_row(
                    "SELECT current_setting('block_allocator_memory')",
                    [],
                    |r| r.get(0),
                )
                .expect("setting")
        };
        let before = kept(&store);
        for round in 0..2 {
            let batches: Vec<WriteBatch> = Vec::new();
            store
                .write_stream(batches.iter(), 100, |_, _| {})
                .unwrap_or_else(|e| panic!("stream {round}: {e}"));
        }
        assert_ne!(kept(&store), before, "no blocks kept: {before}");
        assert_eq!(kept(&store), "128.0 MiB");
    }

    /// DuckDB's zstd level is a constant of its build (`.cargo/config.toml` defines it as 1
    /// for the kept originals); its Parquet writer uses the same constant when no level is
    /// given, which tells which one the build has.
    #[test]
    fn duckdb_is_built_to_compress_zstd_at_level_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = duckdb::Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE t AS SELECT '{\"id\":\"urn:uuid:' || uuid() || '\",\"n\":' || i
                 || ',\"text\":\"' || repeat(md5(CAST(i % 97 AS VARCHAR)), 1 + i % 7) || '\"}' AS body
             FROM range(20000) r(i)",
        )
        .expect("rows");
        let parquet = |name: &str, level: &str| {
            let path = dir.path().join(name);
            conn.execute_batch(&format!(
                "COPY t TO '{}' (FORMAT PARQUET, COMPRESSION ZSTD{level})",
                path.display()
            ))
            .expect("copy");
            std::fs::read(&path).expect("read")
        };
        let default = parquet("default.parquet", "");
        let (one, three) = (
            parquet("one.parquet", ", COMPRESSION_LEVEL 1"),
            parquet("three.parquet", ", COMPRESSION_LEVEL 3"),
        );
        assert_ne!(
            one, three,
            "levels 1 and 3 must differ for this check to mean anything"
        );
        assert!(
            default == one,
            "DuckDB was built without -DZSTD_CLEVEL_DEFAULT=1 (.cargo/config.toml): a CXXFLAGS \
             of your own environment replaces it; add the define to yours and rebuild"
        );
    }
}
