//! Rows handed to DuckDB a whole data chunk at a time, for the two tables every write fills
//! (`events`, `launches`).
//!
//! An appender takes a row value by value: the duckdb crate collects each row's values and
//! converts them, then DuckDB appends each one into its own chunk (copying every string) and,
//! when that chunk is full, copies the chunk into the appender's buffer, from which a flush
//! inserts it. In an import of Blackboard launches that was a quarter of the writer thread's
//! samples (BENCHMARKS.md, "Rows a chunk at a time"), and the writer is the import's critical
//! path. Here one insert's rows are laid out in a [`Rows`] column by column, their text not
//! copied, and one `INSERT INTO table SELECT * FROM function()` hands them over: the table
//! function fills DuckDB's output vectors directly, each string as a reference to the text
//! where the caller holds it (DuckDB copies it into the table's storage as it inserts). No
//! value crosses the C API alone.
//!
//! This is the workspace's only unsafe code: filling a vector means writing into memory DuckDB
//! gave us, in its layouts, and reading the caller's text through addresses that live only as
//! long as [`Inserter::insert`] runs. Each unsafe block says why it is sound; the store tests (every
//! write of both tables goes through here) and `the_rows_read_back_as_written` check the
//! layouts value by value, NULLs, inlined and referenced strings, and the 128-bit key included.
#![allow(unsafe_code)]

use crate::StoreError;
use crate::write::{Stored, Val};
use duckdb::Connection;
use duckdb::core::{DataChunkHandle, FlatVector, LogicalTypeHandle, LogicalTypeId};
use duckdb::ffi;
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};
use std::os::raw::c_char;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The rows of one running insert, column by column.
#[derive(Default)]
struct Rows {
    columns: Vec<Column>,
    /// The text of the values a row owned (not borrowed), back to back.
    text: Vec<u8>,
    len: usize,
    /// While DuckDB reads them: the first row it has not been given yet.
    next: usize,
}

// SAFETY: `Rows` is `!Send` only for the addresses of `Text::Borrowed`. They are read only
// by the table function while the insert that pushed them runs (the thread that called
// `Inserter::insert` waits in it meanwhile, and its `'a` borrows outlive the call), and
// `Inserter::insert` clears them before it returns and before it pushes anything; another
// thread never sees an address whose text is gone.
unsafe impl Send for Rows {}

/// Where a text value is while its insert runs.
#[derive(Clone, Copy)]
enum Text {
    Null,
    /// The caller's text, read where it is: its address and length.
    Borrowed(*const u8, usize),
    /// Copied into [`Rows::text`] (a value the row owned): start and length there.
    Kept(usize, usize),
}

/// One column's values, in the form its vector takes them.
enum Column {
    Key(Vec<i128>),
    Text(Vec<Text>),
    Int(Vec<Option<i64>>),
    Bool(Vec<bool>),
    /// Microseconds since the epoch (a `TIMESTAMP`).
    Time(Vec<i64>),
}

impl Column {
    fn of(kind: &Stored) -> Column {
        match kind {
            Stored::Key => Column::Key(Vec::new()),
            Stored::Text(_) => Column::Text(Vec::new()),
            Stored::Int(_) => Column::Int(Vec::new()),
            Stored::Bool(_) => Column::Bool(Vec::new()),
            Stored::Time(_) => Column::Time(Vec::new()),
        }
    }

    fn logical_type(kind: &Stored) -> LogicalTypeHandle {
        LogicalTypeHandle::from(match kind {
            Stored::Key => LogicalTypeId::Hugeint,
            Stored::Text(_) => LogicalTypeId::Varchar,
            Stored::Int(_) => LogicalTypeId::Bigint,
            Stored::Bool(_) => LogicalTypeId::Boolean,
            Stored::Time(_) => LogicalTypeId::Timestamp,
        })
    }

    fn truncate(&mut self, len: usize) {
        match self {
            Column::Key(v) => v.truncate(len),
            Column::Text(v) => v.truncate(len),
            Column::Int(v) => v.truncate(len),
            Column::Bool(v) => v.truncate(len),
            Column::Time(v) => v.truncate(len),
        }
    }
}

