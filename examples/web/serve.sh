#!/usr/bin/env bash
# Builds the page (fadam-web for wasm32, release, through wasm-bindgen) into
# examples/web/www/pkg and serves www/ on http://localhost:${PORT:-8000}/.
# `--build-only` stops after the build. Needs the wasm32-unknown-unknown
# target, wasm-bindgen-cli at the lockfile's wasm-bindgen version, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
PORT="${PORT:-8000}"
cargo build --release -p fadam-web --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript --out-dir examples/web/www/pkg \
  target/wasm32-unknown-unknown/release/fadam_web.wasm
[ "${1:-}" = --build-only ] && exit 0
echo "FAdam vs Adam on WebGPU: http://localhost:$PORT/"
exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory examples/web/www
