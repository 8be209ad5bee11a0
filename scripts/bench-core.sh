#!/usr/bin/env bash
# Engine benchmark: mtrnnctl bench (Swift + oneDNN) against PyTorch
# (training/bench_torch.py, channels_last, 2 threads) on the same tile and
# iterations, in one go. The two alternate for ROUNDS rounds so that a noisy
# machine hurts both alike; each round reports a median of REPEATS runs and
# the script prints the median over rounds and the ratio (>1: Swift faster).
# Also CPU seconds (all threads) and GFLOP per CPU-second: on a shared VM the
# wall time measures the neighbours too, the CPU time mostly the code.
# OpenMP's default active spin-wait collapses when cores are shared; compare
# with OMP_WAIT_POLICY=passive in the environment (both engines honour it).
#
#   scripts/bench-core.sh [TILE] [ITERATIONS]     env: ROUNDS=2 REPEATS=3 THREADS=2 PRECISION=all
set -euo pipefail
cd "$(dirname "$0")/.."
TILE=${1:-256}
ITER=${2:-6}
ROUNDS=${ROUNDS:-2}
REPEATS=${REPEATS:-3}
THREADS=${THREADS:-2}
PRECISION=${PRECISION:-all}

swift build -c release --product mtrnnctl >&2
BIN=$(swift build -c release --show-bin-path)/mtrnnctl

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores;" \
     "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
for r in $(seq "$ROUNDS"); do
    echo "round $r/$ROUNDS" >&2
    "$BIN" bench --precision "$PRECISION" --tile "$TILE" --iterations "$ITER" \
        --repeats "$REPEATS" --warmup 1 --threads "$THREADS" --json >>"$OUT"
    (cd training && python3 bench_torch.py --precision "$PRECISION" --tile "$TILE" --iterations "$ITER" \
        --repeats "$REPEATS" --warmup 1 --threads "$THREADS" --json) >>"$OUT"
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault((r["engine"], r["precision"]), []).append(r)
print(f"{'engine':<20} {'precision':<9} {'tile':>5} {'iter':>4} {'median s':>9} {'GFLOP/s':>8} {'CPU s':>7} {'GFLOP/CPU-s':>11}")
med = {}
for (engine, prec), rs in sorted(by.items()):
    m = statistics.median(r["median_seconds"] for r in rs)
    c = statistics.median(r["cpu_seconds"] for r in rs)
    med[(engine, prec)] = m
    flop = 736_320 * rs[0]["tile"] ** 2 * rs[0]["iterations"]
    print(f"{engine:<20} {prec:<9} {rs[0]['tile']:>5} {rs[0]['iterations']:>4} {m:>9.3f} {flop / m / 1e9:>8.1f} "
          f"{c:>7.2f} {flop / c / 1e9:>11.1f}")
for prec in ("f32", "bf16"):
    s, t = med.get(("mtrnn-swift-onednn", prec)), med.get(("pytorch", prec))
    if s and t:
        print(f"ratio {prec}: PyTorch / Swift = {t / s:.2f} (>= 1.0: Swift no slower)")
tf, sb = med.get(("pytorch", "f32")), med.get(("mtrnn-swift-onednn", "bf16"))
if tf and sb:
    print(f"ratio Swift bf16 vs PyTorch f32: {tf / sb:.2f}")
PY
