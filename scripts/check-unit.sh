#!/usr/bin/env bash
# Checks systemd/mtrnn-watch.service: `systemd-analyze verify` must print
# nothing (it exits 0 even on unknown keys), and the offline security exposure
# must be at most 2.0. Also checks the sysusers.d and tmpfiles.d files parse.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_EXPOSURE=${MAX_EXPOSURE:-2.0}
command -v systemd-analyze >/dev/null || { echo "check-unit: SKIPPED: systemd-analyze not installed" >&2; exit 0; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# verify wants ExecStart's binary to exist: point it at a stand-in executable.
mkdir -p "$work/bin"
printf '#!/bin/sh\nexit 0\n' > "$work/bin/mtrnn-watch"
chmod +x "$work/bin/mtrnn-watch"
sed "s|/usr/local/bin/mtrnn-watch|$work/bin/mtrnn-watch|" systemd/mtrnn-watch.service > "$work/mtrnn-watch.service"

# verify also runs `man` for every Documentation= page: let it find ours.
for sec in 1 5 8; do mkdir -p "$work/man/man$sec"; done
for page in man/*.[158]; do
    [ -e "$page" ] && cp "$page" "$work/man/man${page##*.}/"
done

status=0
out=$(cd "$work" && MANPATH="$work/man" systemd-analyze verify ./mtrnn-watch.service 2>&1) || true
if [ -n "$out" ]; then
    echo "check-unit: FAIL: systemd-analyze verify printed:" >&2
    echo "$out" >&2
    status=1
else
    echo "check-unit: verify: clean"
fi

sec=$(cd "$work" && systemd-analyze security --offline=true ./mtrnn-watch.service 2>&1 || true)
exposure=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p' | tail -1)
if [ -z "$exposure" ]; then
    echo "check-unit: FAIL: no exposure level in systemd-analyze security output:" >&2
    echo "$sec" >&2
    status=1
elif awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e > m) }'; then
    echo "check-unit: FAIL: exposure $exposure > $MAX_EXPOSURE" >&2
    printf '%s\n' "$sec" | grep '✗' >&2 || true
    status=1
else
    echo "check-unit: security: exposure $exposure (limit $MAX_EXPOSURE)"
fi

# sysusers.d and tmpfiles.d applied to an empty root: the user, then the directories.
if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null && [ "$(id -u)" -eq 0 ]; then
    root="$work/root"
    mkdir -p "$root/etc/sysusers.d" "$root/etc/tmpfiles.d"
    cp systemd/sysusers.d/mtrnn-watch.conf "$root/etc/sysusers.d/"
    cp systemd/tmpfiles.d/mtrnn-watch.conf "$root/etc/tmpfiles.d/"
    out=$(systemd-sysusers --root="$root" 2>&1 | grep -viE '^Creating (user|group)' || true)
    out+=$(systemd-tmpfiles --root="$root" --create 2>&1 || true)
    if [ -n "$out" ] || [ "$(stat -c %a "$root/srv/inbox" 2>/dev/null)" != 2775 ]; then
        echo "check-unit: FAIL: sysusers.d/tmpfiles.d: ${out:-/srv/inbox not created 2775}" >&2
        status=1
    else
        echo "check-unit: sysusers.d + tmpfiles.d: clean (/srv/inbox $(stat -c '%a %u:%g' "$root/srv/inbox"))"
    fi
else
    echo "check-unit: sysusers.d/tmpfiles.d: SKIPPED (needs root and systemd-sysusers/tmpfiles)"
fi
# Man pages: groff with all warnings must say nothing.
if command -v groff >/dev/null; then
    for page in man/*.[158]; do
        out=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
        if [ -n "$out" ]; then echo "check-unit: FAIL: $page: $out" >&2; status=1; fi
    done
    [ $status -ne 0 ] || echo "check-unit: man pages: clean"
fi
exit $status
