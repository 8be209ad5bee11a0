#!/usr/bin/env bash
# Fuzzes PhotoIO with libFuzzer under AddressSanitizer (+ UBSan for the C shim):
#   codecs-jpeg, codecs-png, codecs-tiff  fuzz/codecs_fuzz.c -> Sources/CImageCodecs decoders
#                                         (and the encoders on what they decoded)
#   photoio                               fuzz/photoio_fuzz.swift + Sources/PhotoIO/*.swift:
#                                         header probe, PNG chunk walker, TIFF directory
#                                         reader/writer, JPEG marker carry-over, round trip
#
#   scripts/fuzz.sh [SECONDS]        each target for SECONDS (default 60; .ci/run uses this)
#   FUZZ_RUNS=N scripts/fuzz.sh      each target for N executions instead (the long run)
#   FUZZ_TARGETS="photoio" ...       a subset
#   FUZZ_MAX_LEN=N ...               largest input in bytes (default 65536)
#
# Seeds: fuzz/corpus/{jpeg,png,tiff} (python3 fuzz/make_seeds.py), including
# structure seeds at the limits of codecs.h (4096 metadata segments/chunks/
# tags, 500 scans, tags sharing one value). Inputs may be up to 64 KiB
# (FUZZ_MAX_LEN): 4097 PNG chunks or TIFF tags take 49 KB, so at the old
# 4096 bytes no input could reach a limit. The growing
# corpus, logs and crash artifacts live in .build/fuzz/. Exits 1 if any target
# found a crash; the reproducer is named in the output (run the target binary
# on it to replay). Prints one "fuzz: TARGET: N executions" line per target and
# the total, which docs/RELIABILITY.md quotes.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
runs=${FUZZ_RUNS:-}
max_len=${FUZZ_MAX_LEN:-65536}
targets=${FUZZ_TARGETS:-"codecs-jpeg codecs-png codecs-tiff photoio"}
out=.build/fuzz
mkdir -p "$out/modules" "$out/artifacts"

clang=$(command -v clang || true)
swiftc=$(command -v swiftc || true)
if [ -z "$clang" ] || ! echo 'int LLVMFuzzerTestOneInput(const char*d,long n){return 0;}' \
        | "$clang" -x c -fsanitize=fuzzer - -o "$out/probe" 2>/dev/null; then
    echo "fuzz: SKIP: no clang with libFuzzer (-fsanitize=fuzzer) on this machine"
    exit 0
fi
libs=(-ljpeg -lpng16 -ltiff)
inc=(-I Sources/CImageCodecs/include)

build() {  # target -> binary, rebuilt only when a source is newer
    local t=$1 bin=$out/$1
    case $t in
    codecs-*)
        local kind=${t#codecs-}; local def=FUZZ_${kind^^}
        if [ ! -x "$bin" ] || [ fuzz/codecs_fuzz.c -nt "$bin" ] || [ Sources/CImageCodecs/codecs.c -nt "$bin" ]; then
            "$clang" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -D"$def" "${inc[@]}" fuzz/codecs_fuzz.c Sources/CImageCodecs/codecs.c "${libs[@]}" -o "$bin"
        fi ;;
    photoio)
        [ -n "$swiftc" ] || { echo "fuzz: SKIP photoio: no swiftc"; return 1; }
        local newest
        newest=$(ls -t fuzz/photoio_fuzz.swift Sources/PhotoIO/*.swift Sources/CImageCodecs/codecs.c | head -1)
        if [ ! -x "$bin" ] || [ "$newest" -nt "$bin" ]; then
            mkdir -p "$out/modules/CImageCodecs"
            printf 'module CImageCodecs {\n  header "%s"\n  export *\n}\n' \
                "$PWD/Sources/CImageCodecs/include/codecs.h" > "$out/modules/CImageCodecs/module.modulemap"
            "$clang" -g -O1 -fsanitize=fuzzer-no-link,address "${inc[@]}" -c Sources/CImageCodecs/codecs.c -o "$out/codecs-asan.o"
            # One module: PhotoIO's sources with the harness, so internal types are fuzzed too.
            "$swiftc" -O -g -parse-as-library -sanitize=fuzzer,address -module-name PhotoIOFuzz \
                -I "$out/modules/CImageCodecs" -I Sources/CLCMS Sources/PhotoIO/*.swift fuzz/photoio_fuzz.swift \
                "$out/codecs-asan.o" "${libs[@]}" -llcms2 -lz -o "$bin"
        fi ;;
    esac
}

seeds() { case $1 in codecs-*) echo "fuzz/corpus/${1#codecs-}" ;; photoio) echo "fuzz/corpus/jpeg fuzz/corpus/png fuzz/corpus/tiff" ;; esac; }

total=0
failed=0
for t in $targets; do
    if ! build "$t" >"$out/$t.build.log" 2>&1; then
        echo "fuzz: $t: BUILD FAILED:"; grep -v 'Cannot export local symbol' "$out/$t.build.log" | tail -20
        failed=1; continue
    fi
    corpus=$out/corpus/$t
    mkdir -p "$corpus"
    limit=(-max_total_time="$seconds")
    [ -n "$runs" ] && limit=(-runs="$runs")
    log=$out/$t.log
    set +e
    # -rss_limit_mb: a decoder that allocates past it is a finding (pixel limits must hold).
    # SWIFT_BACKTRACE=enable=no: on a Swift trap the runtime's backtracer
    # otherwise runs first, ASan misreports it as a stack-buffer-underflow,
    # and its swift-backtrace process is left behind, stuck; without it
    # libFuzzer reports the "deadly signal" and writes the reproducer.
    SWIFT_BACKTRACE=enable=no nice -n 10 "$out/$t" "${limit[@]}" -max_len="$max_len" -rss_limit_mb=1024 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" "$corpus" $(seeds "$t") >"$log" 2>&1
    rc=$?
    set -e
    n=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    n=${n:-0}
    total=$((total + n))
    if [ $rc -eq 72 ] && ! ls "$out/artifacts/$t-"* >/dev/null 2>&1; then
        echo "fuzz: $t: interrupted after $n executions, no crash"
    elif [ $rc -ne 0 ]; then
        failed=1
        echo "fuzz: $t: FOUND A CRASH after $n executions (exit $rc); log $log:"
        # grep may die of SIGPIPE once head has its 20 lines: not a reason to
        # stop (pipefail + set -e) before the other targets have run.
        { grep -E 'ERROR|SUMMARY|Fatal error|Test unit written|runtime error' "$log" || true; } | head -20
    else
        echo "fuzz: $t: $n executions, no crash (corpus $(ls "$corpus" | wc -l) files)"
    fi
done
echo "fuzz: total $total executions"
exit $failed
