#!/usr/bin/env bash
# Runs each cargo-fuzz target of a fuzz workspace (the argument: fuzz/ by
# default, or crates/fadam-burn/fuzz) briefly (FUZZ_SECONDS, default 30)
# on its committed corpus, with debug assertions (overflow checks) on.
# Needs nightly; installs cargo-fuzz when missing. Skips without nightly.
set -euo pipefail
cd "$(dirname "$0")/../${1:-fuzz}"
seconds="${FUZZ_SECONDS:-30}"
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "no nightly toolchain: fuzz targets not run"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz build -a
for target in $(cargo +nightly fuzz list); do
  echo "--- fuzz target $target (${seconds} s)"
  mkdir -p "corpus/$target"
  # A scratch copy of the corpus: the committed one changes only by hand
  # (`cargo fuzz cmin`), so CI leaves the work tree as it was.
  scratch=$(mktemp -d)
  cp -a "corpus/$target/." "$scratch/"
  set +e
  cargo +nightly fuzz run -a "$target" "$scratch" -- \
    -max_total_time="$seconds" -print_final_stats=1 2>&1 |
    grep -E "^(Done|stat::number_of_executed_units)|panicked|ERROR|SUMMARY|^  left|^ right"
  status=${PIPESTATUS[0]}
  set -e
  rm -rf "$scratch"
  [ "$status" -eq 0 ] || { echo "fuzz target $target failed: see ${1:-fuzz}/artifacts/$target"; exit 1; }
done
