#!/usr/bin/env bash
# Installs the Debian packages that building and running mtrnn-watch need
# (scripts/run.sh), and with --test also the test tools (scripts/test.sh):
# exiftool, PostgreSQL's server (the shared queue's tests start a throwaway
# one: scripts/pg-scratch.sh), iproute2 (ip netns), and python3 with numpy,
# Pillow and prometheus_client, for the fixture checks, the crash harness's
# photo maker, the benchmark and the metrics file's check (prometheus_client's
# parser). Running needs no Python.
# Idempotent: installs only what is missing, so a second run does nothing.
#   scripts/setup.sh           # build and run
#   scripts/setup.sh --test    # build, run and test
#   scripts/setup.sh --avx512-emu  # also the AVX-512 emulator harness
#                                  # (scripts/avx512-emu.sh, docs/AVX512-EMU.md)
set -euo pipefail

test_tools=0
avx512_emu=0
for opt in "$@"; do
    case "$opt" in
        --test) test_tools=1 ;;
        --avx512-emu) avx512_emu=1 ;;
        *) echo "setup: unknown option $opt (--test installs the test tools too; --avx512-emu the AVX-512 emulator)" >&2; exit 64 ;;
    esac
done

PKGS=(pkg-config libjpeg62-turbo-dev libpng-dev libtiff-dev libsystemd-dev libdnnl-dev liblcms2-dev)
if [ "$test_tools" = 1 ]; then
    PKGS+=(libimage-exiftool-perl python3 postgresql iproute2 time)
fi
# Optional, not in CI: scripts/avx512-emu.sh runs a static binary in Bochs
# with an AVX-512 CPU model, to check AVX-512 kernels on AVX2-only machines.
# bochs-term only satisfies bochs' need for a display plugin (the harness uses
# the built-in rfb one); isolinux, syslinux-common and xorriso make the boot
# CD; gcc and libc6-dev build the guest's static init. The guest kernel is
# fetched on first use with apt-get download, not installed.
if [ "$avx512_emu" = 1 ]; then
    PKGS+=(bochs bochs-term bochsbios vgabios isolinux syslinux-common xorriso cpio gcc libc6-dev binutils)
fi

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# numpy, Pillow and prometheus_client, never PyTorch. From Debian where
# python3 is Debian's; a python3 of its own (a venv, pyenv) gets them from its
# own pip.
pip_python=0
if [ "$test_tools" = 1 ] && ! python3 -c 'import numpy, PIL, prometheus_client.parser' 2>/dev/null; then
    case "$(command -v python3 || true)" in
        ""|/usr/bin/python3) missing+=(python3-numpy python3-pil python3-prometheus-client) ;;
        *) pip_python=1 ;;
    esac
fi
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$pip_python" = 1 ]; then
    echo "setup: installing numpy, Pillow and prometheus_client for $(command -v python3)" >&2
    python3 -m pip install --quiet numpy pillow prometheus-client
fi
if ! command -v swift >/dev/null; then
    echo "setup: swift (6.0 or later) is not on PATH; install the Swift toolchain from swift.org" >&2
    exit 1
fi
