#!/usr/bin/env bash
# Throughput of the shared PostgreSQL queue (issue 20): 1, 2, 4, 8 workers
# with a stand-in that holds a core HOLD seconds per photo; prints jobs/s,
# scaling efficiency and queue overhead per job (scripts/cluster_bench.py).
#   scripts/bench-cluster.sh                       # release build, HOLD=1, PER_CORE=30
#   REAL=Models/mtrnn.safetensors scripts/bench-cluster.sh   # and one real run, 2 workers
# A benchmark, not a test: it prints figures and fails only if a run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGURATION=${CONFIGURATION:-release}
[ "${SKIP_BUILD:-0}" = 1 ] || swift build -c "$CONFIGURATION" --product mtrnn-watch >&2
args=(--daemon ".build/$CONFIGURATION/mtrnn-watch" --hold "${HOLD:-1}" --per-core "${PER_CORE:-30}" --workers "${WORKERS:-1,2,4,8}")
[ -n "${REAL:-}" ] && args+=(--real "$REAL" --real-photos "${REAL_PHOTOS:-4}" --real-size "${REAL_SIZE:-512}")
exec python3 scripts/cluster_bench.py "${args[@]}"
