//! The embedded DuckDB backend.

mod report;
mod schema;

use crate::{ApiKeyRow, QuarantinedItem, StoreError, WriteBatch, WriteOutcome, event_key};
use duckdb::types::{TimeUnit, Value};
use duckdb::{Connection, params};
use ltiscope_ingest::{EventKind, RejectedBody};
use ltiscope_model::report::ReportFilter;
use ltiscope_model::{LaunchRecord, Source, Timestamp};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// A DuckDB database file.
pub struct DuckStore {
    conn: Connection,
    path: String,
}

fn ts(t: Timestamp) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, t.timestamp_micros())
}

fn from_micros(us: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}

fn hash64(tenant: &str, key: &str) -> i64 {
    let mut buf = Vec::with_capacity(tenant.len() + key.len() + 1);
    buf.extend_from_slice(tenant.as_bytes());
    buf.push(0);
    buf.extend_from_slice(key.as_bytes());
    xxhash_rust::xxh3::xxh3_64(&buf) as i64
}

impl DuckStore {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        // A bounded buffer pool: DuckDB would otherwise cache up to 80% of RAM; written pages
        // are evictable, so a small pool costs little and keeps the footprint flat.
        let config = duckdb::Config::default()
            .max_memory("256MB")
            .and_then(|c| c.threads(2));
        let conn = config
            .and_then(|c| Connection::open_with_flags(path, c))
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        let store = DuckStore {
            conn,
            path: path.display().to_string(),
        };
        store.migrate()?;
        Ok(store)
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Another connection to the same database: reads through it see committed data and run
    /// beside the writer (DuckDB is multi-version within one process).
    pub(crate) fn try_clone(&self) -> Result<Self, StoreError> {
        Ok(DuckStore {
            conn: self.conn.try_clone()?,
            path: self.path.clone(),
        })
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
        let filter = report::Filter::launches(f).inlined();
        let format = if parquet {
            "FORMAT PARQUET, COMPRESSION ZSTD"
        } else {
            "FORMAT CSV, HEADER"
        };
        let sql = format!(
            "COPY (SELECT {} FROM launches WHERE true {filter} ORDER BY event_time, event_id)
             TO {} ({format})",
            export_columns(false),
            report::quote(&path.display().to_string())
        );
        Ok(self.conn.execute(&sql, [])? as u64)
    }

