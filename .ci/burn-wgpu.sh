#!/usr/bin/env bash
# fadam-burn on burn's wgpu backend: its conformance, state and module tests
# (with the `wgpu` feature, burn's default device is the GPU), on Mesa's
# software Vulkan (llvmpipe) in CI. Skipped without a Vulkan driver unless
# FADAM_REQUIRE_GPU=1.
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
cargo clippy -p fadam-burn -p fadam-benches --all-targets --features fadam-burn/wgpu,fadam-benches/wgpu -- -D warnings
