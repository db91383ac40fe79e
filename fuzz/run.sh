#!/usr/bin/env bash
# Coverage-guided fuzzing of the write path's pure half (fuzz_targets/prepare.rs) with
# libFuzzer, on the stable toolchain (the instrumentation cargo-fuzz adds, without it).
#
#   bash fuzz/run.sh [SECONDS] [libFuzzer flags...]     # default 300 s on one core
#   bash fuzz/run.sh seeds                              # each seed once (CI)
#   bash fuzz/run.sh 0 fuzz/artifacts/prepare/crash-…   # replay a crash
#
# The corpus starts from the project's fixtures, each with a first byte choosing the source and
# the PII policy (fuzz/corpus/prepare, not committed, grows as libFuzzer finds new paths);
# crashes land in fuzz/artifacts/prepare/.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-300}
shift || true
target=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/ltiscope-fuzz-target}
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
--cfg fuzzing"
# --target keeps the instrumentation out of build scripts and proc macros.
cargo build --release --locked --target "$target" --bin prepare
bin=$CARGO_TARGET_DIR/$target/release/prepare
mkdir -p corpus/prepare artifacts/prepare
if [ "$seconds" = 0 ]; then
    exec "$bin" "$@"
fi
# Seeds: every fixture of the project, each with a selector byte in front (source, policy).
n=0
while IFS= read -r -d '' f; do
    for sel in 0 6 10; do # detected + minimise, Blackboard forced + pseudonymise, detected + keep
        { printf "\\x$(printf %02x $sel)"; cat "$f"; } > "corpus/prepare/seed-$n-$sel"
    done
    n=$((n + 1))
done < <(find ../crates -path '*/tests/*' -name '*.json' -print0)
if [ "$seconds" = seeds ]; then
    echo "running the $((n * 3)) seeds from $n fixtures once"
    exec "$bin" corpus/prepare -runs=0 -max_len=1048576 -timeout=10
fi
echo "fuzzing for $seconds s from $n fixtures"
exec "$bin" corpus/prepare -artifact_prefix=artifacts/prepare/ -max_total_time="$seconds" \
    -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$@"
