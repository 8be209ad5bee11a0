#!/usr/bin/env bash
# End-to-end test under a real systemd (issue 5): boots the host's own tree in
# systemd-nspawn on an overlay with a tmpfs upper layer (nothing on the host is
# changed), installs this build with scripts/install.sh (PREFIX=/usr), then:
# systemctl enable --now, a photo dropped into /srv/inbox comes out in
# /srv/outbox, `mtrnnctl status --json` and `journalctl -o json` fields
# (MTRNN_FILE, MTRNN_OUTCOME), systemctl reload, a reload of a broken file
# (fails, daemon kept), folders under /data/photos without the drop-in (start
# refused, exit 78) and with the documented one,
# a watchdog restart (main PID stopped with SIGSTOP under WatchdogSec=3s),
# systemctl stop.
#
#   scripts/e2e-nspawn.sh            # .ci/run; prints "e2e-nspawn: SKIP: why" and exits 0
#                                    # where nspawn cannot run (not root, no systemd, ...)
# Variables: CONFIGURATION (debug; release builds a static binary, slower),
#   SKIP_BUILD=1, E2E_PROCESSOR (test processor for the unit, e.g. photoio;
#   default photoio when Models/ has no weights, else none = the real pipeline),
#   E2E_KEEP=1 keeps the container's log directory.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
skip() { echo "e2e-nspawn: SKIP: $*"; exit 0; }
fail() { echo "e2e-nspawn: FAIL: $*"; [ -n "${ct:-}" ] && inct journalctl --no-pager -n 400 2>/dev/null | grep -E "mtrnn-watch(\.service)?[:\[]" | grep -vE "  (r[a-z0-9]+|cs|rflags) 0x|^.{0,60}0x0000|Thread [0-9]|: \.\.\.|^\s*$" | tail -40 | sed "s/^/  | /"; exit 1; }
step() { echo "e2e-nspawn: $*"; }
# Reads the unit's journal in full before matching: with pipefail, a
# `journalctl | grep -q` fails when grep exits at the first match and
# journalctl, still writing (the SIGABRT backtrace makes the journal long),
# dies of SIGPIPE (status 141), so a line that is there reads as missing.
journal_has() { local j; j=$(inct journalctl -u mtrnn-watch --no-pager) || return 1; grep -qi -- "$1" <<<"$j"; }

[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn and overlay mounts)"
[ -x /lib/systemd/systemd ] || skip "the host tree has no systemd to boot (/lib/systemd/systemd)"
if ! command -v systemd-nspawn >/dev/null; then
    step "installing systemd-container"
    (apt-get install -y -qq systemd-container >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq systemd-container >/dev/null 2>&1; }) ||
        skip "systemd-nspawn is missing and apt-get install systemd-container failed"
fi
command -v nsenter >/dev/null || skip "nsenter (util-linux) is missing"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || skip "no overlay file system in this kernel"

CONFIGURATION=${CONFIGURATION:-debug}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    step "building ($CONFIGURATION)"
    swift build -c "$CONFIGURATION" --product mtrnn-watch >/dev/null
    swift build -c "$CONFIGURATION" --product mtrnnctl >/dev/null
