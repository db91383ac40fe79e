#!/usr/bin/env bash
# Import benchmark (issue 2): 1,000,000 generated Blackboard LTIEvents from one JSON Lines file
# into a fresh DuckDB database, side by side with the bare serde_json parse ceiling on the same
# bytes, then the tools report over those launches. Prints one JSON object per measurement.
# Also the import's writer alone (examples/writer_alone: the same batches, parsed beforehand,
# stored as the import stores them): what the import could reach if parsing cost nothing; and
# DuckDB alone storing the same rows (examples/storage_floor, with the DuckDB ltiscope links;
# see floor below). The ratios to the ceiling are printed, and the import's seconds split into
# streaming the rows, its closing rollup refresh and the rest.
#
# Usage: bash bench/import.sh [LAUNCHES] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
WORK="${2:-$(mktemp -d)}"; mkdir -p "$WORK"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ltiscope-target}"
cargo build -q --workspace --all-targets   # the one (optimised) dev build: see Cargo.toml
BIN="$CARGO_TARGET_DIR/debug/ltiscope"
CEIL="$CARGO_TARGET_DIR/debug/examples/parse_ceiling"
WRITER="$CARGO_TARGET_DIR/debug/examples/writer_alone"
FLOOR="$CARGO_TARGET_DIR/debug/examples/storage_floor"
FILE="$WORK/bb-$N.jsonl"
DB="$WORK/bench.duckdb"

[ -f "$FILE" ] || "$BIN" generate --platform blackboard --launches "$N" --seed 1 \
  --returns 0 --non-lti 0 --out "$FILE"
echo "{\"file_bytes\": $(stat -L -c %s "$FILE"), \"events\": $(wc -l < "$FILE")}"
cat "$FILE" > /dev/null   # warm the page cache for both contenders

ceiling() { "$CEIL" "$FILE" | tee -a "$WORK/ceilings.json"; }
rm -f "$WORK/ceilings.json"
import() {
  rm -f "$DB" "$DB.wal"
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '{"import_max_rss_kib": %M}' "$BIN" --db "$DB" import "$FILE" > "$WORK/import.out" 2> "$WORK/import.time"
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc > "$WORK/import.seconds"
  echo "{\"import_seconds\": $(cat "$WORK/import.seconds"), \"import_per_second\": $(echo "$(wc -l < "$FILE") / ($t1 - $t0)" | bc)}"
  tail -1 "$WORK/import.time"
}
writer() {
  rm -f "$WORK/writer.duckdb" "$WORK/writer.duckdb.wal"
  "$WRITER" "$FILE" "$WORK/writer.duckdb" | tee "$WORK/writer.json"
  rm -f "$WORK/writer.duckdb" "$WORK/writer.duckdb.wal"
}
# What the import cannot beat: DuckDB alone storing the rows the import stored
# (examples/storage_floor, best of two: it is a floor) plus the writer's rollup refresh
# (BENCHMARKS.md, "What bounds the import").
floor() {
  local best refresh
  best=$(for _ in 1 2; do "$FLOOR" "$DB" --floor \
    | awk '/the tables as the import stores them/ {print $(NF-1)}'; done | sort -g | head -1)
  refresh=$(sed 's/.*"writer_refresh_seconds": \([0-9.]*\).*/\1/' "$WORK/writer.json")
  local import; import=$(cat "$WORK/import.seconds")
  echo "{\"duckdb_floor_seconds\": $best, \"floor_over_import\": $(printf '%.3f' "$(echo "$best / $import" | bc -l)"), \"floor_and_refresh_over_import\": $(printf '%.3f' "$(echo "($best + $refresh) / $import" | bc -l)")}"
  # The most any import storing these rows could reach, even if everything it does besides
  # parsing (C, the mean of the two ceilings' seconds) and DuckDB storing the rows (the
  # floor, F) cost nothing: on two cores the two need (C + F) / 2 of wall time at best, and
  # with one writer at least F as well. As ratios to the ceiling, comparable with the import's.
  local c; c=$(sed 's/.*"seconds": \([0-9.]*\).*/\1/' "$WORK/ceilings.json" | awk '{s += $1} END {print s / NR}')
  echo "{\"bound_one_writer_over_ceiling\": $(printf '%.3f' "$(echo "m = ($c + $best) / 2; if ($best > m) m = $best; $c / m" | bc -l)"), \"bound_two_cores_over_ceiling\": $(printf '%.3f' "$(echo "2 * $c / ($c + $best)" | bc -l)")}"
}
# Ceiling, import, writer alone, ceiling: the import and the writer alone are compared with the
# mean of the two ceilings around them.
ceiling; import; writer; ceiling
cat "$WORK/import.out" >&2
# The ratios, to the mean of the two ceilings, and where the import's wall time went: the
# streaming of the rows (the storing its summary reports), its closing rollup refresh (as its
# progress line reports it), and the rest (starting, opening the database, closing it).
ratios() {
  local ceil n import stream refresh writer
  ceil=$(sed 's/.*"per_second": \([0-9.]*\).*/\1/' "$WORK/ceilings.json" | awk '{s += $1} END {print s / NR}')
  n=$(wc -l < "$FILE")
  import=$(cat "$WORK/import.seconds")
  stream=$(sed -n 's/^imported .*; \([0-9.]*\)s storing them.*/\1/p' "$WORK/import.out")
  refresh=$(sed -n 's/^rolled up .* in \([0-9.]*\)s$/\1/p' "$WORK/import.time")
  writer=$(sed 's/.*"writer_seconds": \([0-9.]*\).*/\1/' "$WORK/writer.json")
  r() { printf '%.3f' "$(echo "$n / $1 / $ceil" | bc -l)"; }
  echo "{\"import_over_ceiling\": $(r "$import"), \"writer_alone_over_ceiling\": $(r "$writer"), \"streaming_over_ceiling\": $(r "$stream")}"
  echo "{\"import_streaming_seconds\": $stream, \"import_refresh_seconds\": $refresh, \"import_rest_seconds\": $(printf '%.2f' "$(echo "$import - $stream - $refresh" | bc -l)")}"
}
ratios
echo "{\"db_bytes\": $(du -cb "$DB"* | tail -1 | cut -f1)}"
floor
for i in 1 2 3 4 5; do
  t0=$(date +%s%N); "$BIN" --db "$DB" report tools > /dev/null; t1=$(date +%s%N)
  echo "{\"report_tools_ms\": $(( (t1 - t0) / 1000000 ))}"
done
