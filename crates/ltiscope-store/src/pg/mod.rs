//! The PostgreSQL backend, for shared deployments: several stateless collectors write to one
//! database, idempotent by the primary key of `event_keys`, and report from it with the same
//! shared SQL as DuckDB.
//!
//! The driver is the synchronous `postgres` crate (one connection per handle, like a DuckDB
//! handle); async callers run it on blocking threads, as they do DuckDB.

mod schema;

use crate::keys::KeySet;
use crate::migrate::{self, Migrate, Migration, Upgrade};
use crate::rollup::lanes;
use crate::rollup::{self, Db, RefreshOutcome, Transact};
use crate::sql::{
    Arg, Dialect, EXPORT_FIELDS, ExportKind, RowRead, export_select, export_values, purge_counts,
    purge_deletes, purge_outcome, read_cells, sql_for,
};
use crate::write::{Plan, Val, event_row, launch_row};
use crate::{ApiKeyRow, PurgeOutcome, QuarantinedItem, StoreError, WriteBatch, WriteOutcome};
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use ltiscope_ingest::EventKind;
use ltiscope_model::report::{Params, Question, ReportFilter, Table};
use ltiscope_model::{Source, Timestamp};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, GenericClient, IsolationLevel, NoTls};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The advisory lock held while migrating and while creating partitions.
const SCHEMA_LOCK: i64 = 0x6c74_6973_636f_7065; // "ltiscope"

/// The advisory lock held while refreshing rollups: one refresh at a time across processes.
const ROLLUP_LOCK: i64 = 0x6c74_6973_726f_6c6c; // "ltisroll"

/// A connection to a PostgreSQL database.
pub struct PgStore {
    client: Mutex<Client>,
    /// Idle connections for reading in lanes beside `client` (`rollup::lanes`), shared by
    /// this handle's clones, so a report pays for connecting only the first time.
    spares: Arc<Mutex<Vec<Client>>>,
    url: String,
    /// Set when a statement failed on the connection itself (not with a server error): the
    /// driver may not have noticed yet that the connection is gone, so the next use opens a
    /// new one rather than meeting the dead one again.
    broken: std::sync::atomic::AtomicBool,
}

/// The most idle spare connections a store and its clones keep.
const SPARES: usize = 4;

/// A lock, whether or not a panic poisoned it (what it guards is left whole).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn naive(t: Timestamp) -> NaiveDateTime {
    t.naive_utc()
}

fn utc(t: NaiveDateTime) -> Timestamp {
    t.and_utc()
}

/// The URL with any password replaced, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The newest migration applied (0 for a new database).
fn schema_version_of(c: &mut Client) -> Result<i64, StoreError> {
    Ok(c.query_one(
        "SELECT coalesce(max(version), 0)::BIGINT FROM schema_migrations",
        &[],
    )?
    .try_get(0)?)
}

/// The migrations' view of a PostgreSQL connection (its caller holds the schema lock).
struct Migrations<'a>(&'a mut Client);

impl Migrate for Migrations<'_> {
    fn current_version(&mut self) -> Result<i64, StoreError> {
        self.0.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)",
        )?;
        schema_version_of(self.0)
    }

    /// PostgreSQL has no progress estimate for these statements: `progress` is not called.
    fn apply(
        &mut self,
        (version, name, sql): &Migration,
        _progress: Option<&mut (dyn FnMut(f64) + Send)>,
    ) -> Result<(), StoreError> {
        let mut tx = self.0.transaction()?;
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations VALUES ($1, $2, now() AT TIME ZONE 'UTC')",
            &[version, name],
        )?;
        tx.commit()?;
        Ok(())
    }
}

