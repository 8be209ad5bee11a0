#!/bin/bash
# check-wino16.sh [--emulated-cpu]: builds scripts/wino16_check.c with the
# nChw16c Winograd kernels (Sources/CWinograd) as one static program and runs
# it: natively (the AVX-512F build where this CPU has it, the AVX2 emulation
# everywhere), and with --emulated-cpu also under an emulated AVX-512 CPU
# (scripts/avx512-emu.sh, Bochs), which is how an AVX2-only machine runs the
# AVX-512F build itself. Exit status: the check's (0 all held, 1 a check
# failed, 2 no variant runs here), or the harness's (docs/AVX512-EMU.md).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build/wino16-check
mkdir -p "$out"
src=Sources/CWinograd
# -O2 as Package.swift builds CWinograd; static, so that it runs alone in an initramfs.
clang -O2 -static -I"$src/include" -I"$src" scripts/wino16_check.c "$src/winograd.c" "$src/wino16_avx512.c" \
    "$src/wino16_emu.c" -lm -o "$out/wino16_check"
echo "== wino16_check on this CPU"
"$out/wino16_check"
if [ "${1:-}" = --emulated-cpu ]; then
    echo "== wino16_check under an emulated AVX-512 CPU (scripts/avx512-emu.sh)"
    # The small cases only: the emulator runs some 100x slower.
    scripts/avx512-emu.sh "$out/wino16_check" small
fi
