#!/usr/bin/env bash
# PostgreSQL benchmarks (issue 5). Two parts, one run, side by side:
#
#  A. HTTP ingest of N generated Blackboard LTIEvents (envelopes of 100, S concurrent senders,
#     durable acknowledgements) into: one collector on DuckDB; one collector on PostgreSQL;
#     three collectors on one PostgreSQL database (senders spread across them).
#  B. Reports on PostgreSQL: a generated mixed term of LAUNCHES launches imported with
#     `ltiscope import` (timed, and the same file into DuckDB for the ratio), multiplied into
#     COPIES tenants in SQL (as the `replicate` example does for DuckDB), then every report over
#     a 90-day range (`report_bench`).
#
# Usage: bash bench/postgres.sh [N] [SENDERS] [LAUNCHES] [COPIES] [WORKDIR]
# Needs PostgreSQL on 127.0.0.1:5432 (trust auth). Databases it creates are dropped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-200000}"; S="${2:-16}"; LAUNCHES="${3:-1000000}"; COPIES="${4:-10}"
WORK="${5:-$(mktemp -d)}"; mkdir -p "$WORK"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ltiscope-target}"
cargo build -q --workspace --all-targets   # the one (optimised) dev build: see Cargo.toml
BIN="$CARGO_TARGET_DIR/debug/ltiscope"
LOAD="$CARGO_TARGET_DIR/debug/examples/http_load"
BENCH="$CARGO_TARGET_DIR/debug/examples/report_bench"
PG="psql -X -q -h 127.0.0.1 -U postgres"
DBS=()
# newdb NAME: creates a database, sets URL (not in a subshell, so DBS remembers it for cleanup)
newdb() { local n="ltiscope_bench_$$_$1"; $PG -d postgres -c "CREATE DATABASE $n"; DBS+=("$n"); URL="postgres://postgres@127.0.0.1:5432/$n"; }
cleanup() { stop_all
  for n in "${DBS[@]}"; do $PG -d postgres -c "DROP DATABASE IF EXISTS $n WITH (FORCE)" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# start_serve STORE-ARGS... : starts a collector (its pid goes to $WORK/pids), prints its address
start_serve() {
  local log; log=$(mktemp "$WORK/serve.XXXX.log")
  "$BIN" "$@" serve --listen 127.0.0.1:0 > /dev/null 2> "$log" &
  echo $! >> "$WORK/pids"
  # Wait for the line after the address, so the address line is whole.
  for _ in $(seq 1 300); do grep -q "dashboard at" "$log" && break; sleep 0.1; done
  grep -o 'listening on http://[0-9.:]*' "$log" | sed 's#listening on http://##'
}
stop_all() {
  [ -f "$WORK/pids" ] || return 0
  for pid in $(cat "$WORK/pids"); do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $(cat "$WORK/pids"); do while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done; done
  rm -f "$WORK/pids"
}

echo "== A. HTTP ingest of $N events, $S senders"
FILE="$WORK/bb-$N.jsonl"
[ -f "$FILE" ] || "$BIN" generate --platform blackboard --launches "$N" --seed 2 --returns 0 --non-lti 0 --out "$FILE"
DUCK="$WORK/ingest.duckdb"; rm -f "$DUCK" "$DUCK.wal"
KEY=$("$BIN" --db "$DUCK" keys create --name bench --source blackboard 2>/dev/null)
ADDR=$(start_serve --db "$DUCK")
echo "duckdb, 1 collector: $("$LOAD" "$ADDR" "$KEY" "$FILE" "$S" 100)"
stop_all
newdb one; URL1=$URL
KEY=$("$BIN" --database-url "$URL1" keys create --name bench --source blackboard 2>/dev/null)
ADDR=$(start_serve --database-url "$URL1")
echo "postgres, 1 collector: $("$LOAD" "$ADDR" "$KEY" "$FILE" "$S" 100)"
stop_all
newdb three; URL3=$URL
KEY=$("$BIN" --database-url "$URL3" keys create --name bench --source blackboard 2>/dev/null)
ADDRS="$(start_serve --database-url "$URL3"),$(start_serve --database-url "$URL3"),$(start_serve --database-url "$URL3")"
echo "postgres, 3 collectors: $("$LOAD" "$ADDRS" "$KEY" "$FILE" "$S" 100)"
stop_all
echo "stored once each: $($PG -d "${DBS[1]}" -At -c "SELECT count(*), count(DISTINCT event_id) FROM events")"

echo "== B. reports on PostgreSQL over $((LAUNCHES * COPIES)) launches"
MIX="$WORK/mixed-$LAUNCHES.jsonl"
[ -f "$MIX" ] || "$BIN" generate --platform mixed --launches "$LAUNCHES" --seed 2 --out "$MIX"
newdb reports; URLB=$URL
t0=$(date +%s%N); "$BIN" --database-url "$URLB" import "$MIX" | sed -n 1p; echo "postgres import: $(ms "$t0") ms"
rm -f "$WORK/b.duckdb" "$WORK/b.duckdb.wal"
t0=$(date +%s%N); "$BIN" --db "$WORK/b.duckdb" import "$MIX" | sed -n 1p; echo "duckdb import: $(ms "$t0") ms"
t0=$(date +%s%N)
for k in $(seq 2 "$COPIES"); do
  $PG -d "${DBS[2]}" -c "INSERT INTO launches SELECT event_key, source, tenant || '~$k', event_id || '~$k',
      action, event_time, received_at, user_key, user_hash # ($k * 2654435761), user_platform_id, user_iri,
      user_external_id, role, roles_raw, test_user, impersonator, course_key, course_hash # ($k * 2654435761),
      course_platform_id, course_iri, course_label, course_title, course_number, org_unit_type, tool_id,
      tool_name, tool_match, launch_url, launch_host, consumer_key, client_id, deployment_id,
      tool_provider_id, lti_version, message_type, resource_link_id, launch_id, session_id, locale,
      metrics, visit_key # ($k * 2654435761)
    FROM launches WHERE tenant NOT LIKE '%~%'"
done
# The copies are new launch records for the rollups too: mark their hours, as a write would.
$PG -d "${DBS[2]}" -c "INSERT INTO rollup_marks (tenant, hour, kind)
    SELECT DISTINCT tenant, date_trunc('hour', event_time), action FROM launches
    WHERE action IN ('launch', 'return') AND tenant LIKE '%~%'"
$PG -d "${DBS[2]}" -c "VACUUM ANALYZE"
echo "replicated in $(ms "$t0") ms: $($PG -d "${DBS[2]}" -At -c "SELECT count(*) FROM launches WHERE action = 'launch'") launches, $($PG -d "${DBS[2]}" -At -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"
FROM=2026-01-26; TO=2026-04-26   # 90 days inside the generated term (2026-01-12 + 105 days)
"$BENCH" "$URLB" "$FROM" "$TO" 1
