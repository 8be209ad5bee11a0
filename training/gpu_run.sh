#!/usr/bin/env bash
# One GPU training run of MT-RNN, for a lent CUDA machine (the device tool).
#
#   training/gpu_run.sh MINUTES [INIT_WEIGHTS] [OUTDIR]
#
# Trains for MINUTES of wall time from INIT_WEIGHTS (default: the shipped
# Models/mtrnn.safetensors; a .pt checkpoint works too) with bf16 autocast,
# batch 16 of 256x256 crops, the ladders made on the GPU, the paper's
# incremental targets with 8 sequences in flight (--pool), synthetic blur as
# long as the cross-scene pairs' (up to 7 px per frame, smooth, the speed
# drawn log-uniformly so short blur stays in the mix: training/README.md
# items 12 and 14; see training/logs/blur-extent.json); then writes to OUTDIR (default $OUT, else
# /tmp/mtrnn-gpu-run), at most 5 files, each under 16 MiB:
#   best.safetensors       the best-validating weights (averaged or raw)
#   last-ema.safetensors   the averaged weights at the end
#   last-raw.safetensors   the raw weights at the end
#   train.tsv              the training log (train and validation lines)
#   stdout.log             what the trainer printed
#
# Data: MTRNN_DATA, default training/pack (made here by `python3
# training/pack_data.py`, about 28 MiB, ignored by git: name it in the device
# tool's `carry`). The GPU machine has PyTorch, numpy and Pillow; nothing is
# installed. Before the real run, dry-run it on the CPU for a minute:
#   DEVICE=cpu BATCH=2 CROP=64 VAL_CROP=64 training/gpu_run.sh 1 Models/mtrnn.safetensors /tmp/dry
# On the device tool (one call, about MINUTES + 2 minutes):
#   run(command="bash training/gpu_run.sh 7", carry=["training/pack"], timeout_s=600)
# Then evaluate the returned weights on the CPU (training/README.md) and ship
# them only if they beat the shipped ones.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:?usage: training/gpu_run.sh MINUTES [INIT_WEIGHTS] [OUTDIR]}
INIT=${2:-Models/mtrnn.safetensors}
OUTDIR=${3:-${OUT:-/tmp/mtrnn-gpu-run}}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-16}
CROP=${CROP:-256}
LR=${LR:-1e-4}
VAL_CROP=${VAL_CROP:-256}
export MTRNN_DATA=${MTRNN_DATA:-training/pack}
export PYTHONUNBUFFERED=1
RUN=$(mktemp -d)
mkdir -p "$OUTDIR"

[ -d "$MTRNN_DATA" ] || { echo "gpu_run: no data at $MTRNN_DATA: run python3 training/pack_data.py here and carry training/pack" >&2; exit 2; }
[ -f "$INIT" ] || { echo "gpu_run: no weights at $INIT" >&2; exit 2; }
AMP=bf16
if [ "$DEVICE" = cuda ]; then
    python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
        { echo "gpu_run: PyTorch sees no CUDA device" >&2; exit 2; }
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
else
    grep -q avx512_bf16 /proc/cpuinfo || AMP=none
fi
hours=$(python3 -c "print($MINUTES / 60)")
# validation every few minutes (cheap on a GPU), the packed cross-scene crops
# included; the whole cross-scene frames are evaluated on the CPU afterwards
python3 training/train.py --device "$DEVICE" --amp "$AMP" --threads 8 \
    --init-from "$INIT" --run-dir "$RUN" --log "$OUTDIR/train.tsv" --hours "$hours" \
    --batch "$BATCH" --crop "$CROP" --lr "$LR" --warmup 300 --ema 0.999 --pick 2 \
    --pool 8 --direct-start 0 --photo-frac 0.6 --photo-max-speed 7 --photo-smooth 1 --photo-log-speed 1 \
    --val-crop "$VAL_CROP" --val-cross 1 --val-minutes "$(python3 -c "print(max(0.5, $MINUTES / 4))")" \
    --ckpt-minutes 2 --log-every 50 2>&1 | tee "$OUTDIR/stdout.log"
python3 - "$RUN" "$OUTDIR" <<'EOF'
import os, sys
import torch
sys.path.insert(0, "training")
from export import export
run, out = sys.argv[1:]
last = torch.load(os.path.join(run, "last.pt"), map_location="cpu", weights_only=False)
export({k: v.float() for k, v in last["ema"].items()}, os.path.join(out, "last-ema.safetensors"))
export({k: v.float() for k, v in last["model"].items()}, os.path.join(out, "last-raw.safetensors"))
best = os.path.join(run, "best.pt")
if os.path.exists(best):
    b = torch.load(best, map_location="cpu", weights_only=False)
    export({k: v.float() for k, v in b["ema"].items()}, os.path.join(out, "best.safetensors"))
    print(f"best: step {b['step']}, score {b['best']:+.3f} dB, {'raw' if b.get('shipped_raw') else 'averaged'} weights")
print(f"last: step {last['step']}, {last['wall'] / 60:.1f} min of training")
EOF
ls -l "$OUTDIR"
