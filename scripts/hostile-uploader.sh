#!/usr/bin/env bash
# The hostile-uploader suite (issue 16): the daemon as an unprivileged service
# user, an uploader in its group and a stranger outside it attacking through
# the inbox, failed/ and the control socket, 1,000 random names, and a real
# sd_notify listener. See scripts/hostile_uploader.py for what it checks.
#   scripts/hostile-uploader.sh        NAMES=1000 SEED=N CONFIGURATION=debug SKIP_BUILD=1
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGURATION=${CONFIGURATION:-debug}
if [ "$(id -u)" != 0 ]; then echo "hostile-uploader: SKIP: needs root (creates users, runs the daemon as one)"; exit 0; fi
if ! command -v setpriv >/dev/null || ! python3 -c 'import PIL' 2>/dev/null; then
    echo "hostile-uploader: SKIP: needs setpriv (util-linux) and python3 with Pillow"; exit 0
fi
[ "${SKIP_BUILD:-0}" = 1 ] || swift build -c "$CONFIGURATION" --product mtrnn-watch >&2
[ "${SKIP_BUILD:-0}" = 1 ] || swift build -c "$CONFIGURATION" --product mtrnnctl >&2
args=(--daemon ".build/$CONFIGURATION/mtrnn-watch" --ctl ".build/$CONFIGURATION/mtrnnctl" --names "${NAMES:-1000}")
[ -n "${SEED:-}" ] && args+=(--seed "$SEED")
exec python3 scripts/hostile_uploader.py "${args[@]}"
