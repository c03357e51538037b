#!/usr/bin/env bash
# The fuzz campaign of docs/RELIABILITY.md: at least 10 million executions of every target,
# both cores busy, on the targets built with Cargo.toml's `campaign` profile (libFuzzer's
# coverage on tabcoin's code only, core's overflow checks and debug assertions on). It runs in
# chunks of a million executions and keeps each target's total in
# fuzz/campaign/TARGET.executions, so a campaign stopped part way (the slow targets take hours
# on two cores) goes on where it stopped when run again. New inputs go to
# fuzz/campaign/corpus/TARGET (git-ignored; the committed seeds in fuzz/corpus are only read),
# each lane's last chunk's log to fuzz/campaign/TARGET.LANE.log; a crash stops that target with its input in
# fuzz/artifacts/TARGET/.
# libFuzzer's timeout is wall-clock time: pausing the fuzzers (SIGSTOP) makes false timeouts.
# Usage: fuzz/campaign.sh [RUNS [TARGET...]]   (RUNS per target, default 10000000)
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-10000000}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(header transaction message user_text block store_record wallet_file node_session)
fi
chunk=1000000
# What `cargo fuzz build` does, but with coverage set per package by the profile.
RUSTFLAGS="--cfg fuzzing" cargo +nightly build --profile campaign --target x86_64-unknown-linux-gnu --bins
bin=target/x86_64-unknown-linux-gnu/campaign
mkdir -p campaign/corpus

executions() { cat "campaign/$1.executions" 2>/dev/null || echo 0; }

# One chunk of TARGET; adds what it ran to the target's total.
run_chunk() {
    local target=$1 count=$2 log="campaign/$1.$3.log"
    mkdir -p "campaign/corpus/$target" "artifacts/$target"
    if ! "$bin/$target" "campaign/corpus/$target" "corpus/$target" -runs="$count" -timeout=10 -reload=30 \
        -artifact_prefix="artifacts/$target/" -print_final_stats=1 >"$log" 2>&1; then
        echo "$target: CRASHED after $(executions "$target") executions, see fuzz/$log and fuzz/artifacts/$target/"
        return 1
    fi
    local done_now
    done_now=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    flock "campaign/.lock" sh -c "echo \$(( \$(cat campaign/$target.executions 2>/dev/null || echo 0) + $done_now )) > campaign/$target.executions"
}

# Each lane takes the next target that still needs executions, a chunk at a time; two lanes
# may share a target, each adding its chunks (they share the corpus directory).
lane() {
    local id=$1
    for target in "${targets[@]}"; do
        while [ "$(executions "$target")" -lt "$runs" ]; do
            local left=$((runs - $(executions "$target")))
            run_chunk "$target" $((left < chunk ? left : chunk)) "$id" || break
        done
    done
}
started=$(date +%s)
lane 1 &
sleep 1
lane 2 &
wait
for target in "${targets[@]}"; do echo "$target: $(executions "$target") executions"; done
echo "campaign to $runs executions per target: this run took $(($(date +%s) - started)) s"
