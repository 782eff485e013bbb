#!/usr/bin/env python3
"""torch's fused Adam step, plain and with the non-finite gradient check
that torch runs before it under `torch.amp.GradScaler` (its equivalent of
fadam-core's check pass), timed as `fadam-bench` times fadam-core's step:
three warm-up steps, a probe step that sets the number of timed steps
(`--target-s` of work, 15 to 400), the gradient rotated from a pool of
three by reference before each step (outside the timed region), the
median of the timed steps. Prints one line per variant ending in
`ns/param=<value>`. Not part of any build or test (docs/benchmarks.md):

    python benches/torch/checked_adam.py --threads 1 --size 16777216
    python benches/torch/checked_adam.py --threads 2 --sizes-file sizes.txt --dtype f64
"""
import argparse
import statistics
import time

import torch


def sizes_of(args):
    if args.sizes_file:
        with open(args.sizes_file) as f:
            return [int(x) for x in f.read().replace(",", " ").split()]
    return [args.size]


def time_variant(name, sizes, dtype, target_s):
    gen = torch.Generator().manual_seed(42)
    params = [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in sizes]
    pool = [[torch.randn(s, generator=gen, dtype=dtype) for s in sizes] for _ in range(3)]
    opt = torch.optim.Adam(params, lr=1e-3, fused=True)
    scaler = None
    if name == "fused_adam_checked":
        # Scale 1: the check pass (reads and rewrites every gradient, sets
        # found_inf) runs as in mixed-precision training, without scaling.
        scaler = torch.amp.GradScaler("cpu", init_scale=1.0, growth_interval=1 << 30)
        scaler.scale(torch.ones((), dtype=dtype))  # creates the scale tensor

    def step(k):
        for p, g in zip(params, pool[k]):
            p.grad = g
        t0 = time.perf_counter_ns()
        if scaler is None:
            opt.step()
        else:
            scaler.step(opt)
            scaler.update()
        return time.perf_counter_ns() - t0

    for w in range(3):
        step(w % 3)
    probe = step(0) * 1e-9
    steps = int(min(400, max(15, target_s / max(probe, 1e-9))))
    times = sorted(step((s + 1) % 3) for s in range(steps))
    finite = all(bool(torch.isfinite(p).all()) for p in params)
    return statistics.median(times), steps, finite


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--size", type=int, default=1 << 24)
    where.add_argument("--sizes-file")
    ap.add_argument("--dtype", choices=["f32", "f64"], default="f32")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--target-s", type=float, default=1.0)
    ap.add_argument("--variants", default="fused_adam,fused_adam_checked")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtype = torch.float64 if args.dtype == "f64" else torch.float32
    sizes = sizes_of(args)
    total = sum(sizes)
    for name in args.variants.split(","):
        med, steps, finite = time_variant(name, sizes, dtype, args.target_s)
        print(f"torch={torch.__version__} threads={args.threads} dtype={args.dtype} "
              f"params={total} tensors={len(sizes)} steps={steps} finite={finite} "
              f"{name} ns/param={med / total:.4f}", flush=True)


if __name__ == "__main__":
    main()
