#!/usr/bin/env bash
# Same bits from every build and every copy of fadam-core's kernels: the
# fingerprint example with and without std, with rayon, and with each copy
# the CPU runs forced by FADAM_KERNELS (portable, AVX2, AVX-512).
set -euo pipefail
cd "$(dirname "$0")/.."
run() { cargo run -q --release -p fadam-core "$@" --example fingerprint; }
want=$(run)
echo "std, widest kernels: $want"
fail=0
check() {
  local what=$1; shift
  local got
  got=$("$@")
  echo "$what: $got"
  [ "$got" = "$want" ] || { echo "  DIFFERS"; fail=1; }
}
check "no_std" run --no-default-features --features alloc
check "rayon" run --features rayon
for k in portable avx2 avx512; do
  # The copy that ran (a CPU without it runs the next narrower one).
  ran=$(FADAM_KERNELS=$k run 2>&1 >/dev/null)
  check "std, FADAM_KERNELS=$k ($ran)" env FADAM_KERNELS=$k cargo run -q --release -p fadam-core --example fingerprint
  check "rayon, FADAM_KERNELS=$k" env FADAM_KERNELS=$k cargo run -q --release -p fadam-core --features rayon --example fingerprint
done
exit $fail
