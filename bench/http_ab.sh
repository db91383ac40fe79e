#!/usr/bin/env bash
# HTTP ingest, two builds side by side (issue 3): the `ltiscope` and `http_load` binaries in
# two folders, alternating, a fresh `serve` per run on loopback, the same generated Blackboard
# events posted as envelopes of 100. Prints one line per run (http_load's JSON, the server's
# peak RSS, its commit-latency histogram file) and the server's exit status.
#
# Usage: bash bench/http_ab.sh DIR_A DIR_B [EVENTS] [SENDERS] [ROUNDS]
#   e.g. copy target/debug/{ltiscope,examples/http_load} of each build into /tmp/a and /tmp/b.
# Build the other version in its own clone and copy its binaries aside before rebuilding this
# one (a worktree sharing CARGO_TARGET_DIR shares our crates' artifacts: touch every source
# file here before the rebuild).
set -euo pipefail
A="$1"; B="$2"; N="${3:-200000}"; S="${4:-16}"; ROUNDS="${5:-2}"
W="${WORK:-$(mktemp -d)}"; mkdir -p "$W"; FILE="$W/bb-$N.jsonl"
[ -f "$FILE" ] || "$B/ltiscope" generate --platform blackboard --launches "$N" --seed 2 --returns 0 --non-lti 0 --out "$FILE" > /dev/null
run() { # $1 = binary folder, $2 = label
  local db="$W/$2.duckdb"
  rm -f "$db" "$db".wal "$db".inbox*
  local key; key=$("$1/ltiscope" --db "$db" keys create --name bench --source blackboard 2>/dev/null)
  "$1/ltiscope" --db "$db" serve --listen 127.0.0.1:0 2> "$db.log" & local pid=$!
  for _ in $(seq 1 200); do grep -q "dashboard at" "$db.log" && break; sleep 0.1; done
  local addr; addr=$(grep -o 'listening on http://[0-9.:]*' "$db.log" | sed 's#listening on http://##')
  local out; out=$("$1/http_load" "$addr" "$key" "$FILE" "$S" 100)
  { curl -s "http://$addr/metrics" | grep -E "commit_duration_seconds_(bucket|sum|count)" > "$db.commits"; } || true
  # The server's CPU time (user + system) for the run: steadier than wall time on a shared machine.
  local cpu; cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$pid/stat")
  echo "$2 $out peak_rss_kib=$(grep VmHWM "/proc/$pid/status" | awk '{print $2}') server_cpu_s=$cpu commits=$db.commits"
  kill -TERM "$pid"; if wait "$pid"; then echo "$2 exit 0"; else echo "$2 exit $?"; fi
}
for _ in $(seq 1 "$ROUNDS"); do run "$A" a; run "$B" b; done
