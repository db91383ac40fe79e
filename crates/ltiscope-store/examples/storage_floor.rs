//! What DuckDB alone costs to store an import's rows, table by table (and, with `--columns`,
//! column by column), with the project's own build of DuckDB: the one `ltiscope` links, whose
//! zstd level is set at build time (`.cargo/config.toml`), which Python's wheel does not have.
//!
//! Copies the tables of a database that `ltiscope import` filled into memory, then times
//! `INSERT INTO x SELECT ... FROM` the copy into a fresh database file on one DuckDB thread,
//! in row groups of the store's size (as the import's writer runs it; at DuckDB's default
//! size, four times as large, the floor was measured 0.36-0.44 s higher on a million events:
//! BENCHMARKS.md, "Latest (the thirty-second machine)"): no parsing, no appender, no per-row
//! Rust, only DuckDB storing and compressing the rows. The import cannot store them faster.
//!
//!     cargo run --example storage_floor -- DB [--columns | --floor]
//!
//! The floor is the three tables inserted as the database defines them (compression and
//! constraints read from its catalogue). `--floor` times only those (`bench/import.sh`); without
//! it, also the keys without their primary key, the bodies and the other columns of `events`
//! apart, and `launches` in DuckDB's automatic compression and its VARCHAR columns alone;
//! `--columns` adds each column of `launches` alone (automatic compression).

use std::time::Instant;

/// The allocator `ltiscope` runs DuckDB on (the workspace builds mimalloc with `override`, so
/// it serves DuckDB's C++ too): the floor is DuckDB's cost as the import pays it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(src) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: storage_floor DB [--columns | --floor]");
        std::process::exit(2);
    };
    let per_column = args.iter().any(|a| a == "--columns");
    let floor_only = args.iter().any(|a| a == "--floor");
    let dir = tempfile::tempdir()?;
    // The file attached as the store attaches its own, at the store's row-group size: the
    // import appends row groups of that many rows, each compressed on its own.
    let c = duckdb::Connection::open_in_memory()?;
    c.execute_batch(&format!(
        "ATTACH '{}' AS floor (ROW_GROUP_SIZE {}); USE floor; SET threads = 1",
        dir.path()
            .join("storage.duckdb")
            .display()
            .to_string()
            .replace('\'', "''"),
        ltiscope_store::ROW_GROUP_ROWS
    ))?;
    c.execute_batch(&format!(
        "ATTACH '{}' AS s (READ_ONLY)",
        src.replace('\'', "''")
    ))?;
    // The stored columns only: a generated column (the launch records' user and course keys)
    // is derived when read, never stored, and cannot be inserted.
    let columns = |table: &str| -> Result<Vec<(String, String)>, Error> {
        let mut stmt = c.prepare(
            "SELECT column_name, data_type FROM information_schema.columns
             WHERE table_catalog = 's' AND table_name = ? AND is_generated = 'NEVER'
             ORDER BY ordinal_position",
        )?;
        let rows = stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    // Creates x as `definition` (its column list, in parentheses) and times the insert of
    // `select` from the copy of `table`.
    let insert = |label: &str, definition: &str, select: &str, table: &str| -> Result<f64, Error> {
        c.execute_batch(&format!(
            "DROP TABLE IF EXISTS x; CREATE TABLE x{definition}; CHECKPOINT"
        ))?;
        let started = Instant::now();
        c.execute_batch(&format!("INSERT INTO x SELECT {select} FROM src_{table}"))?;
        let seconds = started.elapsed().as_secs_f64();
        println!("{label:<44} {seconds:6.2} s");
        Ok(seconds)
    };
    // x with (name, type, extra) columns, filled from `table`.
    let timed = |label: &str, table: &str, cols: &[(String, String, &str)]| -> Result<f64, Error> {
        let defs: Vec<String> = cols.iter().map(|(n, t, e)| format!("{n} {t}{e}")).collect();
        let names: Vec<&str> = cols.iter().map(|(n, _, _)| n.as_str()).collect();
        insert(
            label,
            &format!("({})", defs.join(", ")),
            &names.join(", "),
            table,
        )
    };
    for table in ["event_keys", "events", "launches"] {
        let names: Vec<String> = columns(table)?.into_iter().map(|(n, _)| n).collect();
        c.execute_batch(&format!(
            "CREATE TEMP TABLE src_{table} AS SELECT {} FROM s.{table}",
            names.join(", ")
        ))?;
    }
    let with = |cols: &[(String, String)], extra: &'static str| -> Vec<(String, String, &str)> {
        cols.iter()
            .map(|(n, t)| (n.clone(), t.clone(), extra))
            .collect()
    };
    // The floor: each table created as the database defines it (its compression per column,
    // its constraints), read from the catalogue rather than restated here.
    let stored = |table: &str| -> Result<f64, Error> {
        let sql: String = c.query_row(
            "SELECT sql FROM duckdb_tables() WHERE database_name = 's' AND table_name = ?",
            [table],
            |r| r.get(0),
        )?;
        let Some(definition) = sql
            .strip_prefix(&format!("CREATE TABLE {table}"))
            .and_then(|d| d.strip_suffix(';'))
        else {
            return Err(format!("unexpected definition of {table}: {sql}").into());
        };
        insert(&format!("{table} (as stored)"), definition, "*", table)
    };
    let mut total = 0.0;
    for table in ["event_keys", "events", "launches"] {
        total += stored(table)?;
    }
    if !floor_only {
        let keys = columns("event_keys")?;
        timed(
            "event_keys (no primary key)",
            "event_keys",
            &with(&keys, ""),
        )?;
        let events = columns("events")?;
        let body = [("body".to_owned(), "VARCHAR".to_owned())];
        timed(
            "events: body alone (zstd)",
            "events",
            &with(&body, " USING COMPRESSION zstd"),
        )?;
        let others: Vec<_> = events.into_iter().filter(|(n, _)| n != "body").collect();
        timed("events: the other columns", "events", &with(&others, ""))?;
        let launches = columns("launches")?;
        timed(
            "launches: automatic compression",
            "launches",
            &with(&launches, ""),
        )?;
        let text: Vec<_> = launches
            .iter()
            .filter(|(_, t)| t == "VARCHAR")
            .cloned()
            .collect();
        timed("launches: VARCHAR columns", "launches", &with(&text, ""))?;
    }
    if per_column {
        for column in &columns("launches")? {
            timed(
                &format!("launches.{}", column.0),
                "launches",
                &with(std::slice::from_ref(column), ""),
            )?;
        }
    }
    println!(
        "{:<44} {total:6.2} s",
        "the tables as the import stores them"
    );
    Ok(())
}
