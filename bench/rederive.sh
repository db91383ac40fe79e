#!/usr/bin/env bash
# Re-deriving and compacting (BENCHMARKS.md): on a copy of the import benchmark's database
# (bench/import.sh, a million Blackboard launches), each command under /usr/bin/time:
#   1. `rederive --dry-run` with the same rules: every original derived again and compared,
#      nothing to change;
#   2. `rederive` with tool rules that merge Kaltura and Panopto: a fifth of the records
#      replaced, then the rollups rebuilt;
#   3. `compact`: the file rewritten without the replaced rows.
# Prints one JSON object per step: wall seconds, peak RSS, the file's size after.
#
# Usage: bash bench/rederive.sh IMPORT_WORKDIR   (the folder bench/import.sh used)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:?the folder bench/import.sh wrote bench.duckdb into}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ltiscope-target}"
cargo build -q --workspace --all-targets
BIN="$CARGO_TARGET_DIR/debug/ltiscope"
DB="$WORK/rederive.duckdb"
cp "$WORK/bench.duckdb" "$DB"
rm -f "$DB.wal"
cat > "$WORK/video.toml" <<'EOF'
[[tools.rules]]
id = "video"
name = "Video"
host = "*.kaltura.com"

[[tools.rules]]
id = "video"
name = "Video"
host = "*.panopto.com"
EOF

step() {
  local name="$1"; shift
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$WORK/$name.rss" "$BIN" --db "$DB" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err"
  t1=$(date +%s.%N)
  grep -E "derived [0-9]+ stored|replace|unchanged|compacted" "$WORK/$name.out" | sed 's/^/  /' >&2 || true
  echo "{\"step\": \"$name\", \"seconds\": $(echo "$t1 - $t0" | bc), \"max_rss_kib\": $(tail -1 "$WORK/$name.rss"), \"db_bytes\": $(stat -c %s "$DB")}"
}
step dry_run rederive --dry-run
step rename --config "$WORK/video.toml" rederive
step compact compact
