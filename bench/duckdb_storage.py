"""What DuckDB alone costs to store an import's rows, table by table and column by column.

Copies the tables of a database that `ltiscope import` filled into memory, then times
`INSERT INTO x SELECT ... FROM` the copy into a fresh database file, on one DuckDB thread
(as the import's writer runs it): no parsing, no Rust, no appender, DuckDB's own storing
and compression only. The import cannot store faster than this.

Usage: pip install duckdb==2.0.0   (the DuckDB of the `duckdb` crate in Cargo.lock)
       python3 bench/duckdb_storage.py DB [--columns | --floor]

--floor times only the four inserts the floor adds up (bench/import.sh), not the keys
without their primary key nor the VARCHAR columns of `launches` alone.
"""

import os
import sys
import tempfile
import time

import duckdb


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    src, per_column = sys.argv[1], "--columns" in sys.argv
    floor_only = "--floor" in sys.argv
    path = os.path.join(tempfile.mkdtemp(), "storage.duckdb")
    c = duckdb.connect(path)
    c.execute("SET threads = 1")
    c.execute(f"ATTACH '{src}' AS s (READ_ONLY)")
    for table in ("event_keys", "events", "launches"):
        c.execute(f"CREATE TEMP TABLE src_{table} AS SELECT * FROM s.{table}")

    def columns(table: str) -> list[tuple[str, str]]:
        return c.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = 's' AND table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()

    def timed(label: str, table: str, cols: list[tuple[str, str, str]]) -> float:
        """Creates x with (name, type, extra) columns and times the insert of them."""
        c.execute("DROP TABLE IF EXISTS x")
        c.execute("CREATE TABLE x (" + ", ".join(f"{n} {t}{e}" for n, t, e in cols) + ")")
        c.execute("CHECKPOINT")
        names = ", ".join(n for n, _, _ in cols)
        t0 = time.perf_counter()
        c.execute(f"INSERT INTO x SELECT {names} FROM src_{table}")
        seconds = time.perf_counter() - t0
        print(f"{label:<44} {seconds:6.2f} s", flush=True)
        return seconds

    keys = columns("event_keys")
    total = timed("event_keys (primary key)", "event_keys",
                  [(n, t, " PRIMARY KEY") for n, t in keys])
    if not floor_only:
        timed("event_keys (no primary key)", "event_keys", [(n, t, "") for n, t in keys])
    events = columns("events")
    total += timed("events: body (zstd, as stored)", "events",
                   [("body", "VARCHAR", " USING COMPRESSION zstd")])
    total += timed("events: the other columns", "events",
                   [(n, t, "") for n, t in events if n != "body"])
    launches = columns("launches")
    total += timed("launches: all columns", "launches", [(n, t, "") for n, t in launches])
    if not floor_only:
        timed("launches: VARCHAR columns", "launches",
              [(n, t, "") for n, t in launches if t == "VARCHAR"])
    if per_column:
        for n, t in launches:
            timed(f"launches.{n}", "launches", [(n, t, "")])
    print(f"{'the tables as the import stores them':<44} {total:6.2f} s")


if __name__ == "__main__":
    main()
