"""Training throughput, before and after, in one run: a profile of one step and
the steps per wall-hour of two trainer configurations, measured alternately
(A B A B ...) on the same data and weights so that a shared machine's noise
falls on both. Each step trains one recurrent iteration of batch x crop x crop
pixels, so "training pixels x iterations per hour" is steps/h x batch x crop^2.

    python3 training/bench_train.py [--rounds 3] [--seconds 90] [--batch 4 --crop 128]
        [--a "--train-iters 1"] [--b "--pool 8"]

Pause a running trainer first (kill -STOP PID) and resume it after (kill -CONT).
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
import train  # noqa: E402


def timed(f, n=5):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def profile(tr):
    """Median seconds of each part of a step (one sequence's parts)."""
    m = tr.model
    lad = tr.batch()
    x = lad[13]
    with torch.no_grad(), tr.autocast():
        _, f1, f2 = m(x, x, None, None)
    f1, f2 = f1.float(), f2.float()

    def fwd():
        with torch.no_grad(), tr.autocast():
            m(x, x, f1, f2)

    def fwd_bwd():
        with tr.autocast():
            out, _, _ = m(x, x, f1, f2)
        tr.opt.zero_grad(set_to_none=True)
        torch.nn.functional.l1_loss(out.float(), lad[11]).backward()

    fwd_bwd()
    return {"data (one batch of ladders)": timed(tr.batch), "forward only": timed(fwd),
            "forward + backward": timed(fwd_bwd), "optimiser step": timed(tr.opt.step),
            "weight average": timed(tr.update_ema)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=90)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--common", default="--pick 2 --ema 0.995 --direct-start 0 --lr 2.5e-5 --warmup 1")
    ap.add_argument("--a", default="--train-iters 1", help="configuration A (before)")
    ap.add_argument("--b", default="--pool 8", help="configuration B (after)")
    ap.add_argument("--init-from", default="Models/mtrnn.safetensors")
    o = ap.parse_args(argv)
    run_dir = tempfile.mkdtemp()
    base = shlex.split(o.common) + ["--batch", str(o.batch), "--crop", str(o.crop), "--val-cross", "0",
                                    "--init-from", o.init_from, "--run-dir", run_dir,
                                    "--log", os.path.join(run_dir, "log.tsv")]
    cfg = {"A": train.parse(base + shlex.split(o.a)), "B": train.parse(base + shlex.split(o.b))}
    tr = train.Trainer(cfg["A"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"avx512_bf16: {'avx512_bf16' in open('/proc/cpuinfo').read()}")
    print("profile of one step's parts (median of 5, seconds):")
    for k, v in profile(tr).items():
        print(f"  {k:30s} {v:7.3f}")
    rates = {"A": [], "B": []}
    for r in range(o.rounds):
        for name in ("A", "B"):
            tr.a = cfg[name]
            tr.__dict__.pop("pool", None)
            steps0, t0 = tr.step, time.perf_counter()
            while time.perf_counter() - t0 < o.seconds:
                tr.pooled() if tr.a.pool > 0 else tr.sequence()
            rate = (tr.step - steps0) / (time.perf_counter() - t0) * 3600
            rates[name].append(rate)
            print(f"round {r + 1} {name} ({o.a if name == 'A' else o.b}): {rate:6.0f} steps/h", flush=True)
    px = o.batch * o.crop * o.crop
    ma, mb = statistics.median(rates["A"]), statistics.median(rates["B"])
    print(f"A {o.a!r}: median {ma:.0f} steps/h = {ma * px / 1e6:.0f} Mpx x iterations per hour")
    print(f"B {o.b!r}: median {mb:.0f} steps/h = {mb * px / 1e6:.0f} Mpx x iterations per hour")
    print(f"B / A = {mb / ma:.2f}")


if __name__ == "__main__":
    main()
