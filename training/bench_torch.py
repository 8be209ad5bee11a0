"""Time the PyTorch reference on one tile, the peer `mtrnnctl bench` is
measured against: channels_last f32, and bf16 autocast, same tile and
iterations, warm-up then the median of repeated runs.

    python3 training/bench_torch.py [--precision f32|bf16|all] [--tile 256]
        [--iterations 6] [--repeats 5] [--warmup 1] [--threads 2] [--json]

--json prints one JSON object per line per precision, the same shape as
`mtrnnctl bench --json` with "engine": "pytorch".
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import torch

from mtrnn_model import MTRNN

FLOPS_PER_PIXEL_PER_ITERATION = 736_320


def test_image(side):
    """The same smooth pattern plus texture as Bench.testImage, 0..255."""
    y = torch.arange(side, dtype=torch.float64).view(side, 1)
    x = torch.arange(side, dtype=torch.float64).view(1, side)
    planes = []
    for c in range(3):
        v = 128 + 90 * torch.sin(x * 0.05 + c) * torch.cos(y * 0.03 - c) + 20 * torch.sin(((x * y) % 97))
        planes.append(v.clamp(0, 255))
    return torch.stack(planes).unsqueeze(0).float()


def bf16_fast():
    """Whether this CPU has native bf16 (otherwise autocast emulates it slowly)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def time_one(model, x, precision, iterations, repeats, warmup):
    def once():
        with torch.inference_mode():
            if precision == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    model.run(x, iterations)
            else:
                model.run(x, iterations)

    for _ in range(warmup):
        once()
    seconds, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        once()
        seconds.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return seconds, cpu


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--precision", default="f32", choices=["f32", "bf16", "all"])
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    model = MTRNN().eval().to(memory_format=torch.channels_last)
    x = test_image(args.tile).contiguous(memory_format=torch.channels_last)
    precisions = ["f32", "bf16"] if args.precision == "all" else [args.precision]
    for p in precisions:
        if p == "bf16" and not bf16_fast():
            msg = "bf16 skipped: this CPU has no avx512_bf16/AMX (autocast would emulate it)"
            if args.precision == "all":
                print(msg, file=sys.stderr)
                continue
        seconds, cpu = time_one(model, x, p, args.iterations, args.repeats, args.warmup)
        seconds.sort()
        median, cpu_median = statistics.median(seconds), statistics.median(cpu)
        flop = FLOPS_PER_PIXEL_PER_ITERATION * args.tile ** 2 * args.iterations
        gflops = flop / median / 1e9
        if args.json:
            print(json.dumps({"engine": "pytorch", "precision": p, "tile": args.tile, "iterations": args.iterations,
                              "threads": args.threads, "repeats": args.repeats, "median_seconds": median,
                              "min_seconds": seconds[0], "gflops": gflops, "cpu_seconds": cpu_median,
                              "gflops_per_cpu_second": flop / cpu_median / 1e9,
                              "torch": torch.__version__}, sort_keys=True))
        else:
            print(f"pytorch {p} {args.tile}x{args.tile} x {args.iterations} iterations: median {median:.3f} s "
                  f"(min {seconds[0]:.3f} s, {args.repeats} runs), {gflops:.1f} GFLOP/s, "
                  f"{flop / cpu_median / 1e9:.1f} GFLOP per CPU-second")


if __name__ == "__main__":
    main()
