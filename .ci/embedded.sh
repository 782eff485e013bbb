#!/usr/bin/env bash
# examples/embedded: trains the same model with the same code on a Cortex-M3
# (QEMU's LM3S6965, soft float), a Cortex-M4F (QEMU's MPS2 AN386, hard float)
# and the host (fadam-core's portable path, and with `std` its widest SIMD kernels),
# and fails unless every run prints the same losses, accuracies and
# fingerprint: the same bits. Installs qemu-system-arm and the rustup targets
# when missing (as root). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../examples/embedded"
export CARGO_TERM_COLOR=never
TARGETS="thumbv7m-none-eabi thumbv7em-none-eabihf"

if ! command -v qemu-system-arm >/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-system-arm
fi
for target in $TARGETS; do
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done

cargo fmt -- --check
cargo clippy --all-targets -- -D warnings
cargo test
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
for target in $TARGETS; do
  cargo clippy --release --target "$target" -- -D warnings
  cargo build --release --target "$target"
done
cargo build --release
cargo build --release --features std

# Runs a training, shows its output, and keeps every line but the cost
# (which only the boards measure) in $TRANSCRIPT; fails the script if the
# run fails (QEMU exits with the program's status).
run() {
  local name=$1 out
  shift
  echo "--- $name: $*"
  if ! out=$("$@"); then
    echo "$out"
    echo "FAILED: $name exited with an error"
    exit 1
  fi
  echo "$out"
  TRANSCRIPT=$(grep -v '^cost:' <<<"$out")
}
run host cargo run -q --release
reference=$TRANSCRIPT
status=0
check() {
  local name=$1
  run "$@"
  if [ "$TRANSCRIPT" != "$reference" ]; then
    echo "MISMATCH: $name differs from the host's portable run:"
    diff <(echo "$reference") <(echo "$TRANSCRIPT") || true
    status=1
  fi
}
check "host, std (AVX2 or AVX-512 where the CPU has them)" cargo run -q --release --features std
for target in $TARGETS; do
  check "QEMU, $target" timeout 300 cargo run -q --release --target "$target"
done
[ "$status" = 0 ] || exit 1
echo "same lines everywhere: $(grep '^fingerprint=' <<<"$reference")"
