#!/usr/bin/env bash
# Crash safety (issue 7): SIGKILLs mtrnn-watch at random moments while photos
# arrive, restarts it each time, then checks every photo is in the outbox (with
# its original archived, decoding at its own size) or in failed/ with a reason,
# nothing half-written and nothing visibly done twice.
#
#   scripts/crash-harness.sh                 # short: 40 photos, 15 kills (.ci/run)
#   PHOTOS=500 KILLS=200 scripts/crash-harness.sh   # the figure in docs/RELIABILITY.md
#   PIPELINE=real WEIGHTS=Models/mtrnn.safetensors scripts/crash-harness.sh
# Other variables: SEED, CONFIGURATION (debug), SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGURATION=${CONFIGURATION:-debug}
if ! python3 -c 'import PIL' 2>/dev/null; then
    echo "crash-harness: SKIP: python3 with Pillow is needed to make and check the photos"; exit 0
fi
[ "${SKIP_BUILD:-0}" = 1 ] || swift build -c "$CONFIGURATION" --product mtrnn-watch >&2
args=(--daemon ".build/$CONFIGURATION/mtrnn-watch" --photos "${PHOTOS:-40}" --kills "${KILLS:-15}"
      --pipeline "${PIPELINE:-photoio}")
[ -n "${SEED:-}" ] && args+=(--seed "$SEED")
[ -n "${WEIGHTS:-}" ] && args+=(--weights "$WEIGHTS")
exec nice -n 10 python3 scripts/crash_harness.py "${args[@]}"
