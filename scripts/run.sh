#!/usr/bin/env bash
# Runs tabcoin: builds the relay and starts it on its embedded store (creating the chain on
# the first start), serving the page, the WebSocket endpoint and the API on port 3000.
# Extra arguments go to `tabcoin startnode` (e.g. --miner ADDR, --peer URL, --port N).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "cargo is missing: install Rust with rustup (https://rustup.rs)" >&2
    exit 1
fi

cargo build --release -p tabcoin-relay
exec ./target/release/tabcoin startnode "$@"
