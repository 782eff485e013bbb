#!/usr/bin/env bash
# fadam-burn's record-loading fuzz target (crates/fadam-burn/fuzz), about
# 30 s, when nightly and cargo-fuzz are there (installs cargo-fuzz if
# nightly is). FUZZ_SECONDS sets the time.
set -euo pipefail
cd "$(dirname "$0")/../crates/fadam-burn/fuzz"
if ! rustup toolchain list | grep -q nightly; then
  echo "no nightly toolchain: fadam-burn fuzzing skipped"
  exit 0
fi
if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked || { echo "cargo-fuzz unavailable: skipped"; exit 0; }
fi
cargo +nightly fuzz run record -- -max_total_time="${FUZZ_SECONDS:-30}" -max_len=4096
