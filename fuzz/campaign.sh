#!/usr/bin/env bash
# The fuzz campaign of docs/RELIABILITY.md: 10 million executions of every target on the
# targets built by `cargo +nightly fuzz build -O -s none`, both cores busy. The decoders run one
# after another in one lane; `node_session` (about 1,600 executions/s) runs as two workers of
# 5 million each, one per lane, sharing one corpus. New inputs go to fuzz/campaign/corpus/TARGET
# (git-ignored; the committed seeds in fuzz/corpus are only read), logs to fuzz/campaign/, a
# crash to fuzz/artifacts/TARGET/ and stops that run with its input saved.
# Usage: fuzz/campaign.sh [RUNS]   (RUNS per target, default 10000000)
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-10000000}
bin=target/x86_64-unknown-linux-gnu/release
decoders=(header transaction message user_text store_record block wallet_file)
mkdir -p campaign/corpus

# run TARGET RUNS LOG
run() {
    local target=$1
    mkdir -p "campaign/corpus/$target" "artifacts/$target"
    if "$bin/$target" "campaign/corpus/$target" "corpus/$target" -runs="$2" -timeout=10 -reload=30 \
        -artifact_prefix="artifacts/$target/" -print_final_stats=1 >"campaign/$3.log" 2>&1; then
        echo "$3: $(awk '/stat::number_of_executed_units/ {print $2}' "campaign/$3.log") executions, no crash"
    else
        echo "$3: FAILED, see fuzz/campaign/$3.log and fuzz/artifacts/$target/"
    fi
}
started=$(date +%s)
run node_session $((runs / 2)) node_session.1 &
(
    for target in "${decoders[@]}"; do run "$target" "$runs" "$target"; done
    run node_session $((runs - runs / 2)) node_session.2
) &
wait
echo "campaign of $runs executions per target done in $(($(date +%s) - started)) s"
