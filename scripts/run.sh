#!/usr/bin/env bash
# Builds mtrnn-watch and runs it on the local default in the repository:
# photos dropped into ./inbox come out in ./outbox (originals in ./archive,
# failures in ./failed with a .reason, control socket ./state/control.sock).
# Stop with Ctrl-C; `mtrnnctl status` (from .build/release) shows progress.
# Extra arguments go to mtrnn-watch, e.g. scripts/run.sh --settle 1
# Installs only what building and running need (scripts/setup.sh without
# --test): no Python.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product mtrnn-watch >&2
swift build -c release --product mtrnnctl >&2
exec .build/release/mtrnn-watch "$@"
