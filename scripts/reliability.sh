#!/usr/bin/env bash
# Every reliability check of issue 7 in one command (docs/RELIABILITY.md):
#   the bad-input corpus, resource-fault and daemon suites (swift test),
#   fuzzing (scripts/fuzz.sh), the crash harness (scripts/crash-harness.sh) and
#   the end-to-end test under systemd-nspawn (scripts/e2e-nspawn.sh).
#
#   scripts/reliability.sh           # short versions, as .ci/run should call it
#   LONG=1 scripts/reliability.sh    # the figures: 10M fuzz executions, 500 photos / 200 kills
# Checks that cannot run on this machine print "SKIP: reason" and do not fail.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift test --skip-build --filter 'BadInputCorpusTests|ResourceFaultTests|DaemonTests|SystemdTests|ControlTests'
if [ "${LONG:-0}" = 1 ]; then
    FUZZ_RUNS=2500000 scripts/fuzz.sh
    PHOTOS=500 KILLS=200 SKIP_BUILD=1 scripts/crash-harness.sh
else
    scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
    SKIP_BUILD=1 scripts/crash-harness.sh
fi
SKIP_BUILD=1 scripts/e2e-nspawn.sh
