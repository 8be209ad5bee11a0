#!/usr/bin/env bash
# Installs the Debian packages that building and testing mtrnn-watch need.
# Idempotent: installs only what is missing, so a second run does nothing.
set -euo pipefail

PKGS=(pkg-config libjpeg62-turbo-dev libpng-dev libtiff-dev libsystemd-dev libdnnl-dev
      libimage-exiftool-perl python3 python3-pip)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The few Python helpers of the tests (fixture checks, the crash harness's
# photo maker) need numpy and Pillow only; never PyTorch.
if ! python3 -c 'import numpy, PIL' 2>/dev/null; then
    echo "setup: installing numpy and Pillow for python3" >&2
    python3 -m pip install --quiet numpy pillow 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages numpy pillow
fi
if ! command -v swift >/dev/null; then
    echo "setup: swift (6.0 or later) is not on PATH; install the Swift toolchain from swift.org" >&2
    exit 1
fi