impl Rows {
    fn new(spec: &[(&str, Stored)]) -> Rows {
        Rows {
            columns: spec.iter().map(|(_, kind)| Column::of(kind)).collect(),
            ..Rows::default()
        }
    }

    /// Adds a row, its values in the columns' order; its borrowed text is not copied (the
    /// caller, [`Inserter::insert`], keeps it alive and clears these rows before it ends). A
    /// value of another kind than its column, or a row of another length, is a bug in the
    /// caller's spec (`the_launch_spec_declares_what_launch_row_writes`).
    fn push<'a>(&mut self, row: impl IntoIterator<Item = Val<'a>>) -> Result<(), StoreError> {
        let text = self.text.len();
        let mut taken = 0;
        let mut refused = None;
        for value in row {
            let Some(column) = self.columns.get_mut(taken) else {
                refused = Some(format!("a row of more than {} values", self.columns.len()));
                break;
            };
            match (column, value) {
                (Column::Key(v), Val::Key(k)) => v.push(k),
                (Column::Text(v), Val::Text(s)) => v.push(match s {
                    Some(s) => Text::Borrowed(s.as_ptr(), s.len()),
                    None => Text::Null,
                }),
                (Column::Text(v), Val::Owned(s)) => v.push(match s {
                    Some(s) => keep(&mut self.text, &s),
                    None => Text::Null,
                }),
                (Column::Int(v), Val::Int(n)) => v.push(n),
                (Column::Bool(v), Val::Bool(b)) => v.push(b),
                (Column::Time(v), Val::Time(t)) => v.push(t.timestamp_micros()),
                (_, other) => {
                    refused = Some(format!("a value {other:?} of another kind than its column"));
                    break;
                }
            }
            taken += 1;
        }
        if refused.is_none() && taken != self.columns.len() {
            refused = Some(format!(
                "a row of {taken} values for {} columns",
                self.columns.len()
            ));
        }
        if let Some(refused) = refused {
            // The columns that took a value of this row give it back: all stay as long as
            // each other.
            let len = self.len;
            self.columns.iter_mut().for_each(|c| c.truncate(len));
            self.text.truncate(text);
            return Err(StoreError::Internal(refused));
        }
        self.len += 1;
        Ok(())
    }

    fn clear(&mut self) {
        self.columns.iter_mut().for_each(|c| c.truncate(0));
        self.text.clear();
        self.len = 0;
        self.next = 0;
    }

    /// Fills `out` with the next rows (as many as a vector holds); 0 when all were given.
    fn fill(&mut self, out: &mut DataChunkHandle) -> usize {
        let from = self.next;
        let mut n = 0;
        for (c, column) in self.columns.iter().enumerate() {
            let mut vector = out.flat_vector(c);
            n = (self.len - from).min(vector.capacity());
            let rows = from..from + n;
            match column {
                Column::Key(v) => {
                    let keys = v[rows].iter().map(|k| ffi::duckdb_hugeint {
                        lower: *k as u64,
                        upper: (*k >> 64) as i64,
                    });
                    write_all(&mut vector, keys);
                }
                Column::Time(v) => write_all(&mut vector, v[rows].iter().copied()),
                Column::Bool(v) => write_all(&mut vector, v[rows].iter().copied()),
                Column::Int(v) => {
                    write_all(&mut vector, v[rows.clone()].iter().map(|n| n.unwrap_or(0)));
                    for (i, _) in v[rows].iter().enumerate().filter(|(_, n)| n.is_none()) {
                        vector.set_null(i);
                    }
                }
                Column::Text(v) => {
                    let text = &self.text;
                    let strings = v[rows.clone()].iter().map(|value| match *value {
                        // SAFETY: the text of a borrowed value outlives the insert that pushed
                        // it, which is the one running (see `unsafe impl Send for Rows`).
                        Text::Borrowed(at, len) => {
                            string_t(unsafe { std::slice::from_raw_parts(at, len) })
                        }
                        Text::Kept(start, len) => string_t(&text[start..start + len]),
                        Text::Null => string_t(&[]),
                    });
                    write_all(&mut vector, strings);
                    for (i, _) in v[rows]
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| matches!(s, Text::Null))
                    {
                        vector.set_null(i);
                    }
                }
            }
        }
        self.next += n;
        out.set_len(n);
        n
    }
}

