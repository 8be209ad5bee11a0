#!/usr/bin/env bash
# Issue 21: a batch (`mtrnnctl deblur FOLDER`) one photo at a time against
# the same batch with decode and encode overlapped with the network, in one
# run, alternating, several rounds; prints the medians, the ratio, the
# per-stage seconds and the prediction made from them, and checks that both
# modes write the same bytes. See scripts/bench_overlap.py for the photos.
#
# usage: scripts/bench-overlap.sh [--photos 10] [--size 4000x3000] [--sharp-every 3]
#                                 [--rounds 3] [--weights FILE] [--work DIR]
#                                 [-- extra mtrnnctl deblur options]
# SKIP_BUILD=1 uses the release binary as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z ${SKIP_BUILD:-} ]]; then
    swift build -c release --product mtrnnctl >&2
fi
bin=$(swift build -c release --show-bin-path)/mtrnnctl
[[ -x $bin ]] || { echo "bench-overlap: no release mtrnnctl at $bin (build it, or unset SKIP_BUILD)" >&2; exit 2; }
exec python3 scripts/bench_overlap.py --mtrnnctl "$bin" "$@"
