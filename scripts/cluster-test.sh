#!/usr/bin/env bash
# The shared PostgreSQL queue's cluster tests (issue 20), each on its own
# throwaway server (scripts/pg-scratch.sh) with the fast stand-in processor:
#   scripts/cluster-test.sh basic      # 4 workers, 60 photos: exactly once, the photo of death
#                                      # to failed/ after max_attempts, pause/resume, status --json,
#                                      # a worker started with the database down (backoff, then works)
#   scripts/cluster-test.sh kills      # 3 workers, SIGKILL mid-job KILLS times (50)
#   scripts/cluster-test.sh restarts   # PostgreSQL restarted RESTARTS times (3) under load
#   scripts/cluster-test.sh netns      # scripts/cluster-netns.sh: a worker's link cut
#   scripts/cluster-test.sh grants     # scripts/cluster_admin.py: the documented roles (docs/cluster-grants.sql)
#   scripts/cluster-test.sh retention  #   job_retention_days with originals = keep
#   scripts/cluster-test.sh lasterror  #   a worker's last error, its time, resolved
#   scripts/cluster-test.sh admin      #   the three above
# SKIP_BUILD=1 uses the debug build as it is; SEED=N repeats a run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_BUILD:-0}" = 1 ] || swift build --product mtrnn-watch >&2 && swift build --product mtrnnctl >&2
bin=.build/debug
seed=(); [ -n "${SEED:-}" ] && seed=(--seed "$SEED")
h=(python3 scripts/cluster_harness.py --daemon "$bin/mtrnn-watch" --ctl "$bin/mtrnnctl" "${seed[@]}")
case "${1:-basic}" in
basic)    exec "${h[@]}" --workers 4 --photos 60 --unreachable ;;
kills)    exec "${h[@]}" --workers 3 --photos 30 --kills "${KILLS:-50}" --processor copy:1 ;;
restarts) exec "${h[@]}" --workers 3 --photos 60 --restarts "${RESTARTS:-3}" --processor copy:0.3 ;;
netns)    exec scripts/cluster-netns.sh ;;
grants|retention|lasterror) exec python3 scripts/cluster_admin.py --daemon "$bin/mtrnn-watch" --ctl "$bin/mtrnnctl" "$1" ;;
admin)
    status=0
    for c in grants retention lasterror; do
        python3 scripts/cluster_admin.py --daemon "$bin/mtrnn-watch" --ctl "$bin/mtrnnctl" "$c" || status=1
    done
    exit $status ;;
*) echo "usage: cluster-test.sh basic|kills|restarts|netns|grants|retention|lasterror|admin" >&2; exit 64 ;;
esac
