#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds, and
# runs every suite: the Swift tests of every module (engine parity against the
# PyTorch fixtures, codecs and metadata, tiling, daemon, CLI, bad input,
# resource faults), the conformance run over the public test suites
# (scripts/conformance.sh), the unit-file checks, the layer check
# (scripts/check-layers.sh), a short fuzzing run, the
# crash harness, the hostile-uploader suite, a small run of the overlap benchmark,
# the nChw16c Winograd kernels as one static program (natively, and in the full
# run their AVX-512F build under an emulated AVX-512 CPU: scripts/avx512-emu.sh)
# (its byte-for-byte check of both batch modes) and the end-to-end test under a real systemd (systemd-nspawn),
# and the shared PostgreSQL queue (issue 20): its Swift tests against a real
# server started here (scripts/pg-scratch.sh: a throwaway cluster on a Unix
# socket in a temporary folder, stopped on exit, also on failure) and, in the
# full run, the cluster harness (workers killed mid-job, the server restarted
# under load, a worker cut off in a network namespace) and the administrator's
# checks (scripts/cluster_admin.py: the documented roles, job retention, a
# worker's last error).
# Checks the machine cannot run print "SKIP: reason" and do not fail.
#   FUZZ_SECONDS=60 (per fuzz target, the default)   QUICK=1 (Swift tests, conformance run, unit and layer checks only)
set -euo pipefail
cd "$(dirname "$0")/.."
# The build packages and the test tools (exiftool, numpy, Pillow); for the full
# run also the AVX-512 emulator (Bochs: docs/AVX512-EMU.md).
setup_opts=(--test)
[ "${QUICK:-0}" = 1 ] || setup_opts+=(--avx512-emu)
scripts/setup.sh "${setup_opts[@]}"
export OMP_WAIT_POLICY=passive   # OpenMP spin-waiting collapses on shared cores (BENCHMARKS.md)

section() { printf '\n== %s ==\n' "$1"; }
section "build"
swift build --build-tests
section "PostgreSQL for the shared queue's tests (scripts/pg-scratch.sh)"
eval "$(scripts/pg-scratch.sh start)"
trap 'scripts/pg-scratch.sh stop "$PG_SCRATCH"' EXIT
echo "scratch server: $MTRNN_TEST_QUEUE"
section "swift test"
swift test --skip-build
section "bad-input corpus through the real MT-RNN pipeline (the failure reasons it writes)"
MTRNN_RELIABILITY_PIPELINE=real swift test --skip-build --filter BadInputCorpusTests
# The engine picks its activation layout at run time (nChw8c on AVX2, nhwc on
# AVX-512 machines, where nhwc once crashed: issue 14). Run the engine tests in
# every layout it can pick, whatever this CPU would pick itself. Where this CPU
# has no oneDNN kernels for a layout (nChw16c on AVX2: reference loops, about
# 100x slower), only the per-layer tests run in it.
has_avx512=0; grep -qw avx512f /proc/cpuinfo && has_avx512=1
for layout in nhwc nchw nChw8c nChw16c; do
    filter=MTRNNTests
    if [ "$layout" = nChw16c ] && [ "$has_avx512" = 0 ]; then
        filter="MTRNNTests.LayerTests|MTRNNTests.TensorTests"
    fi
    section "engine tests, MTRNN_LAYOUT=$layout ($filter)"
    MTRNN_LAYOUT=$layout swift test --skip-build --filter "$filter"
done
section "Winograd for 16-channel blocks as one static program, against double (scripts/check-wino16.sh)"
scripts/check-wino16.sh
if [ "${QUICK:-0}" != 1 ]; then
    # The AVX-512F build itself: natively where this CPU has it (the run above),
    # else under an emulated AVX-512 CPU, where it must also equal the AVX2
    # emulation bit for bit. A harness that cannot run here (124, 125) is a SKIP.
    section "the AVX-512F Winograd build under an emulated AVX-512 CPU (scripts/avx512-emu.sh, Bochs, 4-7 min)"
    if [ "$has_avx512" = 1 ]; then
        echo "SKIP: this CPU has AVX-512F, so the run above ran the AVX-512F build natively"
    else
        rc=0
        scripts/avx512-emu.sh .build/wino16-check/wino16_check small || rc=$?
        case $rc in
            0) ;;
            124|125) echo "SKIP: the emulator could not run the check here (exit $rc; docs/AVX512-EMU.md)" ;;
            *) echo "FAIL: wino16_check under the emulated AVX-512 CPU exited $rc" >&2; exit 1 ;;
        esac
    fi
fi
section "conformance (public test suites, Tests/Conformance)"
scripts/conformance.sh
section "unit files, man pages"
scripts/check-unit.sh
section "layers (every import in Sources/ against the list in Package.swift)"
scripts/check-layers.sh
if [ "${QUICK:-0}" != 1 ]; then
    section "fuzzing (${FUZZ_SECONDS:-60} s per target)"
    scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
    section "crash harness"
    SKIP_BUILD=1 scripts/crash-harness.sh
    # and once through the real MT-RNN pipeline (it caught a crash the fakes could not)
    PIPELINE=real WEIGHTS=Models/mtrnn.safetensors PHOTOS=30 KILLS=12 SKIP_BUILD=1 scripts/crash-harness.sh
    section "hostile uploader (issue 16: unprivileged daemon, 1,000 random names, real notify socket)"
    SKIP_BUILD=1 scripts/hostile-uploader.sh
    section "benchmark smoke run: a batch one at a time and overlapped write the same bytes and lines (scripts/bench_overlap.py)"
    python3 scripts/bench_overlap.py --mtrnnctl "$(swift build --show-bin-path)/mtrnnctl" --photos 3 --size 400x300 --rounds 1
    section "benchmark smoke run: the daemon with overlap_photos = no and yes writes the same bytes (scripts/bench_daemon_overlap.py)"
    python3 scripts/bench_daemon_overlap.py --watch "$(swift build --show-bin-path)/mtrnn-watch" \
        --mtrnnctl "$(swift build --show-bin-path)/mtrnnctl" --photos 4 --size 400x300 --rounds 1
    section "end to end under systemd-nspawn"
    SKIP_BUILD=1 scripts/e2e-nspawn.sh
    section "shared queue: cluster harness (4 workers, exactly once, photo of death, pause, unreachable database)"
    SKIP_BUILD=1 scripts/cluster-test.sh basic
    section "shared queue: 50 workers killed mid-job (SIGKILL)"
    SKIP_BUILD=1 scripts/cluster-test.sh kills
    section "shared queue: PostgreSQL restarted under load"
    SKIP_BUILD=1 scripts/cluster-test.sh restarts
    section "shared queue: a worker's network link cut (ip netns)"
    SKIP_BUILD=1 scripts/cluster-test.sh netns
    section "shared queue: the documented roles and grants, job retention, a worker's last error"
    SKIP_BUILD=1 scripts/cluster-test.sh admin
fi
