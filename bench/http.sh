#!/usr/bin/env bash
# HTTP ingest benchmark (issue 3): generated Blackboard LTIEvents posted as Caliper envelopes
# of 100 events by concurrent senders on loopback, with durable acknowledgements; side by side
# with `ltiscope import` of the same events into a fresh database. Then a longer run sampling
# the server's memory. Prints one JSON object per measurement.
#
# Usage: bash bench/http.sh [EVENTS] [SENDERS...]    e.g. bash bench/http.sh 200000 8 32
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-200000}"; shift || true
SENDERS=("${@:-8 32}"); SENDERS=(${SENDERS[@]})
SOAK_SECONDS="${SOAK_SECONDS:-300}"
WORK="${WORK:-$(mktemp -d)}"; mkdir -p "$WORK"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ltiscope-target}"
cargo build -q --workspace --all-targets   # the one (optimised) dev build: see Cargo.toml
BIN="$CARGO_TARGET_DIR/debug/ltiscope"
LOAD="$CARGO_TARGET_DIR/debug/examples/http_load"
FILE="$WORK/bb-$N.jsonl"
[ -f "$FILE" ] || "$BIN" generate --platform blackboard --launches "$N" --seed 2 --returns 0 --non-lti 0 --out "$FILE"

serve() { # $1 = db; prints "PID ADDR KEY"
  rm -f "$1" "$1.wal" "$1".inbox*   # the collector's two inbox files and their logs
  local key; key=$("$BIN" --db "$1" keys create --name bench --source blackboard 2>/dev/null)
  "$BIN" --db "$1" serve --listen 127.0.0.1:0 2> "$1.log" & local pid=$!
  # Wait for the line after the address, so the address line is whole.
  for _ in $(seq 1 200); do grep -q "dashboard at" "$1.log" && break; sleep 0.1; done
  echo "$pid $(grep -o 'listening on http://[0-9.:]*' "$1.log" | sed 's#listening on http://##') $key"
}
peak_kib() { grep VmHWM "/proc/$1/status" | awk '{print $2}'; }

for s in "${SENDERS[@]}"; do
  read -r PID ADDR KEY < <(serve "$WORK/http-$s.duckdb")
  "$LOAD" "$ADDR" "$KEY" "$FILE" "$s" 100
  echo "{\"senders\": $s, \"server_peak_rss_kib\": $(peak_kib "$PID")}"
  kill -TERM "$PID"; while kill -0 "$PID" 2>/dev/null; do sleep 0.2; done
  # The same events through `ltiscope import`, right after, for the ratio.
  rm -f "$WORK/import.duckdb"
  t0=$(date +%s.%N); "$BIN" --db "$WORK/import.duckdb" import "$FILE" > /dev/null; t1=$(date +%s.%N)
  echo "{\"import_events_per_second\": $(echo "$N / ($t1 - $t0)" | bc)}"
done

# Soak: keep 16 senders busy for SOAK_SECONDS with fresh events, sampling server RSS every 15 s.
read -r PID ADDR KEY < <(serve "$WORK/soak.duckdb")
end=$(( $(date +%s) + SOAK_SECONDS )); seed=100
( while [ "$(date +%s)" -lt "$end" ]; do
    "$BIN" generate --platform blackboard --launches 50000 --seed $seed --returns 0 --non-lti 0 --out "$WORK/soak-$seed.jsonl"
    "$LOAD" "$ADDR" "$KEY" "$WORK/soak-$seed.jsonl" 16 100 > /dev/null; rm -f "$WORK/soak-$seed.jsonl"; seed=$((seed + 1))
  done ) &
LOADER=$!
while kill -0 $LOADER 2>/dev/null; do
  echo "{\"soak_t\": $(( SOAK_SECONDS - (end - $(date +%s)) )), \"server_rss_kib\": $(grep VmRSS /proc/$PID/status | awk '{print $2}')}"
  sleep 15
done
echo "{\"soak_server_peak_rss_kib\": $(peak_kib "$PID")}"
kill -TERM "$PID"; while kill -0 "$PID" 2>/dev/null; do sleep 0.2; done
