#!/usr/bin/env bash
# Issue 21: the daemon on a busy inbox, overlap_photos = no against yes, in
# one run, alternating; prints the medians, the ratio, CPU and peak RSS, and
# checks that both modes write the same bytes. See
# scripts/bench_daemon_overlap.py.
#
# usage: scripts/bench-daemon-overlap.sh [--photos 6] [--size 4000x3000] [--sharp-every 3]
#                                        [--rounds 2] [--weights FILE] [--work DIR] [--set KEY=VALUE ...]
# SKIP_BUILD=1 uses the release binaries as they are.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z ${SKIP_BUILD:-} ]]; then
    swift build -c release --product mtrnn-watch >&2
    swift build -c release --product mtrnnctl >&2
fi
bin=$(swift build -c release --show-bin-path)
for b in mtrnn-watch mtrnnctl; do
    [[ -x $bin/$b ]] || { echo "bench-daemon-overlap: no release $b in $bin (build it, or unset SKIP_BUILD)" >&2; exit 2; }
done
exec python3 scripts/bench_daemon_overlap.py --watch "$bin/mtrnn-watch" --mtrnnctl "$bin/mtrnnctl" "$@"
