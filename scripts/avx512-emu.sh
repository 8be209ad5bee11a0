#!/usr/bin/env bash
# Runs one static x86-64 Linux binary inside Bochs with an AVX-512 CPU model
# and hands back its output and exit status: for checking that AVX-512 code
# paths are CORRECT on machines without AVX-512 (ours are AVX2-only). It is
# slow (Bochs interprets every instruction, ~50 MIPS; booting takes minutes):
# never use it to measure speed. See docs/AVX512-EMU.md.
#
#   scripts/avx512-emu.sh [--cpu MODEL] [--timeout SECONDS] [--memory MB]
#                         [--verbose] [--keep] BINARY [ARGS...]
#
#   --cpu MODEL        Bochs CPU model (default tigerlake: avx512f/bw/dq/vl/
#                      cd/vnni/ifma/vbmi/vbmi2/bitalg/vpopcntdq, no bf16);
#                      `bochs -help cpu` lists them (corei7_skylake_x has no
#                      vnni; corei7_icelake_u has vnni).
#   --timeout SECONDS  wall-clock limit for boot and run together (default 1200)
#   --memory MB        guest memory (default 256)
#   --verbose          kernel messages on the console, and they are printed
#   --keep             keep the work directory (bochsrc, serial log, bochs log)
#
# The binary's stdout and stderr (both go to the emulated serial console,
# interleaved as written) are printed on stdout, byte for byte.
# Exit status:
#   the binary's own exit status (0-255);
#   128+N  the binary was killed by signal N (132 = SIGILL: an instruction the
#          emulated CPU does not have);
#   124    --timeout passed before the binary finished;
#   125    the harness failed: bad usage, a missing package or file (the
#          message names it and the remedy), the emulator or the guest kernel
#          did not come up.
# Needs (scripts/setup.sh --avx512-emu installs them): bochs, bochsbios,
# vgabios, bochs-term (satisfies bochs' dependency on a display plugin; the
# harness itself uses Bochs' built-in rfb display), isolinux, syslinux-common,
# xorriso, cpio, gcc and libc6-dev (static init), apt (to fetch Debian's
# kernel once). The kernel (Debian's linux-image-*-amd64, fetched with
# `apt-get download` on first use) and the compiled init are cached in
# ${AVX512_EMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mtrnn-avx512-emu}.
# AVX512_EMU_KERNEL=/path/to/vmlinuz uses that kernel instead.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$HERE/avx512-emu"
CACHE="${AVX512_EMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mtrnn-avx512-emu}"
MARK="AVX512-EMU"

die() { echo "avx512-emu: $*" >&2; exit 125; }

cpu=tigerlake
timeout_s=1200
mem=256
verbose=0
keep=0
while (($#)); do
    case "$1" in
        --cpu) [ $# -ge 2 ] || die "--cpu needs a model name (bochs -help cpu lists them)"; cpu="$2"; shift 2 ;;
        --cpu=*) cpu="${1#*=}"; shift ;;
        --timeout) [ $# -ge 2 ] || die "--timeout needs a number of seconds"; timeout_s="$2"; shift 2 ;;
        --timeout=*) timeout_s="${1#*=}"; shift ;;
        --memory) [ $# -ge 2 ] || die "--memory needs a size in MB"; mem="$2"; shift 2 ;;
        --memory=*) mem="${1#*=}"; shift ;;
        --verbose) verbose=1; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        -*) die "unknown option $1 (--cpu, --timeout, --memory, --verbose, --keep; --help)" ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || die "usage: scripts/avx512-emu.sh [--cpu MODEL] [--timeout SECONDS] BINARY [ARGS...]"
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || die "--timeout $timeout_s: not a whole number of seconds"
[[ "$mem" =~ ^[1-9][0-9]*$ ]] && [ "$mem" -ge 64 ] || die "--memory $mem: give a whole number of MB, at least 64"
[[ "$cpu" =~ ^[a-z0-9_]+$ ]] || die "--cpu $cpu: not a model name (bochs -help cpu lists them)"
binary="$1"; shift
[ -f "$binary" ] || die "$binary: no such file"
[ -r "$binary" ] || die "$binary: not readable"
for a in "$@"; do
    [[ "$a" != *$'\n'* ]] || die "an argument contains a newline; the guest reads one argument per line"
