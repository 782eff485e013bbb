#!/usr/bin/env bash
# fadam-wgpu in a browser: the GPU conformance tests (crates/fadam-wgpu/
# tests/web.rs) under wasm-bindgen-test in headless Chromium on its
# SwiftShader WebGPU adapter, then the examples/web page (both losses fall)
# through chromedriver. Installs what is missing (as root): Debian's chromium
# and chromium-driver, the wasm32 target, wasm-bindgen-cli at the lockfile's
# wasm-bindgen version. Idempotent. `--screenshot` also refreshes
# docs/web-demo.png.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

step "tools: chromium, chromedriver, wasm32 target, wasm-bindgen-cli"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
fi
command -v python3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
# The CLI must match the wasm-bindgen crate the lockfile pins.
WB=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB" ]; then
  # Unlocked: the CLI's own lockfile may pin crates newer than the registry has.
  cargo install wasm-bindgen-cli --version "$WB"
fi
chromium --version; chromedriver --version; wasm-bindgen --version

step "fadam-wgpu's tests in headless Chromium (WebGPU, SwiftShader)"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/.ci/webdriver.json"
export WASM_BINDGEN_TEST_TIMEOUT=300
export CHROMEDRIVER="$(command -v chromedriver)"
timeout 900 cargo test -p fadam-wgpu --target wasm32-unknown-unknown --test web

step "examples/web: the page trains FAdam and Adam; both losses fall"
timeout 900 bash examples/web/serve.sh --build-only
shot=()
[ "${1:-}" = --screenshot ] && shot=(--screenshot docs/web-demo.png)
timeout 400 python3 examples/web/check.py --steps 300 "${shot[@]}"
timeout 120 python3 examples/web/check.py --no-webgpu

step "web done"
