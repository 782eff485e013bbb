#!/usr/bin/env bash
# fadam-mpi on real MPI processes: installs Open MPI (and libclang for the
# bindings) from Debian when missing, lints and tests the crate with its
# `mpi` feature, runs the multi-rank checks under mpirun on 1 to 4 ranks,
# and checks that the data-parallel Shakespeare demo on 2 ranks matches one
# process. Runs as root (CI); idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
step() { echo; echo "=== mpi: $* ($(date -u +%H:%M:%S))"; }

step "Open MPI and libclang"
if ! dpkg -s libopenmpi-dev openmpi-bin libclang-dev >/dev/null 2>&1; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q libopenmpi-dev openmpi-bin libclang-dev
fi
# Containers often forbid the cross-process memory attach of the shared
# memory transport; plain copies work everywhere.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
MPIRUN=(mpirun --allow-run-as-root --oversubscribe)

step "clippy, tests and rustdoc with the mpi feature"
cargo clippy -p fadam-mpi --all-targets --features mpi -- -D warnings
cargo test -p fadam-mpi --features mpi
RUSTDOCFLAGS="-D warnings" cargo doc -p fadam-mpi --no-deps --features mpi
cargo build --release -p fadam-mpi --features mpi --examples
bin=target/release/examples

for n in 1 2 3 4; do
  step "multi-rank checks on $n rank(s)"
  log=$(mktemp)
  timeout 900 "${MPIRUN[@]}" -np "$n" "$bin/mpi_check" | tee "$log"
  checks=$(grep -c ': ok$' "$log" || true)
  rm -f "$log"
  # Five checks on every rank, and with more than one rank the re-sharded
  # loads: on all ranks but the last, and on all.
  expected=$((5 * n)); [ "$n" -gt 1 ] && expected=$((expected + 2 * n - 1))
  [ "$checks" -eq "$expected" ] || { echo "expected $expected passed checks, got $checks"; exit 1; }
done

step "Shakespeare data-parallel on 2 ranks against 1 process"
one=$(timeout 600 "${MPIRUN[@]}" -np 1 "$bin/shakespeare_dp" 20 | grep '^step')
two=$(timeout 600 "${MPIRUN[@]}" -np 2 "$bin/shakespeare_dp" 20 | grep '^step')
paste <(echo "$one") <(echo "$two")
paste <(echo "$one" | awk '{print $4}') <(echo "$two" | awk '{print $4}') |
  awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-4) bad = 1; n++ }
       END { if (n != 20 || bad) { print "losses differ beyond rounding"; exit 1 } }'

step "step time (tiny size: a smoke run, not a measurement)"
timeout 300 "${MPIRUN[@]}" -np 2 "$bin/step_time" 100000 3
