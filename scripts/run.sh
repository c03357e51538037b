#!/usr/bin/env bash
# Runs tabcoin: installs what is missing (the wasm32 target, wasm-bindgen-cli at Cargo.lock's
# version, the pinned nightly that builds the page's wasm), builds the browser node into
# www/pkg and the relay, and starts the relay on its embedded store (creating the chain on the
# first start), serving the page, the WebSocket endpoint and the API on port 3000. It prints
# the URL to open, with ?node= examples.
# Extra arguments go to `tabcoin startnode` (e.g. --miner ADDR, --peer URL, --port N).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi
. scripts/lib.sh

ensure_wasm_target
ensure_wasm_bindgen
ensure_page_toolchain
build_page
step "building the relay"
cargo build --release -p tabcoin-relay
exec ./target/release/tabcoin startnode "$@"