done

# The guest has no libc and no loader: the binary must be static.
hdr="$(head -c 20 "$binary" | od -An -tx1 | tr -d ' \n')"
[ "${hdr:0:8}" = 7f454c46 ] || die "$binary: not an ELF executable"
[ "${hdr:8:2}" = 02 ] && [ "${hdr:36:4}" = 3e00 ] || die "$binary: not an x86-64 ELF executable"
if readelf -lW "$binary" 2>/dev/null | grep -q 'Requesting program interpreter'; then
    die "$binary: dynamically linked; the guest has no libraries: link it with -static"
fi

# --- what the host needs ----------------------------------------------------
missing=()
need() { command -v "$1" >/dev/null || missing+=("$2"); }
need bochs bochs; need xorriso xorriso; need cpio cpio; need gzip gzip; need gcc gcc
need readelf binutils; need dpkg-deb dpkg
[ -f /usr/lib/ISOLINUX/isolinux.bin ] || missing+=(isolinux)
[ -f /usr/lib/syslinux/modules/bios/ldlinux.c32 ] || missing+=(syslinux-common)
[ -f /usr/share/bochs/BIOS-bochs-latest ] || missing+=(bochsbios)
[ -f /usr/share/bochs/VGABIOS-lgpl-latest ] || missing+=(vgabios)
if ((${#missing[@]})); then
    die "missing ${missing[*]}: run scripts/setup.sh --avx512-emu (or apt-get install ${missing[*]})"
fi
models="$(bochs -help cpu 2>&1 </dev/null | sed -n '/^Supported CPU models:/,/quit_sim/p' | grep -E '^[a-z0-9_]+$')"
if ! grep -qx "$cpu" <<<"$models"; then
    die "this bochs has no CPU model '$cpu'; models: $(tr '\n' ' ' <<<"$models")"
fi

# --- cached pieces: Debian's kernel, the static init ------------------------
mkdir -p "$CACHE" || die "cannot create the cache directory $CACHE (set AVX512_EMU_CACHE)"
kernel="${AVX512_EMU_KERNEL:-}"
if [ -z "$kernel" ]; then
    kernel="$(ls "$CACHE"/vmlinuz-* 2>/dev/null | head -n1)"
    if [ -z "$kernel" ]; then
        pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')"
        [ -n "$pkg" ] || die "cannot find Debian's kernel package (apt-cache depends linux-image-amd64 gave nothing); run apt-get update, or set AVX512_EMU_KERNEL=/path/to/vmlinuz"
        echo "avx512-emu: fetching $pkg into $CACHE (once)" >&2
        dl="$(mktemp -d "$CACHE/dl.XXXXXX")"
        if ! (cd "$dl" && apt-get download "$pkg" >/dev/null 2>"$dl/err"); then
            cat "$dl/err" >&2; rm -rf "$dl"
            die "apt-get download $pkg failed; set AVX512_EMU_KERNEL=/path/to/vmlinuz to use a kernel you have"
        fi
        dpkg-deb --fsys-tarfile "$dl"/*.deb | tar -x -C "$dl" --wildcards './boot/vmlinuz-*' \
            || { rm -rf "$dl"; die "could not extract /boot/vmlinuz-* from $pkg"; }
        mv "$dl"/boot/vmlinuz-* "$CACHE/" && rm -rf "$dl"
        kernel="$(ls "$CACHE"/vmlinuz-* | head -n1)"
    fi
fi
[ -f "$kernel" ] || die "kernel $kernel: no such file"

init_sum="$(sha256sum "$SRC/init.c" | cut -c1-16)"
init="$CACHE/init-$init_sum"
if [ ! -x "$init" ]; then
    gcc -static -O2 -Wall -o "$init.tmp" "$SRC/init.c" \
        || die "building the guest's init from $SRC/init.c failed (needs gcc and libc6-dev's static libc.a)"
    mv "$init.tmp" "$init"
fi

# --- the boot CD: isolinux, kernel, initramfs (init, payload, args) ---------
work="$(mktemp -d "${TMPDIR:-/tmp}/avx512-emu.XXXXXX")" || die "mktemp failed"
bochs_pid=""
cleanup() {
    [ -n "$bochs_pid" ] && kill "$bochs_pid" 2>/dev/null
    if [ "$keep" = 1 ]; then echo "avx512-emu: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 125' INT TERM

mkdir -p "$work/iso/isolinux" "$work/root/dev" "$work/root/proc"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$work/iso/isolinux/"
cp "$kernel" "$work/iso/vmlinuz"
cp "$init" "$work/root/init"
cp "$binary" "$work/root/payload" && chmod 755 "$work/root/payload"
if (($#)); then printf '%s\n' "$@" > "$work/root/args"; else : > "$work/root/args"; fi
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/iso/initrd.img" \
    || die "building the initramfs failed"

# Bochs 2.7 reports CPUID leaf 0xD wrongly: subleaf 9 (PKRU) is empty though
# XCR0 may hold PKRU (a typo, BX_SUPPPORT_PKEYS, in its cpuid.cc), and
# subleaf 1 gives the standard, not the compacted, XSAVES/XSAVEC size. Linux
# then warns "XSAVE consistency problem" and disables XSAVE altogether, and
# with it AVX and AVX-512 (userland gets #UD). Clearing pku/ospke and
# xsaves/xsavec keeps Linux on the standard XSAVE format without PKRU; it then
# says "Enabled xstate features 0xe7 ... 'standard' format" and zmm works.
# With the tigerlake and corei7_icelake_u models Debian's 6.1 kernel also
# dies right after "LSM: Security Framework initializing" (its exception
# handlers' page holds data: an endless fault loop) unless the kernel is kept
# off rdpid, umip, fsrm, gfni, vaes, vpclmulqdq, md_clear and
# avx512_vp2intersect (not bisected further; corei7_skylake_x, which has none
# of them, boots without this). clearcpuid= changes only what the kernel
# uses: the payload's CPUID still reports, and it can still run, all of them.
# Bochs' TSC counts instructions while the CPU model claims 2.4 GHz: tell
# Linux the TSC runs at ips, or each of its timed waits costs ~100 times the
# instructions. mitigations=off: the guest needs no protection from itself,
# and patching in the speculation mitigations costs boot time.
ips=25000000
if [ "$verbose" = 1 ]; then
    klog="earlyprintk=serial,ttyS0,115200 loglevel=7"
else
    klog="quiet loglevel=1"
fi
cat > "$work/iso/isolinux/isolinux.cfg" <<EOF
DEFAULT emu
PROMPT 0
TIMEOUT 0
LABEL emu
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND console=ttyS0,115200 $klog panic=-1 rdinit=/init nokaslr clearcpuid=pku,ospke,xsaves,xsavec,rdpid,umip,fsrm,gfni,vaes,vpclmulqdq,md_clear,avx512_vp2intersect tsc_early_khz=$((ips / 1000)) mitigations=off
EOF
xorriso -as mkisofs -quiet -o "$work/boot.iso" -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table "$work/iso" 2>"$work/xorriso.err" \
    || { cat "$work/xorriso.err" >&2; die "building the boot CD with xorriso failed"; }

# Debian's bochs has no 'nogui' display; rfb (a VNC server, no client needed
# with timeout=0) is built in. Its debugger is compiled in too, so the
# command file continues the simulation at once and quits when it stops.
cat > "$work/bochsrc" <<EOF
cpu: model=$cpu, count=1, ips=$ips
memory: guest=$mem, host=$mem
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
display_library: rfb, options="timeout=0"
ata0-master: type=cdrom, path=$work/boot.iso, status=inserted
boot: cdrom
clock: sync=none, time0=local
com1: enabled=1, mode=file, dev=$work/serial.out
mouse: enabled=0
log: $work/bochs.log
panic: action=fatal
error: action=report
info: action=report
debug: action=ignore
EOF
printf 'c\nquit\n' > "$work/debugger.rc"

# --- run ---------------------------------------------------------------------
# A network namespace of its own (where user namespaces are allowed) keeps
# the rfb display's VNC port off the host's network.
netns=()
unshare -rn true 2>/dev/null && netns=(unshare -rn)
start=$SECONDS
(cd "$work" && exec nice -n 5 "${netns[@]}" bochs -q -f "$work/bochsrc" -rc "$work/debugger.rc" \
    </dev/null >"$work/bochs.stdout" 2>&1) &
bochs_pid=$!

result=""
while :; do
    if [ -f "$work/serial.out" ] && result="$(grep -a -E "^$MARK (EXIT|SIGNAL|INIT-ERROR)" "$work/serial.out" | tail -n1)" && [ -n "$result" ]; then
        break
    fi
    if ! kill -0 "$bochs_pid" 2>/dev/null; then
        result=""; break
    fi
    if [ -f "$work/serial.out" ] && grep -aq 'Kernel panic - not syncing' "$work/serial.out"; then
        result="PANIC"; break
    fi
    if (( SECONDS - start >= timeout_s )); then
        result="TIMEOUT"; break
    fi
    sleep 1
done
elapsed=$((SECONDS - start))
# After the marker the guest powers off; give Bochs a moment to leave on its
# own, then end it.
for _ in 1 2 3 4 5; do kill -0 "$bochs_pid" 2>/dev/null || break; sleep 1; done
kill "$bochs_pid" 2>/dev/null; wait "$bochs_pid" 2>/dev/null; bochs_pid=""

serial="$work/serial.out"
[ -f "$serial" ] || : > "$serial"
if [ "$verbose" = 1 ]; then
    # Everything the console showed, boot messages included, on stderr.
    sed -n "1,/^$MARK START/p" "$serial" >&2
fi
# The payload's bytes: between the START line and the newline init writes
# before its marker.
extract_output() {
    awk -v mark="$MARK" '
        started == 0 { if ($0 == mark " START") started = 1; next }
        $0 ~ "^" mark " (EXIT|SIGNAL|INIT-ERROR)" { exit }
        { buf = buf sep $0; sep = "\n" }
        END { printf "%s", buf }' "$serial"
}
if grep -aqx "$MARK START" "$serial"; then
    extract_output
fi

case "$result" in
    "$MARK EXIT "*)
        status="${result#"$MARK EXIT "}"; status="${status%%[!0-9]*}"
        echo "avx512-emu: $(basename "$binary") exited $status on a $cpu CPU after ${elapsed}s in Bochs" >&2
        exit "$status" ;;
    "$MARK SIGNAL "*)
        rest="${result#"$MARK SIGNAL "}"; sig="${rest%% *}"
        echo "avx512-emu: $(basename "$binary") was killed by signal $sig (${rest#* }) on a $cpu CPU after ${elapsed}s" >&2
        exit $((128 + sig)) ;;
    "$MARK INIT-ERROR"*)
        echo "avx512-emu: the guest's init failed: ${result#"$MARK "}" >&2
        exit 125 ;;
    TIMEOUT)
        echo "avx512-emu: timed out after ${timeout_s}s (--timeout); last console lines:" >&2
        tail -n 5 "$serial" >&2
        exit 124 ;;
    PANIC)
        echo "avx512-emu: the guest kernel panicked after ${elapsed}s:" >&2
        grep -a -A3 'Kernel panic - not syncing' "$serial" | sed 's/^/    /' >&2
        echo "  rerun with --verbose --keep to see the kernel's messages" >&2
        exit 125 ;;
    *)
        echo "avx512-emu: Bochs stopped after ${elapsed}s without the guest reporting an exit status." >&2
        echo "  last console lines ($serial):" >&2; tail -n 10 "$serial" | sed 's/^/    /' >&2
        echo "  last Bochs messages:" >&2; grep -aE '\]\[|PANIC|>>|exiting' "$work/bochs.stdout" "$work/bochs.log" 2>/dev/null | tail -n 8 | sed 's/^/    /' >&2
        echo "  rerun with --verbose --keep to see the kernel's messages" >&2
        exit 125 ;;
esac
