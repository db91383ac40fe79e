//! The SQL both backends share. Every report question, the export select list and the filter
//! conditions are written once here, in the SQL that DuckDB and PostgreSQL both speak; the few
//! spellings that differ (epoch seconds, percentiles, "any value", day text, parameter
//! markers) come from [`Dialect`].
//!
//! Values from users (tenant, tool, course, user ids) are always bound as parameters ([`Arg`]);
//! only numbers and timestamps this code formats itself are written into the SQL text, except
//! in `COPY`, which takes no parameters and gets [`Filter::inlined`].

mod export;
mod questions;

pub(crate) use export::{EXPORT_FIELDS, ExportKind, export_select, json_value};
pub(crate) use questions::{CourseNames, courses_sql, sql_for};

use ltiscope_model::report::{Cell, ColumnKind, Params, ReportFilter};
use ltiscope_model::{Source, Timestamp};

/// The SQL dialect of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// DuckDB.
    Duck,
    /// PostgreSQL (13 or newer).
    Pg,
}

impl Dialect {
    /// Seconds since the epoch of a timestamp expression, as a double.
    pub(crate) fn epoch(self, e: &str) -> String {
        match self {
            Dialect::Duck => format!("epoch({e})"),
            Dialect::Pg => format!("extract(epoch FROM {e})::FLOAT8"),
        }
    }

    /// Microseconds since the epoch of a timestamp expression, as a BIGINT.
    pub(crate) fn epoch_us(self, e: &str) -> String {
        match self {
            Dialect::Duck => format!("epoch_us({e})"),
            Dialect::Pg => format!("(extract(epoch FROM {e}) * 1000000)::BIGINT"),
        }
    }

    /// Any one value of the group (all values are equal where this is used).
    pub(crate) fn any(self, e: &str) -> String {
        match self {
            Dialect::Duck => format!("any_value({e})"),
            Dialect::Pg => format!("min({e})"),
        }
    }

    /// The interpolated `p` quantile (0..1) of `e` over the group.
    pub(crate) fn quantile(self, e: &str, p: f64) -> String {
        match self {
            Dialect::Duck => format!("quantile_cont({e}, {p})"),
            Dialect::Pg => format!("percentile_cont({p}) WITHIN GROUP (ORDER BY {e})"),
        }
    }

    /// Several quantiles of `e` at once, as a list indexed from 1.
    pub(crate) fn quantiles(self, e: &str, ps: &[f64]) -> String {
        let list = ps.iter().map(f64::to_string).collect::<Vec<_>>().join(", ");
        match self {
            Dialect::Duck => format!("quantile_cont({e}, [{list}])"),
            Dialect::Pg => {
                format!("percentile_cont(ARRAY[{list}]::FLOAT8[]) WITHIN GROUP (ORDER BY {e})")
            }
        }
    }

    /// A date expression as `YYYY-MM-DD` text.
    pub(crate) fn day_text(self, e: &str) -> String {
        match self {
            Dialect::Duck => format!("strftime({e}, '%Y-%m-%d')"),
            Dialect::Pg => format!("to_char({e}, 'YYYY-MM-DD')"),
        }
    }

    /// A NULL of the binary type, for a set column a question does not need.
    pub(crate) fn no_bytes(self) -> &'static str {
        match self {
            Dialect::Duck => "CAST(NULL AS BLOB)",
            Dialect::Pg => "CAST(NULL AS BYTEA)",
        }
    }

    /// A timestamp expression as RFC 3339 UTC text with milliseconds.
    pub(crate) fn rfc3339(self, e: &str) -> String {
        match self {
            Dialect::Duck => format!("strftime({e}, '%Y-%m-%dT%H:%M:%S.%gZ')"),
            Dialect::Pg => format!("to_char({e}, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"),
        }
    }

    /// Rewrites the `?` parameter markers the shared SQL is written with into the backend's
    /// own (`$1`, `$2`, ... for PostgreSQL). The shared SQL holds no `?` in string literals.
    pub(crate) fn markers(self, sql: String) -> String {
        match self {
            Dialect::Duck => sql,
            Dialect::Pg => {
                let mut out = String::with_capacity(sql.len() + 16);
                let mut n = 0;
                for ch in sql.chars() {
                    if ch == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(ch);
                    }
                }
                out
            }
        }
    }
}

/// A bound parameter of a shared query; each backend turns it into its driver's type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    /// Text.
    Text(String),
    /// A UTC time.
    Time(Timestamp),
    /// An integer.
    Int(i64),
    /// A calendar day.
    Date(chrono::NaiveDate),
}

