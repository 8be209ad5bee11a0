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
set -euo pipefail

test_tools=0
case "${1:-}" in
    --test) test_tools=1 ;;
    "") ;;
    *) echo "setup: unknown option $1 (--test installs the test tools too)" >&2; exit 64 ;;
esac

PKGS=(pkg-config libjpeg62-turbo-dev libpng-dev libtiff-dev libsystemd-dev libdnnl-dev liblcms2-dev)
if [ "$test_tools" = 1 ]; then
    PKGS+=(libimage-exiftool-perl python3 postgresql iproute2 time)
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
