#!/usr/bin/env bash
# One machine's table for docs/benchmarks.md (issue 11): fadam-core's FAdam
# and Adam mode against torch's fused Adam, with this machine's floors (the
# C read-only loop, benches/c/read3.c, and fadam-bench's `floor-onepass`),
# in interleaved rounds of one run. Medians of the rounds, ns per parameter.
#
#   bash benches/side_by_side.sh [ROUNDS]        # default 3 rounds
#
# torch's figures need a side-by-side script outside this repository that
# takes `--threads --cases --opts --target-s` and prints `ns/param=`, and a
# Python with torch: TORCH_STEP=/path/to/torch_step.py PYTHON=/path/to/python.
# Without them the torch column stays empty. With it, the model is the
# script's `model200` sizes (its `model_sizes()`); without, fadam-bench's
# `--tensors 200`. Keep the machine quiet: every other process skews it.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build -q --release -p fadam-benches --features rayon --bin fadam-bench
bench=${CARGO_TARGET_DIR:-target}/release/fadam-bench
gcc -O3 -march=native -fopenmp benches/c/read3.c -o "$work/read3"

model=(--tensors 200)
if [ -n "${TORCH_STEP:-}" ]; then
  python=${PYTHON:-python3}
  # The torch script's model, so that both sides step the same tensors.
  "$python" -c "import sys, runpy; m = runpy.run_path(sys.argv[1]); print(*m['model_sizes']())" \
    "$TORCH_STEP" >"$work/model200.txt"
  model=(--sizes-file "$work/model200.txt")
fi

# torch's fused Adam in `f32` or `f64` (the default dtype set before the
# script runs), one case, one thread count.
torch() {
  local dtype=$1 threads=$2 case=$3
  [ -n "${TORCH_STEP:-}" ] || return 0
  "$python" -c "import sys, runpy, torch
torch.set_default_dtype(getattr(torch, 'float64' if sys.argv[1] == 'f64' else 'float32'))
sys.argv = [sys.argv[2]] + sys.argv[3:]
runpy.run_path(sys.argv[0], run_name='__main__')" \
    "$dtype" "$TORCH_STEP" --threads "$threads" --cases "$case" --opts adam_fused --target-s 1.0 2>&1 |
    grep -o 'ns/param= *[0-9.]*' | tr -d ' ' | cut -d= -f2
}

out="$work/figures.txt"
for round in $(seq "$rounds"); do
  for threads in 1 2; do
    for dtype in f32 f64; do
      for workload in flat model; do
        if [ $workload = flat ]; then size=(--size 16777216) case='flat_2^24'; else size=("${model[@]}") case=model200; fi
        for mode in fadam adam; do
          echo "$threads $dtype $workload $mode $("$bench" "${size[@]}" --mode $mode --dtype $dtype \
            --threads "$threads" --target-s 1.0 | tail -1 | cut -d= -f2)" >>"$out"
        done
        echo "$threads $dtype $workload torch $(torch $dtype "$threads" "$case")" >>"$out"
      done
      width=4; [ $dtype = f64 ] && width=8
      echo "$threads $dtype flat read3 $(OMP_NUM_THREADS=$threads "$work/read3" $width | awk '{print $4}')" >>"$out"
      [ "$threads" = 1 ] && echo "1 $dtype flat onepass $("$bench" --mode floor-onepass --dtype $dtype \
        --target-s 1.0 | tail -1 | cut -d= -f2)" >>"$out"
    done
  done
  echo "round $round of $rounds done" >&2
done

grep -m1 'model name' /proc/cpuinfo
python3 - "$out" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    threads, dtype, workload, what, *value = line.split()
    if value:
        runs[threads, dtype, workload, what].append(float(value[0]))
med = lambda *key: statistics.median(runs[key]) if runs[key] else None
fmt = lambda x: "" if x is None else f"{x:.2f}"
ratio = lambda a, b: "" if a is None or b is None else f"{a / b:.2f}"
print("| threads | workload | dtype | FAdam | Adam mode | torch fused Adam | FAdam / torch"
      " | Adam mode / torch | C read of 3 streams | floor-onepass |")
print("|---|---|---|---|---|---|---|---|---|---|")
for threads in "12":
    for workload in ("flat", "model"):
        for dtype in ("f32", "f64"):
            fadam, adam, torch = (med(threads, dtype, workload, w) for w in ("fadam", "adam", "torch"))
            floors = [med(threads, dtype, workload, w) for w in ("read3", "onepass")]
            name = "2^24" if workload == "flat" else "model200"
            print(f"| {threads} | {name} | {dtype} | {fmt(fadam)} | {fmt(adam)} | {fmt(torch)}"
                  f" | {ratio(fadam, torch)} | {ratio(adam, torch)} | {fmt(floors[0])} | {fmt(floors[1])} |")
EOF
