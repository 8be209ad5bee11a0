#!/usr/bin/env bash
# Peak memory of `mtrnnctl deblur` on a 24-megapixel JPEG (issue 4: must stay
# under 1.5 GB). A benchmark, not a test: on a small machine a full 6-iteration
# run of 24 MP takes many minutes, so the default is 1 iteration. Peak RSS does
# not depend on the iteration count: every iteration reuses the same per-tile
# buffers; what grows with the photo (the float image, row bands, the decoded
# photo and the encoded output) is all there after the first tile.
#
# usage: scripts/bench-rss.sh [--size 6000x4000] [--iterations 1] [--limit-mb 1536]
#                             [--weights FILE] [-- extra mtrnnctl deblur options]
# Exit status: 0 under the limit, 1 over it, 2 the run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."

size=6000x4000 iterations=1 limit_mb=1536 weights=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size) size=$2; shift 2 ;;
        --iterations) iterations=$2; shift 2 ;;
        --limit-mb) limit_mb=$2; shift 2 ;;
        --weights) weights=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "bench-rss: unknown option $1" >&2; exit 2 ;;
    esac
done
if [[ -z $weights ]]; then
    weights=Models/mtrnn.safetensors
    [[ -f $weights ]] || weights=Tests/MTRNNTests/Fixtures/weights.safetensors
fi

swift build -c release --product mtrnnctl >&2
bin=$(swift build -c release --show-bin-path)/mtrnnctl

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
w=${size%x*} h=${size#*x}
# A photo-like test image (smooth gradients, shapes and noise): noise alone
# would make the JPEG and its decode unrepresentative.
python3 - "$w" "$h" "$work/in.jpg" <<'PY'
import sys
import numpy as np
from PIL import Image, ImageFilter
w, h, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(1)
y, x = np.mgrid[0:h, 0:w].astype(np.float32)
img = np.stack([120 + 80 * np.sin(x / (97 + 13 * c)) * np.cos(y / 71) for c in range(3)], -1)
img += rng.normal(0, 6, img.shape).astype(np.float32)
im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.BoxBlur(2))
im.save(path, quality=92)
PY

echo "bench-rss: ${size} JPEG, ${iterations} iteration(s), weights ${weights}" >&2
status=0
/usr/bin/time -v "$bin" deblur "$work/in.jpg" -o "$work/out.jpg" --weights "$weights" \
    --iterations "$iterations" --stop-below 0 --sharp-photos process "$@" 2> "$work/time.txt" || status=$?
if [[ $status -ne 0 ]]; then
    cat "$work/time.txt" >&2
    echo "bench-rss: mtrnnctl failed with status $status" >&2
    exit 2
fi
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
rss_mb=$((rss_kb / 1024))
echo "peak RSS ${rss_mb} MB (limit ${limit_mb} MB), wall ${wall}, ${size}, ${iterations} iteration(s)"
[[ $rss_mb -le $limit_mb ]] || { echo "bench-rss: over the limit" >&2; exit 1; }
