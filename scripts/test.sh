#!/usr/bin/env bash
# Runs every check and test tabcoin has. Installs what it needs itself: the wasm32 target,
# wasm-bindgen-cli at Cargo.lock's wasm-bindgen version, the pinned nightly that builds the
# page's wasm, and Debian's chromium and chromium-driver for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh

ensure_wasm_target
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    rustup component add "$component"
  fi
done
ensure_wasm_bindgen
ensure_page_toolchain
ensure_chromium

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo clippy for the browser shell on wasm32 (its browser tests build only there)"
cargo clippy -p tabcoin-web --target wasm32-unknown-unknown --all-targets -- -D warnings
cargo clippy -p tabcoin-web --target wasm32-unknown-unknown --lib -- -D warnings
cargo clippy -p tabcoin-ecdsa --target wasm32-unknown-unknown --all-targets -- -D warnings

step "the page's wasm carries no P-256 arithmetic (the browser signs and checks; web-ecdsa has it)"
if cargo tree -p tabcoin-web --target wasm32-unknown-unknown -e normal --prefix none | grep -E '^(p256|ecdsa) '; then
  echo "tabcoin-web pulls in P-256"; exit 1
fi
cargo build -p tabcoin-core --no-default-features --target wasm32-unknown-unknown --release

step "core has no IO dependencies"
io_crates=$(cargo tree -p tabcoin-core -e normal --prefix none \
  | grep -E '^(tokio|mio|socket2|web-sys|js-sys|wasm-bindgen|getrandom|redb|std-fs|async-std|libc) ' || true)
if [ -n "$io_crates" ]; then
  echo "tabcoin-core depends on IO crates:"; echo "$io_crates"; exit 1
fi

step "core builds for wasm32-unknown-unknown"
cargo build -p tabcoin-core --target wasm32-unknown-unknown --release

step "cargo test"
cargo test --workspace

step "starting a relay (test network, 6 blocks, mining when a payment waits) for the browser tests"
relay_dir=$(mktemp -d)
relay_pid=""
cleanup() {
  if [ -n "$relay_pid" ]; then kill "$relay_pid" 2>/dev/null || true; wait "$relay_pid" 2>/dev/null || true; fi
  rm -rf "$relay_dir"
}
trap cleanup EXIT
tabcoin=(./target/debug/tabcoin --network test --datadir "$relay_dir")
payee=$("${tabcoin[@]}" createwallet | awk '{print $NF}')
"${tabcoin[@]}" createblockchain --address "$payee" >/dev/null
for _ in 1 2 3 4 5; do
  "${tabcoin[@]}" send --from "$payee" --to "$payee" --amount 1 --mine >/dev/null
done
# The browser wallet test imports the key of this address (SecretKey::from_entropy([42; 32])).
"${tabcoin[@]}" send --from "$payee" --to mgjnwdJGrp3eoyZ9QP2k68tUPgSek3Tw8X --amount 3 --mine >/dev/null
"${tabcoin[@]}" startnode --port 0 --miner "$payee" --mine-when 1 --mining-threads 1 \
  >"$relay_dir/stdout" 2>"$relay_dir/relay.log" &
relay_pid=$!
for _ in $(seq 1 300); do
  grep -q "listening on" "$relay_dir/stdout" && break
  sleep 0.1
done
relay_url=$(grep -o 'http://[0-9.:]*/' "$relay_dir/stdout" | head -1)
if [ -z "$relay_url" ]; then
  echo "the relay did not start:"; cat "$relay_dir/relay.log"; exit 1
fi
export TABCOIN_TEST_RELAY="ws${relay_url#http}ws"
export TABCOIN_TEST_RELAY_HEIGHT=6

step "browser tests (wasm-bindgen-test in headless Chromium)"
CHROMEDRIVER=/usr/bin/chromedriver cargo test -p tabcoin-web --target wasm32-unknown-unknown

step "core's P-256 module for the page (wasm-bindgen-test in Node)"
cargo test -p tabcoin-ecdsa --target wasm32-unknown-unknown

step "building the page (www/pkg) for the end-to-end tests"
build_page

step "the page's wasm within its budget: under 180,000 bytes gzipped (docs/BENCHMARKS.md)"
page_wasm_gzipped=$(wc -c <www/pkg/tabcoin_web_bg.wasm.gz)
if [ "$page_wasm_gzipped" -ge 180000 ]; then
  echo "the page's wasm is $page_wasm_gzipped bytes gzipped, over its budget (docs/BENCHMARKS.md: what it is made of)" >&2
  exit 1
fi
echo "$page_wasm_gzipped bytes gzipped"

step "end-to-end: the seed's scenario in headless Chromium tabs against the relay"
rm -f tests/screenshots/failure-*
if ! (cd tests && npm ci --no-audit --no-fund && CHROMIUM=/usr/bin/chromium TABCOIN_BIN="$PWD/../target/debug/tabcoin" npm test); then
  # What the tabs and the relay showed at each failure, printed last so that a log cut to its
  # end still carries it.
  for diagnosis in tests/screenshots/failure-*.txt; do
    [ -e "$diagnosis" ] || continue
    echo "== $diagnosis (its end)"
    tail -n 60 "$diagnosis"
  done
  exit 1
fi
