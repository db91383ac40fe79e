#!/usr/bin/env bash
# Reports benchmark (issue 4). Two parts, one run, side by side:
#
#  A. The tools question two ways on the same N Blackboard launches (default 1,000,000):
#     ltiscope (DuckDB, launch records) against a generic learning record store's way
#     (the same events kept as JSON documents in PostgreSQL, aggregated with JSONB operators).
#  B. Every report on a 10x larger database (default 10,000,000 launches): a generated mixed
#     term of N launches imported, then copied into 10 tenants (`replicate` example), each
#     report over a 90-day range; CLI wall time; export speed; dashboard page load.
#
# Usage: bash bench/reports.sh [LAUNCHES] [COPIES] [WORKDIR]
# Needs PostgreSQL on 127.0.0.1:5432 (trust auth) for part A. Prints what it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
COPIES="${2:-10}"
WORK="${3:-$(mktemp -d)}"; mkdir -p "$WORK"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ltiscope-target}"
cargo build -q --workspace --all-targets   # the one (optimised) dev build: see Cargo.toml
BIN="$CARGO_TARGET_DIR/debug/ltiscope"
BENCH="$CARGO_TARGET_DIR/debug/examples/report_bench"
REPL="$CARGO_TARGET_DIR/debug/examples/replicate"
PG="psql -X -q -h 127.0.0.1 -U postgres"
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

echo "== A. the tools question: ltiscope vs JSON documents in PostgreSQL ($N Blackboard launches)"
BB="$WORK/bb.jsonl"; DBA="$WORK/a.duckdb"
[ -f "$BB" ] || "$BIN" generate --platform blackboard --launches "$N" --seed 1 --returns 0 --non-lti 0 --out "$BB"
rm -f "$DBA" "$DBA.wal"; "$BIN" --db "$DBA" import "$BB" | head -1
DBNAME="ltiscope_lrs_bench_$$"
$PG -d postgres -c "DROP DATABASE IF EXISTS $DBNAME" -c "CREATE DATABASE $DBNAME"
trap '$PG -d postgres -c "DROP DATABASE IF EXISTS $DBNAME" >/dev/null 2>&1 || true' EXIT
$PG -d "$DBNAME" -c "CREATE TABLE statements (id bigserial PRIMARY KEY, stored timestamptz NOT NULL DEFAULT now(), doc jsonb NOT NULL)"
t0=$(date +%s%N)
# Each line is one JSON document; CSV mode with quote/delimiter bytes that never occur in JSON.
$PG -d "$DBNAME" -c "\\copy statements (doc) FROM '$BB' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
echo "postgres load: $(ms "$t0") ms"
$PG -d "$DBNAME" -c "CREATE INDEX ON statements (((doc->>'eventTime')::text))" -c "VACUUM ANALYZE statements"
echo "postgres size: $($PG -d "$DBNAME" -At -c "SELECT pg_size_pretty(pg_total_relation_size('statements'))")"
FROM=2026-01-26; TO=2026-04-26   # 90 days inside the generated term (2026-01-12 + 105 days)
LRS_SQL="SELECT lower(substring(doc->'object'->>'launchUrl' from '://([^/:]+)')) AS host,
       count(*) AS launches, count(DISTINCT doc->'actor'->>'id') AS users,
       count(DISTINCT doc->'group'->>'id') AS courses
FROM statements
WHERE doc->>'type' LIKE '%LTIEvent' AND doc->>'action' = 'LoggedIn'
  AND doc->>'eventTime' >= '$FROM' AND doc->>'eventTime' < '$TO'
GROUP BY 1 ORDER BY 2 DESC"
for i in 1 2 3; do
  t0=$(date +%s%N); rows=$($PG -d "$DBNAME" -At -c "$LRS_SQL" | wc -l)
  echo "postgres jsonb tools question: $(ms "$t0") ms ($rows tools)"
done
"$BENCH" "$DBA" "$FROM" "$TO" 5 | grep -E "^(tools |question tool_counts)"

echo "== B. every report on $((N * COPIES)) launches ($N generated, x$COPIES tenants)"
MIX="$WORK/mixed.jsonl"; DBB="$WORK/b.duckdb"
[ -f "$MIX" ] || "$BIN" generate --platform mixed --launches "$N" --seed 2 --out "$MIX"
rm -f "$DBB" "$DBB.wal"
t0=$(date +%s%N); "$BIN" --db "$DBB" import "$MIX" | head -1
"$REPL" "$DBB" "$COPIES"
echo "db size: $(du -cb "$DBB"* | tail -1 | cut -f1) bytes"
"$BENCH" "$DBB" "$FROM" "$TO" 5
for i in 1 2 3; do
  t0=$(date +%s%N); "$BIN" --db "$DBB" report tools --from "$FROM" --to "$TO" > /dev/null
  echo "cli 'report tools' (whole process): $(ms "$t0") ms"
done
for f in csv parquet jsonl; do
  t0=$(date +%s%N)
  "$BIN" --db "$DBB" export launches --from "$FROM" --to "$TO" --out "$WORK/export.$f" 2>&1
  echo "export $f: $(ms "$t0") ms, $(stat -c %s "$WORK/export.$f") bytes"
  rm -f "$WORK/export.$f"
done
if [ -d e2e/node_modules/playwright-core ] && [ -x /usr/bin/chromium ]; then
  node e2e/pageload.mjs "$BIN" "$DBB" "$FROM" "$TO"
fi
