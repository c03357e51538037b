# Shared by run.sh and test.sh: install what is missing (idempotently) and build the page.
# Sourced, not run.

step() { printf '\n==> %s\n' "$*"; }

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# wasm-bindgen-cli must be exactly the wasm-bindgen version in Cargo.lock.
ensure_wasm_bindgen() {
  local version
  version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
    step "installing wasm-bindgen-cli $version"
    # Not --locked: its lockfile pins a crate version the registry here lacks.
    cargo install wasm-bindgen-cli --version "$version"
  fi
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    step "installing chromium and chromium-driver"
    local sudo_if_needed=""
    if [ "$(id -u)" -ne 0 ]; then sudo_if_needed="sudo"; fi
    $sudo_if_needed apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo_if_needed apt-get install -y chromium chromium-driver
  fi
}

# The page's wasm is built with a pinned nightly: only nightly rebuilds the standard library for
# size and drops the panic machinery, which a tab can not use (without a panic hook, wasm's std
# prints a panic's message nowhere). That is 13 KB of the page's gzipped wasm; docs/BENCHMARKS.md
# has the figures. Everything else, the page's tests included, builds with stable.
PAGE_TOOLCHAIN=nightly-2026-05-20

ensure_page_toolchain() {
  local sysroot
  sysroot=$(rustc "+$PAGE_TOOLCHAIN" --print sysroot 2>/dev/null || true)
  if [ -z "$sysroot" ] || [ ! -d "$sysroot/lib/rustlib/src/rust/library" ] \
    || [ ! -d "$sysroot/lib/rustlib/wasm32-unknown-unknown" ]; then
    step "installing $PAGE_TOOLCHAIN (the page's wasm is built with it)"
    rustup toolchain install "$PAGE_TOOLCHAIN" --profile minimal --no-self-update \
      --target wasm32-unknown-unknown --component rust-src
  fi
}

# cargo build of a wasm module for the page (own target directory: another compiler, other
# flags).
# - simd128: WebAssembly's 128-bit SIMD (every current browser has it: Chromium since 91,
#   Firefox 89, Safari 16.4) moves and zeroes structures in 16-byte steps, in fewer
#   instructions (6 KB less gzipped), and sha2 hashes with it (the nonce search 45% faster).
# - immediate-abort: a panic traps at once (as `abort` did, less the message no one saw).
# - location-detail=none: no file names and lines for those messages.
# - fmt-debug=shallow: derived `Debug` prints only the type's name (the page shows no derived
#   `Debug` output: its messages come from `Display`).
page_cargo_build() {
  RUSTFLAGS="-Ctarget-feature=+simd128 -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=shallow" \
    cargo "+$PAGE_TOOLCHAIN" build --target wasm32-unknown-unknown --profile wasm-release \
    --target-dir target/page -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size "$@"
}

# Builds the browser node into www/pkg (the page imports www/pkg/tabcoin_web.js).
build_page() {
  step "building the page's wasm into www/pkg"
  # Two builds: in one, cargo would unify core's features and put P-256 in the page too.
  page_cargo_build -p tabcoin-web
  page_cargo_build -p tabcoin-ecdsa
  rm -rf www/pkg
  wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir www/pkg \
    target/page/wasm32-unknown-unknown/wasm-release/tabcoin_web.wasm
  # Core's P-256, loaded only where the browser's WebCrypto refuses (see web-ecdsa).
  wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir www/pkg/ecdsa \
    target/page/wasm32-unknown-unknown/wasm-release/tabcoin_ecdsa.wasm
  # The page's service worker keeps these for offline reloads (their names carry hashes); not
  # the P-256 module, fetched (and then kept) only if it is needed.
  (cd www/pkg && find . -path ./ecdsa -prune -o -type f ! -name '*.d.ts' ! -name files.json -print | sed 's|^\./||' | sort \
    | awk 'BEGIN { printf "[" } { printf "%s\"%s\"", (NR > 1 ? "," : ""), $0 } END { print "]" }') \
    >www/pkg/files.json
  # gzip -9 copies, which the relay serves to browsers that accept gzip: what a tab downloads.
  find www/pkg -type f \( -name '*.wasm' -o -name '*.js' \) -exec gzip -9 -n -k -f {} \;
  local size
  size=$(wc -c <www/pkg/tabcoin_web_bg.wasm.gz)
  echo "www/pkg/tabcoin_web_bg.wasm: $(wc -c <www/pkg/tabcoin_web_bg.wasm) bytes, $size gzipped"
  echo "www/pkg/ecdsa/tabcoin_ecdsa_bg.wasm (loaded only if needed): $(wc -c <www/pkg/ecdsa/tabcoin_ecdsa_bg.wasm.gz) gzipped"
}
