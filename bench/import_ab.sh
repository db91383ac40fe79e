#!/usr/bin/env bash
# Import, two builds side by side (issue 2): the `ltiscope` and `parse_ceiling` binaries in two
# folders, alternating A B A B, each import of FILE into a fresh database between two runs of
# the parse ceiling on the same file, under /usr/bin/time. One line per import: wall and CPU
# seconds, peak RSS, events/s, the ceilings around it, import / mean ceiling, database bytes.
#
# Usage: bash bench/import_ab.sh FILE DIR_A DIR_B [ROUNDS]
#   e.g. copy target/debug/{ltiscope,examples/parse_ceiling} of each build into /tmp/a and /tmp/b
#   (see bench/http_ab.sh for building the other version), FILE from `ltiscope generate
#   --platform blackboard --launches 1000000 --seed 1 --returns 0 --non-lti 0 --out FILE`.
set -euo pipefail
FILE="$1"; A="$2"; B="$3"; ROUNDS="${4:-2}"
W="${WORK:-$(mktemp -d)}"; mkdir -p "$W"; DB="$W/ab.duckdb"
N=$(wc -l < "$FILE")
cat "$FILE" > /dev/null   # warm the page cache for every contender
ceiling() { "$1/parse_ceiling" "$FILE" | sed 's/.*"per_second": \([0-9]*\).*/\1/'; }
for _ in $(seq 1 "$ROUNDS"); do
  for X in "$A" "$B"; do
    c1=$(ceiling "$X")
    rm -f "$DB" "$DB".wal
    t0=$(date +%s.%N)
    /usr/bin/time -f '%e %U %S %M' -o "$W/time" "$X/ltiscope" --db "$DB" import "$FILE" > /dev/null 2> "$W/import.err"
    t1=$(date +%s.%N)
    c2=$(ceiling "$X")
    read -r wall user sys rss < "$W/time"
    rate=$(echo "$N / ($t1 - $t0)" | bc -l)
    printf '%s wall=%.1fs cpu=%.1fs peak_rss=%dMiB events_per_s=%.0f ceiling=%s/%s ratio=%.3f db_bytes=%s\n' \
      "$X" "$wall" "$(echo "$user + $sys" | bc)" $((rss / 1024)) "$rate" "$c1" "$c2" \
      "$(echo "$rate / (($c1 + $c2) / 2)" | bc -l)" "$(du -cb "$DB"* | tail -1 | cut -f1)"
    tail -1 "$W/import.err"   # the closing rollup refresh and its time
  done
done