    /// Calls `row` with every launch record of the filter as (column name, JSON value) pairs.
    pub(crate) fn export_rows(
        &self,
        f: &ReportFilter,
        row: &mut crate::ExportRowSink<'_>,
    ) -> Result<u64, StoreError> {
        let filter = report::Filter::launches(f);
        let sql = format!(
            "SELECT {} FROM launches WHERE true {} ORDER BY event_time, event_id",
            export_columns(true),
            filter.sql
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(duckdb::params_from_iter(filter.args.iter()))?;
        let mut n = 0u64;
        let mut values: Vec<(&'static str, serde_json::Value)> = Vec::new();
        while let Some(r) = rows.next()? {
            values.clear();
            for (i, (name, kind)) in EXPORT_FIELDS.iter().enumerate() {
                let v = match kind {
                    ExportKind::Text | ExportKind::Time => r
                        .get::<_, Option<String>>(i)?
                        .map_or(serde_json::Value::Null, serde_json::Value::String),
                    ExportKind::Bool => r
                        .get::<_, Option<bool>>(i)?
                        .map_or(serde_json::Value::Null, serde_json::Value::Bool),
                    ExportKind::Json => r
                        .get::<_, Option<String>>(i)?
                        .and_then(|s| serde_json::from_str(&s).ok())
                        .unwrap_or(serde_json::Value::Null),
                };
                values.push((*name, v));
            }
            row(&values).map_err(|e| StoreError::Export(e.to_string()))?;
            n += 1;
        }
        Ok(n)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)",
        )?;
        let current = self.schema_version()?;
        let known = schema::MIGRATIONS.last().map_or(0, |m| m.0);
        if current > known {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known,
            });
        }
        for (version, name, sql) in schema::MIGRATIONS.iter().filter(|m| m.0 > current) {
            let tx = self.conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now())",
                params![version, name],
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    pub(crate) fn set_checkpoint_threshold(&mut self, bytes: u64) -> Result<(), StoreError> {
        self.conn
            .execute_batch(&format!("SET checkpoint_threshold = '{bytes}B'"))?;
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
        let mut outcomes = vec![WriteOutcome::default(); batches.len()];
        // Per (batch, source): (launches, non-LTI, duplicates), for the ingest log.
        let mut per_source: HashMap<(usize, Source), (u64, u64, u64)> = HashMap::new();
        // Repeats inside the batches are duplicates too; only the first copy is staged.
        let mut seen = HashSet::new();
        let mut staged = Vec::new();
        for (b, batch) in batches.iter().enumerate() {
            for e in &batch.events {
                let key = event_key(e.get().meta());
                if seen.insert(key) {
                    staged.push((b, key, e.get()));
                } else {
                    outcomes[b].duplicates += 1;
                    per_source.entry((b, e.get().meta().source)).or_default().2 += 1;
                }
            }
        }
        let tx = self.conn.transaction()?;
        // Which keys are new: the primary key of `event_keys` decides, and RETURNING says.
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS stage_keys (event_key HUGEINT);
             DELETE FROM stage_keys;",
        )?;
        {
            let mut app = tx.appender("stage_keys")?;
            for (_, key, _) in &staged {
                app.append_row(params![key])?;
            }
            app.flush()?;
        }
        let inserted: HashSet<i128> = {
            let mut stmt = tx.prepare(
                "INSERT OR IGNORE INTO event_keys SELECT event_key FROM stage_keys RETURNING event_key",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, i128>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        {
            let mut app = tx.appender("events")?;
            for (_, key, e) in staged.iter().filter(|(_, k, _)| inserted.contains(k)) {
                let m = e.meta();
                let kind = match &e.kind {
                    EventKind::Launch(_) => "launch",
                    EventKind::Other(_) => "other",
                    EventKind::Entity(_) => "entity",
                };
                app.append_row(params![
                    key,
                    m.source.as_str(),
                    m.tenant,
                    m.event_id,
                    kind,
                    m.event_type,
                    m.raw_action,
                    ts(m.event_time),
                    ts(m.received_at),
                    e.body,
                ])?;
            }
            app.flush()?;
        }
        {
            let mut app = tx.appender("launches")?;
            for (b, key, e) in &staged {
                let entry = per_source.entry((*b, e.meta().source)).or_default();
                let outcome = &mut outcomes[*b];
                if !inserted.contains(key) {
                    outcome.duplicates += 1;
                    entry.2 += 1;
                    continue;
                }
                match &e.kind {
                    EventKind::Launch(r) => {
                        outcome.launches += 1;
                        entry.0 += 1;
                        append_launch(&mut app, *key, r)?;
                    }
                    EventKind::Other(_) | EventKind::Entity(_) => {
                        outcome.non_lti += 1;
                        entry.1 += 1;
                    }
                }
            }
            app.flush()?;
        }
        {
            let mut stmt = tx.prepare("INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?)")?;
            for ((b, source), (launches, non_lti, dups)) in &per_source {
                let batch = batches[*b];
                stmt.execute(params![
                    ts(batch.received_at.unwrap_or_else(chrono::Utc::now)),
                    batch.origin,
                    source.as_str(),
                    *launches as i64,
                    *non_lti as i64,
                    *dups as i64
                ])?;
            }
            let mut q = tx.prepare(
                "INSERT INTO quarantine (received_at, source, origin, item_index, reason_code, reason, body)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )?;
            for (b, batch) in batches.iter().enumerate() {
                let received_at = batch.received_at.unwrap_or_else(chrono::Utc::now);
                for r in &batch.rejected {
                    let r = r.get();
                    let body = match &r.body {
                        RejectedBody::Json(v) => v.to_string(),
                        RejectedBody::Text(t) => t.clone(),
                    };
                    q.execute(params![
                        ts(received_at),
                        batch.source_hint.map(Source::as_str),
                        batch.origin,
                        r.index as i64,
                        r.reason.code(),
                        r.reason.to_string(),
                        body
                    ])?;
                    outcomes[b].quarantined += 1;
                }
            }
        }
        tx.commit()?;
        Ok(outcomes)
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

/// How an exported column is read for JSON Lines.
enum ExportKind {
    Text,
    Time,
    Bool,
    Json,
}

/// The exported columns: every field of the canonical record an analyst needs, in one order
/// for CSV, Parquet and JSON Lines.
const EXPORT_FIELDS: &[(&str, ExportKind)] = &[
    ("source", ExportKind::Text),
    ("tenant", ExportKind::Text),
    ("event_id", ExportKind::Text),
    ("action", ExportKind::Text),
    ("event_time", ExportKind::Time),
    ("received_at", ExportKind::Time),
    ("user_key", ExportKind::Text),
    ("user_platform_id", ExportKind::Text),
    ("user_external_id", ExportKind::Text),
    ("role", ExportKind::Text),
    ("roles_raw", ExportKind::Json),
    ("test_user", ExportKind::Bool),
    ("impersonator", ExportKind::Text),
    ("course_key", ExportKind::Text),
    ("course_label", ExportKind::Text),
    ("course_title", ExportKind::Text),
    ("course_number", ExportKind::Text),
    ("org_unit_type", ExportKind::Text),
    ("tool_id", ExportKind::Text),
    ("tool_name", ExportKind::Text),
    ("tool_match", ExportKind::Text),
    ("launch_url", ExportKind::Text),
    ("launch_host", ExportKind::Text),
    ("consumer_key", ExportKind::Text),
    ("client_id", ExportKind::Text),
    ("deployment_id", ExportKind::Text),
    ("tool_provider_id", ExportKind::Text),
    ("lti_version", ExportKind::Text),
    ("message_type", ExportKind::Text),
    ("resource_link_id", ExportKind::Text),
    ("launch_id", ExportKind::Text),
    ("session_id", ExportKind::Text),
    ("locale", ExportKind::Text),
];

/// The export select list: typed columns for `COPY` (Parquet keeps timestamps and booleans),
/// times as RFC 3339 text for JSON Lines.
fn export_columns(json: bool) -> String {
    EXPORT_FIELDS
        .iter()
        .map(|(name, kind)| match kind {
            ExportKind::Time if json => format!("strftime({name}, '%Y-%m-%dT%H:%M:%S.%gZ')"),
            _ => (*name).to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn append_launch(
    app: &mut duckdb::Appender<'_>,
    key: i128,
    r: &LaunchRecord,
) -> Result<(), duckdb::Error> {
    let m = &r.meta;
    let user_key = r.user.key();
    let course_key = r.course.key();
    let link = r
        .resource_link_id
        .as_deref()
        .or(r.tool.launch_url.as_deref())
        .unwrap_or("");
    let roles_raw = serde_json::Value::from(r.roles.raw.clone()).to_string();
    let metrics = (!r.metrics.is_empty()).then(|| {
        serde_json::Value::from(
            r.metrics
                .iter()
                .map(|(n, v, max)| serde_json::json!([n, v, max]))
                .collect::<Vec<_>>(),
        )
        .to_string()
    });
    app.append_row(params![
        key,
        m.source.as_str(),
        m.tenant,
        m.event_id,
        r.action.as_str(),
        ts(m.event_time),
        ts(m.received_at),
        user_key,
        user_key.map(|u| hash64(&m.tenant, u)),
        r.user.platform_id,
        r.user.iri,
        r.user.external_id,
        r.roles.bucket.as_str(),
        roles_raw,
        r.roles.test_user,
        r.impersonator,
        course_key,
        course_key.map(|c| hash64(&m.tenant, c)),
        r.course.platform_id,
        r.course.iri,
        r.course.label,
        r.course.title,
        r.course.course_number,
        r.course.org_unit_type,
        r.tool_identity.id,
        r.tool_identity.name,
        r.tool_identity.matched_by.as_str(),
        r.tool.launch_url,
        r.tool.host,
        r.tool.consumer_key,
        r.tool.client_id,
        r.tool.deployment_id,
        r.tool.tool_provider_id,
        r.lti_version.map(|v| v.as_str()),
        r.message_type,
        r.resource_link_id,
        r.launch_id,
        r.session_id,
        r.locale,
        metrics,
        visit_key(&m.tenant, user_key, &r.tool_identity.id, link),
    ])
}

/// The visit key: one integer per (tenant, user, tool, link), where the link is the resource
/// link id, else the launch URL. Launches with the same key less than the visit window apart
/// are one visit.
fn visit_key(tenant: &str, user: Option<&str>, tool: &str, link: &str) -> i64 {
    let mut buf = Vec::with_capacity(tenant.len() + tool.len() + link.len() + 40);
    for part in [tenant, user.unwrap_or(""), tool, link] {
        buf.extend_from_slice(part.as_bytes());
        buf.push(0);
    }
    xxhash_rust::xxh3::xxh3_64(&buf) as i64
}
