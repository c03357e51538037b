#!/usr/bin/env bash
# Runs every check and test tabcoin has. Installs what it needs (the wasm32 target) itself.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "installing the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    rustup component add "$component"
  fi
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

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
