#!/usr/bin/env bash
# Import, two builds side by side in instructions (issue 2): `ltiscope import` of the first
# LINES lines of FILE into a fresh database, under callgrind, for the `ltiscope` binary in each
# folder. Callgrind counts instructions, every thread's together, whatever else the machine is
# doing, so a change of a few percent shows here when wall times on a shared machine vary by
# more than that (BENCHMARKS.md, "UTF-8 checked once per line").
# The parse side's count (`parse_line`) repeats exactly. The total repeats only while neither
# build changes what DuckDB runs: callgrind runs the threads one at a time, and DuckDB's
# threads polling for work (its task scheduler, mutexes) count instructions for as long as
# they are left running, 24.2G against 40.4G once for two builds whose native times did not
# differ (BENCHMARKS.md, "The keys derived, not stored"). Instructions are not seconds either:
# memory traffic, page faults and the two cores' overlap are not in them, so a change claimed
# as faster is measured in time too (bench/import_ab.sh).
#
# Usage: bash bench/callgrind_ab.sh FILE DIR_A DIR_B [LINES]   (LINES: 20000 by default)
# Prints, per build: the instructions in all, per line, and those of the parse side
# (`ltiscope_ingest::parse_line`, inclusive), then B's totals as a share of A's.
set -euo pipefail
FILE="$1"; A="$2"; B="$3"; LINES="${4:-20000}"
command -v valgrind > /dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }
W="${WORK:-$(mktemp -d)}"; mkdir -p "$W"
head -n "$LINES" "$FILE" > "$W/lines.jsonl"
count() { # DIR NAME -> "total parse_line"
  rm -f "$W/$2.duckdb" "$W/$2.duckdb.wal"
  valgrind --tool=callgrind --callgrind-out-file="$W/$2.callgrind" \
    "$1/ltiscope" --db "$W/$2.duckdb" import "$W/lines.jsonl" > /dev/null 2> "$W/$2.err"
  callgrind_annotate --inclusive=yes "$W/$2.callgrind" > "$W/$2.txt" 2> /dev/null
  local total parse
  total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' "$W/$2.txt")
  parse=$(awk '/ltiscope_ingest::parse_line( \[|$)/ && !n++ {gsub(",", "", $1); print $1}' "$W/$2.txt")
  echo "$total ${parse:-0}"
}
read -r ta pa <<< "$(count "$A" a)"
read -r tb pb <<< "$(count "$B" b)"
for x in "A $A $ta $pa" "B $B $tb $pb"; do
  set -- $x
  printf '%s %s instructions=%s per_line=%.0f parse_line=%s\n' "$1" "$2" "$3" "$(echo "$3 / $LINES" | bc -l)" "$4"
done
printf 'B/A instructions=%.4f parse_line=%.4f\n' "$(echo "$tb / $ta" | bc -l)" "$(echo "$pb / $pa" | bc -l)"
