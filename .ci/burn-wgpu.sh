#!/usr/bin/env bash
# fadam-burn on burn's wgpu backend: its conformance, state and module tests
# (with the `wgpu` feature, burn's default device is the GPU), and
# fadam-lab's `--backend wgpu`, on Mesa's software Vulkan (llvmpipe) in
# CI. Skipped without a Vulkan driver unless FADAM_REQUIRE_GPU=1.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
  if [ "${FADAM_REQUIRE_GPU:-0}" = 1 ]; then
    echo "FADAM_REQUIRE_GPU=1 but no Vulkan driver is installed" >&2
    exit 1
  fi
  echo "no Vulkan driver: fadam-burn wgpu tests skipped"
  exit 0
fi
cargo test -p fadam-burn --features wgpu
cargo clippy -p fadam-burn -p fadam-benches -p fadam-lab --all-targets --features fadam-burn/wgpu,fadam-benches/wgpu,fadam-lab/wgpu -- -D warnings
# fadam-lab on the wgpu backend: a short smoke run (every held-out loss
# falls), and the clear error of a machine without an adapter (the Vulkan
# and EGL loaders pointed at nothing).
cargo build -p fadam-lab --features wgpu
out=$(mktemp -d)
target/debug/fadam-lab --quick --steps 10 --backend wgpu --out "$out"
rm -rf "$out"
set +e
no_gpu=$(VK_ICD_FILENAMES=/nonexistent.json __EGL_VENDOR_LIBRARY_FILENAMES=/nonexistent.json \
  target/debug/fadam-lab --quick --backend wgpu --out "$(mktemp -d)" 2>&1)
status=$?
set -e
echo "$no_gpu" | grep -v XDG_RUNTIME_DIR
[ "$status" -eq 2 ] && echo "$no_gpu" | grep -q "wgpu finds no GPU adapter" || {
  echo "fadam-lab without an adapter: expected exit 2 and the no-adapter message" >&2
  exit 1
}