/// Copies `s` to the end of `text`; returns where it is.
fn keep(text: &mut Vec<u8>, s: &str) -> Text {
    let start = text.len();
    text.extend_from_slice(s.as_bytes());
    Text::Kept(start, s.len())
}

/// DuckDB's string value for `bytes`: up to 12 bytes inlined, longer ones as a length, their
/// first four bytes and a pointer to them, which must stay valid while DuckDB reads the chunk.
fn string_t(bytes: &[u8]) -> ffi::duckdb_string_t {
    use ffi::{
        duckdb_string_t__bindgen_ty_1 as Value,
        duckdb_string_t__bindgen_ty_1__bindgen_ty_1 as Pointer,
        duckdb_string_t__bindgen_ty_1__bindgen_ty_2 as Inlined,
    };
    // Text longer than 4 GiB never gets here: request bodies and files are cut far shorter.
    let length = bytes.len() as u32;
    let value = if bytes.len() <= 12 {
        let mut inlined = [0 as c_char; 12];
        for (to, from) in inlined.iter_mut().zip(bytes) {
            *to = *from as c_char;
        }
        Value {
            inlined: Inlined { length, inlined },
        }
    } else {
        let mut prefix = [0 as c_char; 4];
        for (to, from) in prefix.iter_mut().zip(bytes) {
            *to = *from as c_char;
        }
        Value {
            pointer: Pointer {
                length,
                prefix,
                ptr: bytes.as_ptr().cast_mut().cast(),
            },
        }
    };
    ffi::duckdb_string_t { value }
}

/// Writes `values` into the first rows of `vector`.
fn write_all<T: Copy>(vector: &mut FlatVector<'_>, values: impl ExactSizeIterator<Item = T>) {
    assert!(values.len() <= vector.capacity());
    // SAFETY: every caller passes the vector of a column whose DuckDB type has `T`'s layout
    // (HUGEINT: `duckdb_hugeint`, TIMESTAMP and BIGINT: `i64`, BOOLEAN: `bool`, VARCHAR:
    // `duckdb_string_t`), as `Column::logical_type` declared it to DuckDB; the vector holds
    // `capacity()` values and no more are written (asserted above); nothing else refers to
    // the vector's data while this slice lives.
    let slots = unsafe { vector.as_mut_slice::<T>() };
    for (slot, value) in slots.iter_mut().zip(values) {
        *slot = value;
    }
}

/// What one table's function shares with the writer that fills it.
struct Shared {
    spec: Vec<(&'static str, Stored)>,
    /// The rows of the insert that is running; `None` between inserts.
    rows: Mutex<Option<Rows>>,
}

/// The table function: its columns are the spec's, its rows whatever the running insert put
/// into [`Shared::rows`].
struct RowsFunction;

impl RowsFunction {
    fn shared<'a>(extra: *const Arc<Shared>) -> Result<&'a Shared, StoreError> {
        // SAFETY: DuckDB hands back the extra info `Inserter::register` gave the function: an
        // `Arc<Shared>` it owns (boxed by the duckdb crate) until the database closes, which is
        // after every call of the function; it is only read.
        unsafe { extra.as_ref() }
            .map(|arc| &**arc)
            .ok_or_else(|| StoreError::Internal("a row function without its rows".into()))
    }
}

impl VTab for RowsFunction {
    type InitData = ();
    type BindData = ();

    fn bind(bind: &BindInfo) -> Result<(), Box<dyn std::error::Error>> {
        let shared = RowsFunction::shared(bind.get_extra_info::<Arc<Shared>>())?;
        for (name, kind) in &shared.spec {
            bind.add_result_column(name, Column::logical_type(kind));
        }
        Ok(())
    }

    fn init(init: &InitInfo) -> Result<(), Box<dyn std::error::Error>> {
        // The rows go out in order, from one thread.
        init.set_max_threads(1);
        Ok(())
    }