/// The fingerprint a one-row fingerprint table holds (`tool_naming`: the tool rules that named
/// the stored records; `derivation`: the parser and redaction that derived the stored events),
/// if any.
pub(crate) fn fingerprint_in(
    db: &mut dyn crate::rollup::Db,
    table: &str,
) -> Result<Option<String>, crate::StoreError> {
    let mut found = None;
    db.each(&format!("SELECT fingerprint FROM {table}"), &[], &mut |r| {
        found = r.text(0)?;
        Ok(())
    })?;
    Ok(found)
}

/// Makes a one-row fingerprint table hold `fingerprint` alone.
pub(crate) fn set_fingerprint(
    db: &mut dyn crate::rollup::Db,
    table: &str,
    fingerprint: &str,
) -> Result<(), crate::StoreError> {
    db.exec(&format!("DELETE FROM {table}"), &[])?;
    db.exec(
        &format!("INSERT INTO {table} (fingerprint) VALUES (?)"),
        &[Arg::Text(fingerprint.to_owned())],
    )?;
    Ok(())
}

/// A time read back as microseconds since the epoch (`Dialect::epoch_us`).
pub(crate) fn from_micros(us: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// A SQL timestamp literal for a time this code holds (never user text).
pub(crate) fn lit(t: Timestamp) -> String {
    format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f"))
}

/// A SQL string literal; used only where a statement takes no parameters (`COPY`).
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An interval literal of whole minutes or days, in the spelling both dialects read.
pub(crate) fn interval(n: i64, unit: &str) -> String {
    format!("INTERVAL '{n} {unit}'")
}

/// Conditions on the launches table (each starting with ` AND `), with their parameters.
pub(crate) struct Filter {
    pub(crate) sql: String,
    pub(crate) args: Vec<Arg>,
}

impl Filter {
    fn empty() -> Filter {
        Filter {
            sql: String::new(),
            args: Vec::new(),
        }
    }

    /// Every condition of the filter: time range, tenant, source, role, tool, course, test users.
    pub(crate) fn launches(f: &ReportFilter) -> Filter {
        let mut out = Filter::dims(f);
        out.range("event_time", f.from, f.to);
        out
    }

    /// The filter without its time range (dormant, health and freshness look back from now).
    pub(crate) fn dims(f: &ReportFilter) -> Filter {
        let mut out = Filter::empty();
        out.eq("tenant", f.tenant.as_deref());
        out.eq("source", f.source.map(Source::as_str));
        out.eq("role", f.role.map(|r| r.as_str()));
        out.eq("tool_id", f.tool.as_deref());
        out.eq("course_key", f.course.as_deref());
        if !f.include_test_users {
            out.sql.push_str(" AND NOT test_user");
        }
        out
    }

    /// The time range only, on another column (receipt times of the quality questions).
    pub(crate) fn received(f: &ReportFilter) -> Filter {
        let mut out = Filter::empty();
        out.range("received_at", f.from, f.to);
        out
    }

    fn eq(&mut self, column: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.sql.push_str(&format!(" AND {column} = ?"));
            self.args.push(Arg::Text(v.to_owned()));
        }
    }

    pub(crate) fn range(&mut self, column: &str, from: Option<Timestamp>, to: Option<Timestamp>) {
        if let Some(from) = from {
            self.sql.push_str(&format!(" AND {column} >= ?"));
            self.args.push(Arg::Time(from));
        }
        if let Some(to) = to {
            self.sql.push_str(&format!(" AND {column} < ?"));
            self.args.push(Arg::Time(to));
        }
    }

    /// The same conditions with the parameters written in as literals, for `COPY`, which takes
    /// no parameters. Every parameter is text (quoted) or a timestamp this code formatted.
    pub(crate) fn inlined(&self) -> String {
        let mut args = self.args.iter();
        let mut out = String::with_capacity(self.sql.len() + 64);
        for ch in self.sql.chars() {
            if ch == '?' {
                match args.next() {
                    Some(Arg::Text(s)) => out.push_str(&quote(s)),
                    Some(Arg::Time(t)) => out.push_str(&lit(*t)),
                    Some(Arg::Int(n)) => out.push_str(&n.to_string()),
                    Some(Arg::Date(d)) => out.push_str(&format!("DATE '{d}'")),
                    None => out.push_str("NULL"),
                }
            } else {
                out.push(ch);
            }
        }
        out
    }
}

/// The local day of a UTC timestamp column, as a DATE, in the report's UTC offset.
pub(crate) fn local_day(column: &str, p: &Params) -> String {
    format!(
        "CAST({column} + {} AS DATE)",
        interval(p.utc_offset_minutes.into(), "minutes")
    )
}