impl PgStore {
    pub(crate) fn open(
        url: &str,
        upgrading: &mut (dyn FnMut(Upgrade<'_>) + Send),
    ) -> Result<Self, StoreError> {
        let store = PgStore::connect(url)?;
        store.migrate(upgrading)?;
        Ok(store)
    }

    fn connect(url: &str) -> Result<Self, StoreError> {
        let client = Client::connect(url, NoTls).map_err(|cause| StoreError::OpenPg {
            url: redact_url(url),
            cause,
        })?;
        Ok(PgStore {
            client: Mutex::new(client),
            spares: Arc::default(),
            url: url.to_owned(),
            broken: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The URL, password hidden.
    pub(crate) fn display_url(&self) -> String {
        redact_url(&self.url)
    }

    /// Another connection to the same database (sharing the spares).
    pub(crate) fn try_clone(&self) -> Result<Self, StoreError> {
        let mut store = PgStore::connect(&self.url)?;
        store.spares = Arc::clone(&self.spares);
        Ok(store)
    }

    /// An idle spare connection, or a new one (give it back with [`PgStore::release`]).
    fn spare(&self) -> Result<Client, StoreError> {
        match lock(&self.spares).pop() {
            Some(c) if !c.is_closed() => Ok(c),
            _ => Client::connect(&self.url, NoTls).map_err(|cause| StoreError::OpenPg {
                url: redact_url(&self.url),
                cause,
            }),
        }
    }

    /// Keeps a spare connection for the next report, up to [`SPARES`] of them.
    fn release(&self, c: Client) {
        let mut idle = lock(&self.spares);
        if idle.len() < SPARES && !c.is_closed() {
            idle.push(c);
        }
    }

    /// The connection, reconnected first if the server closed it (a restart, a failover, an
    /// idle timeout), so a long-running collector recovers by itself: the write that met the
    /// closed connection failed and was answered 503; the sender's retry finds a new one.
    fn client(&self) -> Result<std::sync::MutexGuard<'_, Client>, StoreError> {
        // A panic while holding the connection leaves nothing half-written in it that the
        // next statement would trip over (PostgreSQL rolls an open transaction back).
        let mut guard = lock(&self.client);
        if guard.is_closed() || self.broken.swap(false, std::sync::atomic::Ordering::SeqCst) {
            *guard = Client::connect(&self.url, NoTls).map_err(|cause| StoreError::OpenPg {
                url: redact_url(&self.url),
                cause,
            })?;
        }
        Ok(guard)
    }

    fn migrate(&self, upgrading: &mut (dyn FnMut(Upgrade<'_>) + Send)) -> Result<(), StoreError> {
        let mut c = self.client()?;
        c.execute("SELECT pg_advisory_lock($1)", &[&SCHEMA_LOCK])?;
        let result = migrate::run(&mut Migrations(&mut c), schema::MIGRATIONS, upgrading);
        c.execute("SELECT pg_advisory_unlock($1)", &[&SCHEMA_LOCK])?;
        result
    }

    pub(crate) fn schema_version(&self) -> Result<i64, StoreError> {
        schema_version_of(&mut *self.client()?)
    }

    /// Creates the monthly partitions of `events` and `launches` that the given months need
    /// and do not have yet. Runs before the write transaction, under the schema lock, so that
    /// collectors creating the same month at once do not collide.
    fn ensure_partitions(
        &self,
        c: &mut Client,
        months: &BTreeSet<(i32, u32)>,
    ) -> Result<(), StoreError> {
        if months.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = months.iter().map(|(y, m)| month_suffix(*y, *m)).collect();
        let missing: Vec<String> = c
            .query(
                "SELECT m FROM unnest($1::text[]) AS m
                 WHERE to_regclass('launches_' || m) IS NULL OR to_regclass('events_' || m) IS NULL",
                &[&names],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        if missing.is_empty() {
            return Ok(());
        }
        let mut tx = c.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
        for (y, m) in months {
            let suffix = month_suffix(*y, *m);
            if !missing.contains(&suffix) {
                continue;
            }
            let (from, to) = month_bounds(*y, *m);
            for table in ["events", "launches"] {
                tx.batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {table}_{suffix} PARTITION OF {table}
                     FOR VALUES FROM ('{from}') TO ('{to}')"
                ))?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores several batches in one transaction (group commit): one outcome per batch. A
    /// failure of the connection itself (not a server error) has the next call reconnect.
    pub(crate) fn write_many(
        &mut self,
        batches: &[&WriteBatch],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let result = self.write_many_once(batches);
        if let Err(StoreError::Pg(e)) = &result
            && (e.is_closed()
                || e.as_db_error().is_none_or(|db| {
                    // FATAL ends the session (an administrator's or a shutdown's terminate).
                    db.severity() == "FATAL" || db.code().code().starts_with("57P")
                }))
        {
            self.broken.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        result
    }

    fn write_many_once(
        &mut self,
        batches: &[&WriteBatch],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let mut plan = Plan::new(batches);
        let mut guard = self.client()?;
        let c = &mut *guard;
        let months: BTreeSet<(i32, u32)> = plan
            .staged
            .iter()
            .map(|(_, _, e)| {
                let t = e.meta().event_time;
                (t.year(), t.month())
            })
            .collect();
        self.ensure_partitions(c, &months)?;
        // Keys in one order in every transaction, so that two collectors storing overlapping
        // retried batches wait for each other instead of deadlocking.
        let mut keys: Vec<(&str, i128, NaiveDateTime)> = plan
            .staged
            .iter()
            .map(|(_, k, e)| (e.meta().tenant.as_str(), *k, naive(e.meta().event_time)))
            .collect();
        keys.sort_unstable_by(|a, b| (a.0, a.1 as u128).cmp(&(b.0, b.1 as u128)));
        let tenants: Vec<&str> = keys.iter().map(|k| k.0).collect();
        let uuids: Vec<uuid::Uuid> = keys
            .iter()
            .map(|k| uuid::Uuid::from_u128(k.1 as u128))
            .collect();
        let times: Vec<NaiveDateTime> = keys.iter().map(|k| k.2).collect();
        let mut tx = c.transaction()?;
        let inserted: KeySet = tx
            .query(
                "INSERT INTO event_keys (tenant, event_key, event_time)
                 SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamp[])
                 ON CONFLICT DO NOTHING RETURNING event_key",
                &[&tenants, &uuids, &times],
            )?
            .iter()
            .map(|r| r.try_get::<_, uuid::Uuid>(0).map(|u| u.as_u128() as i128))
            .collect::<Result<_, _>>()?;
        plan.settle(&inserted);
        copy_rows(
            &mut tx,
            "events",
            plan.staged.iter().map(|(_, key, e)| event_row(*key, e)),
        )?;
        copy_rows(
            &mut tx,
            "launches",
            plan.staged.iter().filter_map(|(_, key, e)| match &e.kind {
                EventKind::Launch(r) => Some(launch_row(*key, r)),
                _ => None,
            }),
        )?;
        // One statement for all marks: a chunk of a term-long file can mark a thousand hours.
        let marks = plan.rollup_marks();
        if !marks.is_empty() {
            let (mut tenants, mut hours, mut kinds) = (Vec::new(), Vec::new(), Vec::new());
            for (tenant, hour, kind) in marks {
                tenants.push(tenant);
                hours.push(naive(hour));
                kinds.push(kind);
            }
            tx.execute(
                "INSERT INTO rollup_marks (tenant, hour, kind)
                 SELECT * FROM unnest($1::text[], $2::timestamp[], $3::text[])",
                &[&tenants, &hours, &kinds],
            )?;
        }
        for l in plan.log_rows() {
            tx.execute(
                "INSERT INTO ingest_log VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &naive(l.received_at),
                    &l.origin,
                    &l.source.as_str(),
                    &l.launches,
                    &l.non_lti,
                    &l.duplicates,
                ],
            )?;
        }
        for r in plan.quarantine_rows() {
            let values = r.values();
            let params: Vec<&(dyn ToSql + Sync)> =
                values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            let stored = tx.execute(
                "INSERT INTO quarantine
                     (received_at, source, origin, item_index, reason_code, reason, body, item_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (item_key) DO NOTHING",
                &params,
            )?;
            if stored == 0 {
                plan.quarantine_repeat(r.batch);
            }
        }
        tx.commit()?;
        Ok(plan.outcomes())
    }

    /// Answers questions from rollups (already refreshed), each when they can answer it
    /// exactly, in one read.
    pub(crate) fn answer_rollup(
        &self,
        qs: &[Question],
        f: &ReportFilter,
        p: &Params,
    ) -> Result<Vec<Option<Table>>, StoreError> {
        lanes::answer(
            qs,
            || rollup::answer(&mut PgDb(&mut *self.client()?), qs, f, p),
            || self.spare(),
            |c, lane| rollup::answer(&mut PgDb(c), lane, f, p),
            |c| self.release(c),
        )
    }

    /// Answers one question from the launch records, never from rollups.
    pub(crate) fn answer_raw(
        &self,
        q: Question,
        f: &ReportFilter,
        p: &Params,
    ) -> Result<Table, StoreError> {
        let (sql, args) = sql_for(Dialect::Pg, q, f, p);
        let sql = Dialect::Pg.markers(sql);
        let args = pg_args(&args);
        let rows = self.client()?.query(&sql, &refs(&args))?;
        let columns = q.columns();
        let mut table = Table::new(q.name(), columns);
        for r in rows {
            table.rows.push(read_cells(columns, &r)?);
        }
        Ok(table)
    }

    pub(crate) fn has_launches(&self) -> Result<bool, StoreError> {
        Ok(self
            .client()?
            .query_one("SELECT EXISTS (SELECT 1 FROM launches)", &[])?
            .try_get(0)?)
    }

    /// Every launch record of the filter as CSV, by PostgreSQL's own `COPY ... TO STDOUT`,
    /// counted in the same snapshot.
    pub(crate) fn export_csv(&self, f: &ReportFilter, path: &Path) -> Result<u64, StoreError> {
        let mut file = std::fs::File::create(path)
            .map_err(|e| StoreError::Export(format!("{}: {e}", path.display())))?;
        let (select, _) = export_select(Dialect::Pg, f, true, true);
        let mut c = self.client()?;
        let mut tx = c
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let n: i64 = tx
            .query_one(&format!("SELECT count(*) FROM ({select}) x"), &[])?
            .try_get(0)?;
        {
            let mut reader =
                tx.copy_out(&format!("COPY ({select}) TO STDOUT (FORMAT csv, HEADER)"))?;
            std::io::copy(&mut reader, &mut file).map_err(|e| StoreError::Export(e.to_string()))?;
        }
        tx.commit()?;
        Ok(n.max(0) as u64)
    }

    /// Calls `row` with every launch record of the filter as (column name, JSON value) pairs,
    /// streamed from the server.
    pub(crate) fn export_rows(
        &self,
        f: &ReportFilter,
        row: &mut crate::ExportRowSink<'_>,
    ) -> Result<u64, StoreError> {
        let (sql, args) = export_select(Dialect::Pg, f, true, false);
        let sql = Dialect::Pg.markers(sql);
        let args = pg_args(&args);
        let mut c = self.client()?;
        let mut rows = c.query_raw(&sql, refs(&args))?;
        let mut n = 0u64;
        let mut values: Vec<(&'static str, serde_json::Value)> = Vec::new();
        while let Some(r) = rows.next()? {
            export_values(&r, &mut values)?;
            row(&values).map_err(|e| StoreError::Export(e.to_string()))?;
            n += 1;
        }
        Ok(n)
    }

    /// Every launch record of the filter as Parquet: streamed from PostgreSQL into a scratch
    /// DuckDB file beside the output, written by DuckDB's Parquet writer, then removed.
    pub(crate) fn export_parquet(&self, f: &ReportFilter, path: &Path) -> Result<u64, StoreError> {
        let scratch = path.with_extension("parquet-scratch.duckdb");
        let _ = std::fs::remove_file(&scratch);
        let result = self.export_parquet_via(f, path, &scratch);
        let _ = std::fs::remove_file(&scratch);
        let _ = std::fs::remove_file(scratch.with_extension("duckdb.wal"));
        result
    }

    fn export_parquet_via(
        &self,
        f: &ReportFilter,
        path: &Path,
        scratch: &Path,
    ) -> Result<u64, StoreError> {
        let duck = crate::duck::DuckStore::connect(scratch)?;
        let columns = EXPORT_FIELDS
            .iter()
            .map(|(name, kind)| {
                let ty = match kind {
                    ExportKind::Time => "TIMESTAMP",
                    ExportKind::Bool => "BOOLEAN",
                    ExportKind::Text | ExportKind::Json => "VARCHAR",
                };
                format!("{name} {ty}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let (sql, args) = export_select(Dialect::Pg, f, false, false);
        let sql = Dialect::Pg.markers(sql);
        let args = pg_args(&args);
        let mut c = self.client()?;
        let mut rows = c.query_raw(&sql, refs(&args))?;
        let n = duck.load_and_copy_parquet(&columns, path, |append| {
            while let Some(r) = rows.next()? {
                let mut values = Vec::with_capacity(EXPORT_FIELDS.len());
                for (i, (_, kind)) in EXPORT_FIELDS.iter().enumerate() {
                    // Times and the test-user flag are NOT NULL columns.
                    values.push(match kind {
                        ExportKind::Time => Val::Time(utc(r.try_get::<_, NaiveDateTime>(i)?)),
                        ExportKind::Bool => Val::Bool(r.try_get(i)?),
                        ExportKind::Text | ExportKind::Json => Val::Owned(r.try_get(i)?),
                    });
                }
                append(values)?;
            }
            Ok(())
        })?;
        Ok(n)
    }

    pub(crate) fn find_text(&self, needle: &str) -> Result<Vec<(String, String, u64)>, StoreError> {
        let mut c = self.client()?;
        // Every text column of every table of the schema, partitions counted through their
        // parent once.
        let columns: Vec<(String, String)> = c
            .query(
                "SELECT col.table_name::TEXT, col.column_name::TEXT
                 FROM information_schema.columns col
                 JOIN pg_class cls ON cls.relname = col.table_name
                 JOIN pg_namespace ns ON ns.oid = cls.relnamespace AND ns.nspname = col.table_schema
                 WHERE col.table_schema = current_schema() AND col.data_type = 'text'
                   AND NOT cls.relispartition
                 ORDER BY 1, 2",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, postgres::Error>>()?;
        let mut found = Vec::new();
        for (table, column) in columns {
            // Names come from the catalogue, not from input; quoted all the same.
            let sql = format!(
                "SELECT count(*) FROM \"{}\" WHERE strpos(\"{}\", $1) > 0",
                table.replace('"', "\"\""),
                column.replace('"', "\"\"")
            );
            let n: i64 = c.query_one(&sql, &[&needle])?.try_get(0)?;
            if n > 0 {
                found.push((table, column, n as u64));
            }
        }
        Ok(found)
    }

    pub(crate) fn event_id_counts(&self, source: Source) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = self.client()?.query(
            "SELECT event_id, count(*) FROM events WHERE source = $1 GROUP BY event_id ORDER BY 1",
            &[&source.as_str()],
        )?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u64)))
            .collect()
    }

    pub(crate) fn quarantine_list(
        &self,
        reason: Option<&str>,
        limit: usize,
    ) -> Result<Vec<QuarantinedItem>, StoreError> {
        let rows = self.client()?.query(
            "SELECT id, received_at, source, origin, reason_code, reason, body
             FROM quarantine WHERE replayed_at IS NULL AND ($1::TEXT IS NULL OR reason_code = $1)
             ORDER BY id DESC LIMIT $2",
            &[&reason, &(limit as i64)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(QuarantinedItem {
                    id: r.try_get(0)?,
                    received_at: utc(r.try_get(1)?),
                    source: r
                        .try_get::<_, Option<String>>(2)?
                        .and_then(|s| s.parse().ok()),
                    origin: r.try_get(3)?,
                    reason_code: r.try_get(4)?,
                    reason: r.try_get(5)?,
                    body: r.try_get(6)?,
                })
            })
            .collect()
    }

    pub(crate) fn quarantine_mark_replayed(
        &mut self,
        ids: &[i64],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.client()?.execute(
            "UPDATE quarantine SET replayed_at = $1 WHERE id = ANY($2)",
            &[&naive(at), &ids],
        )?;
        Ok(())
    }

    pub(crate) fn key_insert(
        &mut self,
        name: &str,
        scope: &str,
        key_hash: &str,
        key_prefix: &str,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        Ok(self
            .client()?
            .query_one(
                "INSERT INTO api_keys (name, scope, key_hash, key_prefix, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&name, &scope, &key_hash, &key_prefix, &naive(at)],
            )?
            .try_get(0)?)
    }

    pub(crate) fn keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows = self.client()?.query(
            "SELECT id, name, scope, key_hash, key_prefix, created_at, revoked_at
             FROM api_keys ORDER BY id",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                Ok(ApiKeyRow {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    scope: r.try_get(2)?,
                    key_hash: r.try_get(3)?,
                    key_prefix: r.try_get(4)?,
                    created_at: utc(r.try_get(5)?),
                    revoked_at: r.try_get::<_, Option<NaiveDateTime>>(6)?.map(utc),
                })
            })
            .collect()
    }

    pub(crate) fn key_revoke(&mut self, id: i64, at: Timestamp) -> Result<bool, StoreError> {
        let n = self.client()?.execute(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            &[&naive(at), &id],
        )?;
        Ok(n > 0)
    }

    /// Removes everything that happened before `before`: whole monthly partitions are dropped,
    /// the month that straddles `before` is trimmed row by row. With `dry_run`, only counts.
    pub(crate) fn purge(
        &mut self,
        before: Timestamp,
        dry_run: bool,
    ) -> Result<PurgeOutcome, StoreError> {
        let mut c = self.client()?;
        // Under the rollup lock: the purge rewrites rollup rows that a refresh (of any
        // collector, or of a report) must not rewrite at the same time.
        with_rollup_lock(&mut c, |c| {
            let cutoff = naive(before);
            let mut tx = c.transaction()?;
            let counts = tx.query_one(
                &Dialect::Pg.markers(purge_counts()),
                &[&cutoff, &cutoff, &cutoff, &cutoff],
            )?;
            let outcome = purge_outcome([
                counts.try_get(0)?,
                counts.try_get(1)?,
                counts.try_get(2)?,
                counts.try_get(3)?,
            ]);
            if dry_run {
                tx.commit()?;
                return Ok(outcome);
            }
            // Serialised with partition creation: no collector creates a month while it is dropped.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
            let partitions: Vec<String> = tx
                .query(
                    "SELECT c.relname::TEXT FROM pg_inherits i
                     JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent IN ('events'::regclass, 'launches'::regclass)",
                    &[],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            let mut dropped = 0;
            for name in partitions {
                let Some((_, suffix)) = name.split_once('_') else {
                    continue;
                };
                let Some((y, m)) = parse_month_suffix(suffix) else {
                    continue;
                };
                let (_, end) = month_bounds(y, m);
                if end <= cutoff.date() {
                    // The name came from the catalogue and matched our own pattern.
                    tx.batch_execute(&format!("DROP TABLE \"{name}\""))?;
                    dropped += 1;
                }
            }
            tx.execute("DELETE FROM event_keys WHERE event_time < $1", &[&cutoff])?;
            for sql in purge_deletes() {
                tx.execute(&Dialect::Pg.markers(sql), &[&cutoff])?;
            }
            rollup::purge(&mut PgDb(&mut tx), before)?;
            tx.commit()?;
            Ok(PurgeOutcome {
                partitions_dropped: dropped,
                ..outcome
            })
        })
    }
}

/// `p2026_11`: the suffix of a month's partitions.
fn month_suffix(year: i32, month: u32) -> String {
    if year < 0 {
        format!("pm{:04}_{month:02}", -year)
    } else {
        format!("p{year:04}_{month:02}")
    }
}

fn parse_month_suffix(s: &str) -> Option<(i32, u32)> {
    let rest = s.strip_prefix('p')?;
    let (neg, rest) = match rest.strip_prefix('m') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (y, m) = rest.split_once('_')?;
    let y: i32 = y.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    (1..=12)
        .contains(&m)
        .then_some((if neg { -y } else { y }, m))
}

/// The first day of the month and of the next month.
fn month_bounds(year: i32, month: u32) -> (NaiveDate, NaiveDate) {
    let from = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default();
    let to = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .unwrap_or(NaiveDate::MAX);
    (from, to)
}

/// The parameters of a shared query as driver values.
fn pg_args(args: &[Arg]) -> Vec<Box<dyn ToSql + Sync>> {
    args.iter()
        .map(|a| -> Box<dyn ToSql + Sync> {
            match a {
                Arg::Text(s) => Box::new(s.clone()),
                Arg::Time(t) => Box::new(naive(*t)),
                Arg::Int(n) => Box::new(*n),
                Arg::Date(d) => Box::new(*d),
            }
        })
        .collect()
}

fn refs(args: &[Box<dyn ToSql + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|b| b.as_ref()).collect()
}

/// Binary-`COPY`s rows into `table`, in its column order (the order of `write::event_row`
/// and `write::launch_row`, as for DuckDB's appender), with the column types read off the
/// values. Sends nothing when there are no rows.
fn copy_rows<'a, R: AsRef<[Val<'a>]>>(
    tx: &mut impl GenericClient,
    table: &str,
    rows: impl Iterator<Item = R>,
) -> Result<(), StoreError> {
    let mut rows = rows.peekable();
    let Some(first) = rows.peek() else {
        return Ok(());
    };
    let types: Vec<Type> = first.as_ref().iter().map(Val::pg_type).collect();
    let mut w = BinaryCopyInWriter::new(
        tx.copy_in(&format!("COPY {table} FROM STDIN BINARY"))?,
        &types,
    );
    for row in rows {
        w.write_raw(row.as_ref().iter())?;
    }
    w.finish()?;
    Ok(())
}

impl Val<'_> {
    /// The PostgreSQL type of the column this value goes to (a NULL keeps its variant).
    fn pg_type(&self) -> Type {
        match self {
            Val::Key(_) => Type::UUID,
            Val::Text(_) | Val::Owned(_) => Type::TEXT,
            Val::Time(_) => Type::TIMESTAMP,
            Val::Int(_) => Type::INT8,
            Val::Bool(_) => Type::BOOL,
            Val::Date(_) => Type::DATE,
            Val::Blob(_) => Type::BYTEA,
        }
    }
}

impl RowRead for postgres::Row {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn float(&self, i: usize) -> Result<Option<f64>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn boolean(&self, i: usize) -> Result<Option<bool>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn text_ref(&self, i: usize) -> Result<Option<&str>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn bytes(&self, i: usize) -> Result<Option<&[u8]>, StoreError> {
        Ok(self.try_get(i)?)
    }
}

/// A PostgreSQL connection (or open transaction) as the rollup code uses it.
struct PgDb<'a, C: GenericClient>(&'a mut C);

impl<C: GenericClient> Db for PgDb<'_, C> {
    fn dialect(&self) -> Dialect {
        Dialect::Pg
    }

    fn each(
        &mut self,
        sql: &str,
        args: &[Arg],
        row: &mut dyn FnMut(&dyn RowRead) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let sql = Dialect::Pg.markers(sql.to_owned());
        let args = pg_args(args);
        let mut rows = self.0.query_raw(&sql, refs(&args))?;
        while let Some(r) = rows.next()? {
            row(&r)?;
        }
        Ok(())
    }

    fn exec(&mut self, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
        let sql = Dialect::Pg.markers(sql.to_owned());
        let args = pg_args(args);
        Ok(self.0.execute(&sql, &refs(&args))?)
    }

    fn append(&mut self, table: &str, rows: &[Vec<Val<'_>>]) -> Result<(), StoreError> {
        copy_rows(self.0, table, rows.iter())
    }
}

/// A refresh's transactions: each in one repeatable-read snapshot, so that what it reads
/// agrees with itself.
impl Transact for Client {
    fn transact(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Db) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .start()?;
        // Refreshes read whole days of launch records, often right after a bulk load,
        // before PostgreSQL has statistics for them: it then estimates one row and joins
        // the launches to their returns by nested loop, re-aggregating the returns for
        // every launch (minutes per week of a term instead of a second). Hash joins are
        // right for these queries whatever the statistics say.
        tx.batch_execute("SET LOCAL enable_nestloop = off")?;
        work(&mut PgDb(&mut tx))?;
        tx.commit()?;
        Ok(())
    }
}

impl PgStore {
    /// Rolls up what any collector stored since the last refresh, under the rollup lock, with a
    /// spare connection beside this one when there are months to share (`rollup::refresh`).
    pub(crate) fn refresh_rollups(&self) -> Result<RefreshOutcome, StoreError> {
        let mut c = self.client()?;
        if !rollup::pending(&mut PgDb(&mut *c))? {
            return Ok(RefreshOutcome::default());
        }
        with_rollup_lock(&mut c, |c| {
            rollup::refresh(c, || self.spare(), |lane| self.release(lane))
        })
    }

    /// Runs `read` on this database as the backend-neutral `Db`, outside any transaction.
    pub(crate) fn read<R>(
        &self,
        read: impl FnOnce(&mut dyn rollup::Db) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        read(&mut PgDb(&mut *self.client()?))
    }

    /// Runs `change` in one transaction under the rollup lock, so no refresh reads what it
    /// changes half done (tool naming, the rollup settings, a re-derive).
    pub(crate) fn change<R>(
        &mut self,
        change: impl FnOnce(&mut dyn rollup::Db) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut c = self.client()?;
        with_rollup_lock(&mut c, |c| {
            let mut tx = c.transaction()?;
            // These join launch records by hash, not by a loop over them, whatever the
            // statistics of a fresh table say (as the refresh).
            tx.batch_execute("SET LOCAL enable_nestloop = off")?;
            let out = change(&mut PgDb(&mut tx))?;
            tx.commit()?;
            Ok(out)
        })
    }
}

impl PgStore {
    /// Rewrites every table of the schema (`VACUUM (FULL, ANALYZE)`, partitions one by one),
    /// so the space of deleted and replaced rows is returned and their bytes leave the live
    /// files. Each table is locked while it is rewritten: writes to it wait. Returns the
    /// database's size before and after.
    pub(crate) fn compact(&mut self) -> Result<(u64, u64), StoreError> {
        let mut c = self.client()?;
        let size = |c: &mut Client| -> Result<u64, StoreError> {
            let n: i64 = c
                .query_one("SELECT pg_database_size(current_database())", &[])?
                .get(0);
            Ok(n.max(0) as u64)
        };
        let before = size(&mut c)?;
        let tables: Vec<String> = c
            .query(
                // Plain tables and partitions, not the partitioned parents: a VACUUM of a
                // parent rewrites its partitions, which would then be rewritten again.
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY 1",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for t in tables {
            c.batch_execute(&format!(
                "VACUUM (FULL, ANALYZE) \"{}\"",
                t.replace('"', "\"\"")
            ))?;
        }
        let after = size(&mut c)?;
        Ok((before, after))
    }
}

/// Runs `f` holding the rollup lock: a session lock taken before `f` opens its transaction, so
/// a refresh that waited sees what the one before it committed. Released whatever `f` returns.
fn with_rollup_lock<T>(
    c: &mut Client,
    f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    c.execute("SELECT pg_advisory_lock($1)", &[&ROLLUP_LOCK])?;
    let result = f(c);
    let unlocked = c.execute("SELECT pg_advisory_unlock($1)", &[&ROLLUP_LOCK]);
    let value = result?;
    unlocked?;
    Ok(value)
}

impl ToSql for Val<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Key(k) => uuid::Uuid::from_u128(*k as u128).to_sql(ty, out),
            Val::Text(s) => s.to_sql(ty, out),
            Val::Owned(s) => s.as_deref().to_sql(ty, out),
            Val::Time(t) => naive(*t).to_sql(ty, out),
            Val::Int(n) => n.to_sql(ty, out),
            Val::Bool(b) => b.to_sql(ty, out),
            Val::Date(d) => d.to_sql(ty, out),
            Val::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::UUID
                | Type::TEXT
                | Type::VARCHAR
                | Type::TIMESTAMP
                | Type::INT8
                | Type::BOOL
                | Type::DATE
                | Type::BYTEA
        )
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lanes_reuse_their_spare_connections() {
        let db = crate::testing::TempDatabase::create();
        let store = PgStore::open(db.url(), &mut |_| {}).expect("open");
        let (f, p) = (ReportFilter::default(), Params::new(chrono::Utc::now()));
        // Three lanes: the course questions, the roles, the shared read.
        let qs = [Question::Courses, Question::Roles, Question::Totals];
        for _ in 0..3 {
            let answers = store.answer_rollup(&qs, &f, &p).expect("answer");
            assert_eq!(answers.len(), qs.len());
        }
        // Each report gave its three connections back and the next took them again (opening
        // new ones each time would have filled the spares to their limit of four).
        assert_eq!(lock(&store.spares).len(), 3);
    }

    #[test]
    fn month_suffixes_round_trip_and_bound_the_month() {
        for (y, m) in [(2026, 11), (2026, 12), (1970, 1), (-1, 3)] {
            assert_eq!(parse_month_suffix(&month_suffix(y, m)), Some((y, m)));
        }
        assert_eq!(parse_month_suffix("p2026_13"), None);
        assert_eq!(parse_month_suffix("keys"), None);
        let (from, to) = month_bounds(2026, 12);
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("2026-12-01".into(), "2027-01-01".into())
        );
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example.edu:5432/ltiscope"),
            "postgres://app:***@db.example.edu:5432/ltiscope"
        );
        assert_eq!(
            redact_url("postgres://root@127.0.0.1/test"),
            "postgres://root@127.0.0.1/test"
        );
    }
}