    fn func(
        info: &TableFunctionInfo<Self>,
        out: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let shared = RowsFunction::shared(info.get_extra_info::<Arc<Shared>>())?;
        let mut rows = shared.rows.lock().unwrap_or_else(PoisonError::into_inner);
        match rows.as_mut() {
            Some(rows) => {
                rows.fill(out);
            }
            None => out.set_len(0),
        }
        Ok(())
    }
}

/// Names every registered function apart: each connection that writes registers its own, in
/// the database instance's catalog, which its other connections share.
static FUNCTIONS: AtomicU64 = AtomicU64::new(0);

/// The rows of one table waiting for their insert, and the function that inserts them.
pub(super) struct Inserter {
    shared: Arc<Shared>,
    insert: String,
    /// The waiting rows (in `shared` only while their insert runs).
    rows: Rows,
}

impl Inserter {
    /// Registers the function that inserts into `table` (a name as SQL takes it, catalog
    /// first if need be), whose columns are `spec`.
    pub(super) fn register(
        conn: &Connection,
        table: &str,
        spec: Vec<(&'static str, Stored)>,
    ) -> Result<Inserter, StoreError> {
        let name = format!(
            "ltiscope_rows_{}",
            FUNCTIONS.fetch_add(1, Ordering::Relaxed)
        );
        let columns: Vec<&str> = spec.iter().map(|(name, _)| *name).collect();
        let insert = format!(
            "INSERT INTO {table} ({}) SELECT * FROM {name}()",
            columns.join(", ")
        );
        let rows = Rows::new(&spec);
        let shared = Arc::new(Shared {
            spec,
            rows: Mutex::new(None),
        });
        conn.register_table_function_with_extra_info::<RowsFunction, _>(&name, &shared)?;
        Ok(Inserter {
            shared,
            insert,
            rows,
        })
    }

    /// Inserts `rows`, each its values in the spec's order, through `conn` (in its open
    /// transaction). Their borrowed text is read where it is: DuckDB copies each string into
    /// the table's storage as it inserts, and nothing of these rows is kept past this call.
    /// (Copied into one buffer first, the text was 2.6% of an import's samples, on the
    /// writer: BENCHMARKS.md, "Text read where it is".)
    pub(super) fn insert<'a, R: IntoIterator<Item = Val<'a>>>(
        &mut self,
        conn: &Connection,
        rows: impl IntoIterator<Item = R>,
    ) -> Result<(), StoreError> {
        // Whatever an insert that did not finish (a panic) left is never read.
        self.rows.clear();
        let pushed = rows.into_iter().try_for_each(|row| self.rows.push(row));
        let waiting = self.rows.len;
        if pushed.is_err() || waiting == 0 {
            self.rows.clear();
            return pushed;
        }
        *self.lock() = Some(std::mem::take(&mut self.rows));
        let inserted = conn
            .prepare_cached(&self.insert)
            .and_then(|mut statement| statement.execute([]));
        // The rows come back whatever happened, for their buffers to be used again, and
        // are cleared: their borrowed text ends with this call.
        let back = self.lock().take();
        if let Some(rows) = back {
            self.rows = rows;
        }
        self.rows.clear();
        match inserted? {
            n if n == waiting => Ok(()),
            n => Err(StoreError::Internal(format!(
                "{n} of {waiting} rows inserted by {}",
                self.insert
            ))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Rows>> {
        self.shared
            .rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    const SPEC: [(&str, Stored); 5] = [
        ("k", Stored::Key),
        ("t", Stored::Text(None)),
        ("i", Stored::Int(None)),
        ("b", Stored::Bool(None)),
        ("seen", Stored::Time(None)),
    ];

    type Row = (i128, Option<String>, Option<i64>, bool, i64);

    /// An in-memory database with table `r` of [`SPEC`]'s columns, and its inserter.
    fn table() -> (Connection, Inserter) {
        let conn = Connection::open_in_memory().expect("duckdb");
        conn.execute_batch(
            "CREATE TABLE r (k HUGEINT, t VARCHAR, i BIGINT, b BOOLEAN NOT NULL, seen TIMESTAMP)",
        )
        .expect("table");
        let inserter = Inserter::register(&conn, "r", SPEC.to_vec()).expect("register");
        (conn, inserter)
    }

    /// Row `n`: keys of both signs and both halves, text of every length around the 12
    /// inlined bytes (multi-byte characters included) and NULLs, in patterns that do not
    /// repeat with the 2,048 rows of a vector.
    fn row(n: usize) -> Row {
        let text = match n % 7 {
            0 => None,
            1 => Some(String::new()),
            2 => Some("x".repeat(12)),
            3 => Some("y".repeat(13)),
            4 => Some(format!("é{n}🙂")),
            _ => Some(format!("{n}-").repeat(n % 300)),
        };
        let key = (n as i128 - 2_500) * (i128::MAX / 2_500);
        (
            key,
            text,
            (!n.is_multiple_of(5)).then_some(n as i64 * -7),
            n.is_multiple_of(3),
            1_700_000_000_000_000 + n as i64,
        )
    }

    /// Every value inserted through the table function reads back as it was given, over
    /// more rows than one vector holds, across two inserts of one transaction, before and
    /// after it commits, whether the row borrowed its text or owned it: DuckDB keeps none of
    /// the strings it was pointed to, which are written over after each insert.
    #[test]
    fn the_rows_read_back_as_written() {
        let (conn, mut inserter) = table();
        let rows: Vec<Row> = (0..5_000).map(row).collect();
        conn.execute_batch("BEGIN").expect("begin");
        for part in rows.chunks(3_000) {
            let mut texts: Vec<Option<String>> = part.iter().map(|r| r.1.clone()).collect();
            let values = part.iter().zip(&texts).enumerate().map(|(n, (r, t))| {
                let at = DateTime::from_timestamp_micros(r.4).expect("time");
                let text = match n % 2 {
                    0 => Val::Text(t.as_deref()),
                    _ => Val::Owned(t.clone()),
                };
                [
                    Val::Key(r.0),
                    text,
                    Val::Int(r.2),
                    Val::Bool(r.3),
                    Val::Time(at),
                ]
            });
            inserter.insert(&conn, values).expect("insert");
            // In place: the same memory now holds other text of the same length.
            for text in texts.iter_mut().flatten() {
                let len = text.len();
                text.clear();
                text.push_str(&"#".repeat(len));
            }
        }
        let read = || -> Vec<Row> {
            let mut statement = conn
                .prepare("SELECT k, t, i, b, epoch_us(seen) FROM r ORDER BY rowid")
                .expect("select");
            statement
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
        };
        let before_commit = read();
        conn.execute_batch("COMMIT").expect("commit");
        for read in [before_commit, read()] {
            assert_eq!(read.len(), rows.len());
            for (n, (got, want)) in read.iter().zip(&rows).enumerate() {
                assert_eq!(got, want, "row {n}");
            }
        }
    }

    /// A row of the wrong shape (a value of another kind than its column, too few values,
    /// too many) fails its insert, and nothing of that insert is stored; the next insert
    /// stores its rows whole.
    #[test]
    fn a_row_of_the_wrong_shape_is_refused() {
        let (conn, mut inserter) = table();
        let at = DateTime::from_timestamp_micros(0).expect("time");
        let good = |k: i128| {
            vec![
                Val::Key(k),
                Val::Text(Some("a text longer than twelve bytes")),
                Val::Int(Some(4)),
                Val::Bool(true),
                Val::Time(at),
            ]
        };
        let wrong = vec![Val::Text(Some("k")), Val::Text(None), Val::Int(None)];
        let swapped = vec![
            Val::Key(1),
            Val::Int(Some(1)),
            Val::Text(None),
            Val::Bool(true),
            Val::Time(at),
        ];
        let short = good(2)[..4].to_vec();
        let long = [good(2), vec![Val::Bool(false)]].concat();
        for bad in [wrong, swapped, short, long] {
            let failed = inserter.insert(&conn, [good(0), bad, good(0)]);
            assert!(matches!(failed, Err(StoreError::Internal(_))), "{failed:?}");
        }
        let stored = |conn: &Connection| -> i64 {
            conn.query_row("SELECT count(*) FROM r", [], |r| r.get(0))
                .expect("count")
        };
        assert_eq!(stored(&conn), 0);
        inserter.insert(&conn, [good(3), good(5)]).expect("insert");
        let rows: Vec<(i128, String, i64, bool)> = conn
            .prepare("SELECT k, t, i, b FROM r ORDER BY k")
            .expect("select")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let text = "a text longer than twelve bytes".to_owned();
        assert_eq!(rows, [(3, text.clone(), 4, true), (5, text, 4, true)]);
    }
}