/// A result row of either driver, read by position.
pub(crate) trait RowRead {
    fn text(&self, i: usize) -> Result<Option<String>, crate::StoreError>;
    fn int(&self, i: usize) -> Result<Option<i64>, crate::StoreError>;
    fn float(&self, i: usize) -> Result<Option<f64>, crate::StoreError>;
    fn boolean(&self, i: usize) -> Result<Option<bool>, crate::StoreError>;
    /// Text borrowed from the row (no copy), for readers of many rows.
    fn text_ref(&self, i: usize) -> Result<Option<&str>, crate::StoreError>;
    /// Bytes borrowed from the row (no copy).
    fn bytes(&self, i: usize) -> Result<Option<&[u8]>, crate::StoreError>;
}

/// The typed cells of an answer row, by the question's declared columns.
pub(crate) fn read_cells(
    columns: &[ltiscope_model::report::Column],
    r: &(impl RowRead + ?Sized),
) -> Result<Vec<Cell>, crate::StoreError> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let raw = match wire(c.kind) {
                Wire::Text => Raw::Text(r.text(i)?),
                Wire::Int => Raw::Int(r.int(i)?),
                Wire::Float => Raw::Float(r.float(i)?),
            };
            Ok(cell(c.kind, raw))
        })
        .collect()
}

/// The (column, JSON value) pairs of an export row (read with text times).
pub(crate) fn export_values(
    r: &impl RowRead,
    values: &mut Vec<(&'static str, serde_json::Value)>,
) -> Result<(), crate::StoreError> {
    values.clear();
    for (i, (name, kind)) in EXPORT_FIELDS.iter().enumerate() {
        let v = match kind {
            ExportKind::Bool => r
                .boolean(i)?
                .map_or(serde_json::Value::Null, serde_json::Value::Bool),
            _ => json_value(*kind, r.text(i)?),
        };
        values.push((*name, v));
    }
    Ok(())
}

/// How a backend reads a column of an answer: as text, a BIGINT or a FLOAT8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    Text,
    Int,
    Float,
}

/// A column value as read from a backend, before it becomes a typed cell.
pub(crate) enum Raw {
    Text(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
}

/// How the shared SQL returns a column of this kind.
pub(crate) fn wire(kind: ColumnKind) -> Wire {
    match kind {
        ColumnKind::Text | ColumnKind::Day => Wire::Text,
        ColumnKind::Count | ColumnKind::Int | ColumnKind::Time => Wire::Int,
        ColumnKind::Float | ColumnKind::Ratio => Wire::Float,
    }
}

/// The typed cell of a value read as [`wire`] says.
pub(crate) fn cell(kind: ColumnKind, raw: Raw) -> Cell {
    let finite = |x: Option<f64>| x.filter(|x| x.is_finite());
    match (kind, raw) {
        (ColumnKind::Text, Raw::Text(s)) => Cell::opt(s),
        (ColumnKind::Day, Raw::Text(s)) => s
            .and_then(|s| chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
            .map_or(Cell::Empty, Cell::Day),
        (ColumnKind::Count | ColumnKind::Int, Raw::Int(n)) => {
            n.map_or(Cell::Empty, |n| Cell::Int(n.max(0) as u64))
        }
        (ColumnKind::Time, Raw::Int(us)) => us
            .and_then(chrono::DateTime::from_timestamp_micros)
            .map_or(Cell::Empty, Cell::Time),
        (ColumnKind::Float, Raw::Float(x)) => finite(x).map_or(Cell::Empty, Cell::Float),
        (ColumnKind::Ratio, Raw::Float(x)) => finite(x).map_or(Cell::Empty, Cell::Ratio),
        _ => Cell::Empty,
    }
}

/// What retention removes: each table with the time its rows are judged by. `purge` counts
/// them in this order into a `PurgeOutcome`, then deletes them.
const RETAINED: [(&str, &str); 4] = [
    ("launches", "event_time"),
    ("events", "event_time"),
    ("quarantine", "received_at"),
    ("ingest_log", "received_at"),
];

/// One row of four counts: what `purge` would remove, the cutoff bound once per table (`?`).
pub(crate) fn purge_counts() -> String {
    let counts: Vec<String> = RETAINED
        .iter()
        .map(|(table, time)| format!("(SELECT count(*) FROM {table} WHERE {time} < ?)::BIGINT"))
        .collect();
    format!("SELECT {}", counts.join(", "))
}

/// The outcome of `purge` from the row of [`purge_counts`] (partitions are the backend's).
pub(crate) fn purge_outcome(counts: [i64; 4]) -> crate::PurgeOutcome {
    let n = |i: usize| counts[i].max(0) as u64;
    crate::PurgeOutcome {
        launch_records: n(0),
        events: n(1),
        quarantined: n(2),
        ingest_log: n(3),
        partitions_dropped: 0,
    }
}

/// The deletions of `purge`, one per table, the cutoff the one parameter (`?`).
pub(crate) fn purge_deletes() -> impl Iterator<Item = String> {
    RETAINED
        .iter()
        .map(|(table, time)| format!("DELETE FROM {table} WHERE {time} < ?"))
}
