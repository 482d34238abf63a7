#!/usr/bin/env bash
# Source this file: it makes sure every tool the Worker build needs is present,
# installing only what is missing, and exports the variables that keep
# worker-build from downloading its helpers from GitHub.
#
# Used by the wrangler `[build] command`, `scripts/run` and `scripts/test`, so the
# set-up lives in exactly one place: `ensure_toolchain` is what building and
# serving need, `ensure_test_tools` adds what only the test command uses.

# Pinned versions. wasm-bindgen-cli must match the wasm-bindgen crate in
# Cargo.lock exactly (the CLI refuses a schema mismatch), so it is read from there.
WORKER_BUILD_VERSION="0.8.7"
# cargo-deny for `cargo deny check licenses bans sources` in scripts/test
# (installed by ensure_test_tools only).
CARGO_DENY_VERSION="0.20.2"
# Python's prometheus_client, the maintained parser the e2e test `metrics`
# reads `GET /metrics` with (installed by ensure_test_tools only).
PROMETHEUS_CLIENT_VERSION="0.21.1"

QASE_EDGE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

toolchain_log() { echo "[toolchain] $*" >&2; }

wasm_bindgen_version() {
  # The version line follows the `name = "wasm-bindgen"` line in Cargo.lock.
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' \
    "$QASE_EDGE_ROOT/Cargo.lock"
}

ensure_toolchain() {
  local cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
  export PATH="$cargo_bin:$PATH"

  if ! command -v cargo >/dev/null; then
    toolchain_log "cargo not found: install Rust with rustup (https://rustup.rs) first"
    return 1
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    toolchain_log "node/npm not found: install Node.js 20 or newer first"
    return 1
  fi

  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    toolchain_log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown >&2 || return 1
  fi

  if [ "$(worker-build --version 2>/dev/null)" != "$WORKER_BUILD_VERSION" ]; then
    toolchain_log "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
    cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked >&2 || return 1
  fi

  local wbg_version
  wbg_version="$(wasm_bindgen_version)"
  if [ -z "$wbg_version" ]; then
    toolchain_log "no wasm-bindgen in Cargo.lock"
    return 1
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $wbg_version" ]; then
    toolchain_log "installing wasm-bindgen-cli $wbg_version (a few minutes, once)"
    # No --locked: the registry index lacks one of the crates its lock file pins.
    cargo install wasm-bindgen-cli --version "$wbg_version" >&2 || return 1
  fi

  # npm ci only when node_modules is missing or older than the lock file.
  if [ ! -x "$QASE_EDGE_ROOT/node_modules/.bin/wrangler" ] ||
    [ "$QASE_EDGE_ROOT/package-lock.json" -nt "$QASE_EDGE_ROOT/node_modules/.package-lock.json" ]; then
    toolchain_log "installing Node tools (npm ci)"
    (cd "$QASE_EDGE_ROOT" && npm ci --no-audit --no-fund >&2) || return 1
  fi

  export WASM_BINDGEN_BIN="$cargo_bin/wasm-bindgen"
  export ESBUILD_BIN="$QASE_EDGE_ROOT/node_modules/.bin/esbuild"
  export WASM_OPT_BIN="$QASE_EDGE_ROOT/node_modules/.bin/wasm-opt"
  export WRANGLER_SEND_METRICS=false
  # Miniflare otherwise spends seconds trying to fetch `Request.cf` from the
  # network at start-up, then falls back to a placeholder anyway.
  export CLOUDFLARE_CF_FETCH_ENABLED=false
}

# What only the test command needs on top of ensure_toolchain: cargo-deny
# (scripts/test's licence, ban and source check) and prometheus_client. Kept apart so that
# scripts/run and the wrangler build command on a bare machine do not spend
# minutes compiling it before they can serve.
ensure_test_tools() {
  ensure_toolchain || return 1
  if [ "$(cargo-deny --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
    toolchain_log "installing cargo-deny $CARGO_DENY_VERSION (a few minutes, once)"
    cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked >&2 || return 1
  fi
  if [ "$(python3 -c 'import prometheus_client, importlib.metadata as m; print(m.version("prometheus_client"))' 2>/dev/null)" != "$PROMETHEUS_CLIENT_VERSION" ]; then
    toolchain_log "installing prometheus_client $PROMETHEUS_CLIENT_VERSION (Python, for the metrics e2e test)"
    python3 -m pip install --quiet "prometheus_client==$PROMETHEUS_CLIENT_VERSION" >&2 || return 1
  fi
}

# The console's browser tests drive a real Chromium (Debian's `chromium`
# package; Puppeteer's own browser download needs the internet). Installs it
# with apt when it is missing and this user may; exports CHROMIUM_BIN.
ensure_chromium() {
  local bin
  bin="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
  if [ -z "$bin" ] && command -v apt-get >/dev/null && [ "$(id -u)" = "0" ]; then
    toolchain_log "installing chromium (apt-get, once) for the console's browser tests"
    apt-get install -y --no-install-recommends chromium >&2 ||
      { apt-get update >&2 && apt-get install -y --no-install-recommends chromium >&2; } || return 1
    bin="$(command -v chromium || true)"
  fi
  if [ -z "$bin" ]; then
    toolchain_log "no Chromium: install Debian's chromium package (or set CHROMIUM_BIN) for the console's browser tests"
    return 1
  fi
  export CHROMIUM_BIN="${CHROMIUM_BIN:-$bin}"
}
