#!/usr/bin/env bash
# One machine's table for docs/benchmarks.md (issue 11): fadam-core's FAdam
# and Adam mode against torch's fused Adam, plain and with the non-finite
# gradient check torch runs before it under GradScaler
# (benches/torch/checked_adam.py), with this machine's floors (the C
# read-only loop, benches/c/read3.c, and fadam-bench's `floor-onepass`),
# in interleaved rounds of one run. Medians of the rounds, ns per parameter.
#
#   bash benches/side_by_side.sh [ROUNDS]        # default 3 rounds
#
# PYTHON: a Python with torch (default python3; without torch the torch
# columns stay empty). MODEL_SIZES: a file of tensor sizes for the model
# rows (default: fadam-bench's `--tensors 200`); both sides step it. Keep
# the machine quiet: every other process skews the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build -q --release -p fadam-benches --features rayon --bin fadam-bench
bench=${CARGO_TARGET_DIR:-target}/release/fadam-bench
gcc -O3 -march=native -fopenmp benches/c/read3.c -o "$work/read3"
if [ -n "${MODEL_SIZES:-}" ]; then
  cp "$MODEL_SIZES" "$work/model.txt"
else
  "$bench" --tensors 200 --print-sizes >"$work/model.txt"
fi
has_torch=0
"$python" -c 'import torch' 2>/dev/null && has_torch=1
[ $has_torch = 1 ] || echo "no torch in $python: the torch columns stay empty" >&2

out="$work/figures.txt"
for round in $(seq "$rounds"); do
  for threads in 1 2; do
    for dtype in f32 f64; do
      for workload in flat model; do
        if [ $workload = flat ]; then size=(--size 16777216); else size=(--sizes-file "$work/model.txt"); fi
        for mode in fadam adam; do
          # On the model also one `step` call per tensor (each tensor
          # all-or-nothing on its own; docs/algorithm.md, "Order of work").
          for atomic in model $([ $workload = model ] && echo tensor); do
            what=$mode; [ $atomic = tensor ] && what=$mode-per-tensor
            echo "$threads $dtype $workload $what $("$bench" "${size[@]}" --mode $mode --dtype $dtype \
              --threads "$threads" --atomic $atomic --target-s 1.0 | tail -1 | cut -d= -f2)" >>"$out"
          done
        done
        if [ $has_torch = 1 ]; then
          "$python" benches/torch/checked_adam.py "${size[@]}" --dtype $dtype --threads "$threads" \
            --target-s 1.0 | sed -n "s|.* \([a-z_]*\) ns/param=\(.*\)|$threads $dtype $workload \1 \2|p" >>"$out"
        fi
      done
      width=4; [ $dtype = f64 ] && width=8
      echo "$threads $dtype flat read3 $(OMP_NUM_THREADS=$threads "$work/read3" $width | awk '{print $4}')" >>"$out"
      [ "$threads" = 1 ] && echo "1 $dtype flat onepass $("$bench" --mode floor-onepass --dtype $dtype \
        --target-s 1.0 | tail -1 | cut -d= -f2)" >>"$out"
    done
  done
  echo "round $round of $rounds done" >&2
done

echo "figures of every round (threads dtype workload what ns/param):"
sort -k1,1 -k2,2 -k3,3 -k4,4 -s "$out"
grep -m1 'model name' /proc/cpuinfo
echo "model: $(wc -w <"$work/model.txt") tensors, $(tr ' ' '\n' <"$work/model.txt" | awk '{s += $1} END {print s}') parameters"
python3 - "$out" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    threads, dtype, workload, what, *value = line.split()
    if value:
        runs[threads, dtype, workload, what].append(float(value[0]))
med = lambda *key: statistics.median(runs[key]) if runs[key] else None
fmt = lambda x: "" if x is None else f"{x:.2f}"
ratio = lambda a, b: "" if a is None or b is None else f"{a / b:.2f}"
print("| threads | workload | dtype | FAdam | Adam mode | torch fused Adam | torch, checked"
      " | FAdam / torch | Adam mode / torch | FAdam / checked | Adam mode / checked"
      " | C read of 3 streams | floor-onepass | FAdam per tensor / torch | Adam mode per tensor / torch |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for threads in "12":
    for workload in ("flat", "model"):
        for dtype in ("f32", "f64"):
            fadam, adam, torch, checked = (med(threads, dtype, workload, w)
                                           for w in ("fadam", "adam", "fused_adam", "fused_adam_checked"))
            floors = [med(threads, dtype, "flat", w) if workload == "flat" else None
                      for w in ("read3", "onepass")]
            name = "2^24" if workload == "flat" else "model"
            print(f"| {threads} | {name} | {dtype} | {fmt(fadam)} | {fmt(adam)} | {fmt(torch)} | {fmt(checked)}"
                  f" | {ratio(fadam, torch)} | {ratio(adam, torch)} | {ratio(fadam, checked)}"
                  f" | {ratio(adam, checked)} | {fmt(floors[0])} | {fmt(floors[1])}"
                  f" | {ratio(med(threads, dtype, workload, 'fadam-per-tensor'), torch)}"
                  f" | {ratio(med(threads, dtype, workload, 'adam-per-tensor'), torch)} |")
PY
