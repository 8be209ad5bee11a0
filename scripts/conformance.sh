#!/usr/bin/env bash
# Conformance run: every file of the public test suites in Tests/Conformance/
# (PngSuite, libpng's test PNGs, libjpeg-turbo's test images, ExifTool's
# test images, ...) through `mtrnnctl deblur --iterations 1`, each either
# processed correctly (format, size, transparent set, metadata per exiftool)
# or refused with a message naming the file and saying what to do; the list
# is each set's expected.tsv. Uses .build/debug/mtrnnctl (what test.sh
# builds), else .build/release/mtrnnctl, or $MTRNNCTL. Prints one line per
# file and "N passed, N failed"; about a minute on 2 cores.
#   scripts/conformance.sh [SET ...]     e.g. scripts/conformance.sh pngsuite
set -euo pipefail
cd "$(dirname "$0")/.."
# The debug build is what scripts/test.sh builds; MTRNNCTL overrides.
bin=${MTRNNCTL:-}
for candidate in .build/debug/mtrnnctl .build/release/mtrnnctl; do
    if [ -z "$bin" ] && [ -x "$candidate" ]; then bin=$candidate; fi
done
if [ -z "$bin" ]; then
    echo "conformance: no .build/*/mtrnnctl; run swift build first" >&2
    exit 2
fi
if ! command -v exiftool >/dev/null; then
    echo "conformance: exiftool is missing (Debian libimage-exiftool-perl; scripts/setup.sh --test installs it)" >&2
    exit 2
fi
export OMP_WAIT_POLICY=passive
exec python3 scripts/conformance_check.py "$bin" "${WEIGHTS:-Models/mtrnn.safetensors}" "$@"