fi
if [ -z "${E2E_PROCESSOR+x}" ]; then
    ls Models/*.safetensors >/dev/null 2>&1 && E2E_PROCESSOR= || E2E_PROCESSOR=photoio
fi

w=$(mktemp -d /tmp/mtrnn-e2e-XXXXXX)
cleanup() {
    set +e
    if [ -n "${nspawn_pid:-}" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        [ -n "${ct:-}" ] && inct systemctl poweroff >/dev/null 2>&1
        for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$nspawn_pid" 2>/dev/null
        wait "$nspawn_pid" 2>/dev/null
    fi
    [ "${E2E_KEEP:-0}" = 1 ] && cp "$w/console.log" /tmp/mtrnn-e2e-console.log
    umount -l "$w/root" 2>/dev/null; umount -l "$w/rw" 2>/dev/null
    if [ "${E2E_KEEP:-0}" = 1 ]; then echo "e2e-nspawn: kept $w"; else rm -rf "$w"; fi
}
trap cleanup EXIT
mkdir -p "$w/rw" "$w/root"
mount -t tmpfs -o size=2g tmpfs "$w/rw" || skip "cannot mount a tmpfs for the overlay's upper layer"
mkdir -p "$w/rw/upper" "$w/rw/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$w/rw/upper,workdir=$w/rw/work" "$w/root" ||
    skip "cannot mount an overlay of / (is / itself an overlay without index support?)"
# The host's machine-id would clash with the host's journal; the container gets its own.
rm -f "$w/root/etc/machine-id"; : > "$w/root/etc/machine-id"

step "booting systemd in the container"
systemd-nspawn -q -D "$w/root" --register=no --keep-unit --private-network --boot \
    --bind-ro="$repo:/src" --machine=mtrnn-e2e >"$w/console.log" 2>&1 &
nspawn_pid=$!
ct=
for _ in $(seq 100); do
    for c in $(pgrep -P "$nspawn_pid" 2>/dev/null); do [ "$(cat /proc/$c/comm 2>/dev/null)" = systemd ] && ct=$c; done
    [ -n "$ct" ] && break
    kill -0 "$nspawn_pid" 2>/dev/null || { sed 's/^/  | /' "$w/console.log" | tail -20; skip "systemd-nspawn could not boot the host tree here"; }
    sleep 0.1
done
[ -n "$ct" ] || skip "no systemd appeared in the container"
inct() { nsenter --target "$ct" --mount --uts --ipc --net --pid -- "$@"; }
state=
for _ in $(seq 180); do  # until its bus is up and the boot has finished
    state=$(inct systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) break;; esac
    sleep 0.5
done
step "system state: ${state:-unknown}"
case "$state" in running|degraded) ;; *) fail "the container's systemd did not finish booting ($state)";; esac

step "installing with scripts/install.sh (PREFIX=/usr, $CONFIGURATION build)"
inct env PREFIX=/usr SKIP_BUILD=1 CONFIGURATION="$CONFIGURATION" /src/scripts/install.sh >"$w/install.log" 2>&1 ||
    { cat "$w/install.log"; fail "install.sh failed"; }
# install.sh runs in /src (read-only), and writes only under PREFIX and /etc.
inct systemd-sysusers >/dev/null
inct systemd-tmpfiles --create >/dev/null 2>&1 || true
if [ -n "$E2E_PROCESSOR" ]; then
    inct mkdir -p /etc/systemd/system/mtrnn-watch.service.d
    printf '[Service]\nEnvironment=MTRNN_WATCH_TEST_PROCESSOR=%s\n' "$E2E_PROCESSOR" |
        inct tee /etc/systemd/system/mtrnn-watch.service.d/e2e-processor.conf >/dev/null
    step "unit runs with MTRNN_WATCH_TEST_PROCESSOR=$E2E_PROCESSOR (no weights in Models/)"
fi
# settle_seconds is 2 s by default; keep it, it is part of what is tested.
inct systemctl daemon-reload
inct systemctl enable --now mtrnn-watch >/dev/null 2>&1 || fail "systemctl enable --now mtrnn-watch failed"
inct systemctl is-active -q mtrnn-watch || fail "mtrnn-watch is not active after enable --now"
step "mtrnn-watch is active (Type=notify: READY=1 arrived)"

photo=/src/fuzz/corpus/jpeg/baseline_exif.jpg
inct cp "$photo" /srv/inbox/e2e-photo.jpg
for _ in $(seq 120); do inct test -s /srv/outbox/e2e-photo.jpg && break; sleep 0.5; done
inct test -s /srv/outbox/e2e-photo.jpg || fail "the photo did not reach /srv/outbox in 60 s"
for _ in $(seq 20); do inct test -e /srv/archive/e2e-photo.jpg && break; sleep 0.25; done
inct test -e /srv/archive/e2e-photo.jpg || fail "the original was not archived"
step "photo processed: /srv/outbox/e2e-photo.jpg, original in /srv/archive"

json=$(inct mtrnnctl status --json) || fail "mtrnnctl status --json failed"
echo "$json" | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["done"]==1, s; assert s["state"] in ("idle","working"), s; print("e2e-nspawn: status: state=%s done=%d failed=%d model=%s" % (s["state"], s["done"], s["failed"], s["model"]))' ||
    fail "unexpected status: $json"
inct journalctl -u mtrnn-watch -o json --no-pager | python3 -c '
import json, sys
recs = [json.loads(l) for l in sys.stdin if l.strip()]
hits = [r for r in recs if r.get("MTRNN_FILE") == "e2e-photo.jpg" and r.get("MTRNN_OUTCOME") == "done"]
assert hits, "no journal record with MTRNN_FILE=e2e-photo.jpg MTRNN_OUTCOME=done"
print("e2e-nspawn: journal: MTRNN_FILE=%s MTRNN_OUTCOME=%s MTRNN_SECONDS=%s PRIORITY=%s" % (hits[0]["MTRNN_FILE"], hits[0]["MTRNN_OUTCOME"], hits[0].get("MTRNN_SECONDS"), hits[0].get("PRIORITY")))' ||
    fail "journal fields missing"

pid1=$(inct systemctl show -P MainPID mtrnn-watch)
inct systemctl reload mtrnn-watch || fail "systemctl reload failed"
sleep 1
inct systemctl is-active -q mtrnn-watch || fail "not active after reload"
[ "$(inct systemctl show -P MainPID mtrnn-watch)" = "$pid1" ] || fail "reload restarted the daemon"
journal_has "Reloaded the configuration" || fail "no 'Reloaded the configuration' in the journal"
step "reload: same pid $pid1, configuration re-read"

# A broken file: `systemctl reload` must fail (ExecReload= checks it before
# the HUP) and the daemon carry on as it was.
inct cp /etc/mtrnn-watch.conf /etc/mtrnn-watch.conf.good
echo "no_such_key = 1" | inct tee -a /etc/mtrnn-watch.conf >/dev/null
inct systemctl reload mtrnn-watch 2>/dev/null && fail "systemctl reload succeeded with a broken configuration file"
inct systemctl is-active -q mtrnn-watch || fail "not active after a refused reload"
[ "$(inct systemctl show -P MainPID mtrnn-watch)" = "$pid1" ] || fail "a refused reload restarted the daemon"
journal_has "no_such_key" || fail "the journal does not name the broken line"
inct mv /etc/mtrnn-watch.conf.good /etc/mtrnn-watch.conf
step "reload of a broken file: systemctl reload failed, the journal names the line, same pid $pid1"

# Other folders set in the file only: the sandbox keeps them read-only, so
# the start must fail at once with exit 78 (not restarted), naming the folder
# and the drop-in, instead of sending every photo to failed/.
inct sed -i 's|= /srv/|= /data/photos/|' /etc/mtrnn-watch.conf
restarts=$(inct systemctl show -P NRestarts mtrnn-watch)
inct systemctl restart mtrnn-watch 2>/dev/null && fail "started with its folders outside ReadWritePaths="
sleep 1
[ "$(inct systemctl show -P ExecMainStatus mtrnn-watch)" = 78 ] ||
    fail "exit status $(inct systemctl show -P ExecMainStatus mtrnn-watch) with an unwritable inbox, not 78"
[ "$(inct systemctl show -P NRestarts mtrnn-watch)" = "$restarts" ] || fail "systemd restarted it after exit 78"
journal_has "ReadWritePaths=-/data/photos/inbox" || fail "the journal does not name the inbox and the drop-in"
step "folders outside ReadWritePaths=: start refused with 78, the journal names the folder and the drop-in"

# Other folders, as mtrnn-watch(8) says: set in the file, a drop-in with
# ReadWritePaths=, the tmpfiles.d file copied to /etc with the new paths.
inct mkdir -p /etc/systemd/system/mtrnn-watch.service.d
printf '[Service]\nReadWritePaths=-/data/photos\nRequiresMountsFor=/data/photos\n' |
    inct tee /etc/systemd/system/mtrnn-watch.service.d/folders.conf >/dev/null
inct sh -c "sed 's|/srv/|/data/photos/|' /usr/lib/tmpfiles.d/mtrnn-watch.conf > /etc/tmpfiles.d/mtrnn-watch.conf"
inct systemctl daemon-reload
inct systemctl restart mtrnn-watch || fail "restart with the folders under /data/photos failed"
inct cp "$photo" /data/photos/inbox/e2e-elsewhere.jpg
for _ in $(seq 120); do inct test -s /data/photos/outbox/e2e-elsewhere.jpg && break; sleep 0.5; done
inct test -s /data/photos/outbox/e2e-elsewhere.jpg || fail "with the documented drop-in, the photo did not reach /data/photos/outbox in 60 s"
[ "$(inct stat -c %a /data/photos/outbox)" = 2775 ] || fail "/data/photos/outbox is not 2775 (the tmpfiles.d copy)"
step "other folders: drop-in ReadWritePaths=-/data/photos, photo processed into /data/photos/outbox"

inct mkdir -p /run/systemd/system/mtrnn-watch.service.d
printf '[Service]\nWatchdogSec=3s\nRestartSec=1s\nTimeoutAbortSec=10s\n' | inct tee /run/systemd/system/mtrnn-watch.service.d/e2e-watchdog.conf >/dev/null
inct systemctl daemon-reload
inct systemctl restart mtrnn-watch || fail "restart with WatchdogSec=3s failed"
pid2=$(inct systemctl show -P MainPID mtrnn-watch)
inct kill -STOP "$pid2"
step "stopped main pid $pid2 with SIGSTOP; waiting for the watchdog"
pid3=$pid2
for _ in $(seq 120); do
    pid3=$(inct systemctl show -P MainPID mtrnn-watch)
    [ "$pid3" != "$pid2" ] && [ "$pid3" != 0 ] && inct systemctl is-active -q mtrnn-watch && break
    sleep 0.5
done
[ "$pid3" != "$pid2" ] && [ "$pid3" != 0 ] || fail "the watchdog did not restart the stopped daemon"
# journald may write systemd's own line a moment after the restart: give it time.
seen=0
for _ in $(seq 20); do
    journal_has "watchdog timeout" && { seen=1; break; }
    sleep 0.5
done
[ "$seen" = 1 ] || fail "no watchdog timeout in the journal"
step "watchdog: timeout noticed, restarted as pid $pid3 (restarts: $(inct systemctl show -P NRestarts mtrnn-watch))"

inct systemctl stop mtrnn-watch || fail "systemctl stop failed"
st=$(inct systemctl show -P ActiveState mtrnn-watch)
res=$(inct systemctl show -P Result mtrnn-watch)
[ "$st" = inactive ] && [ "$res" = success ] || fail "after stop: ActiveState=$st Result=$res"
step "stop: inactive, result $res"
echo "e2e-nspawn: PASS"
