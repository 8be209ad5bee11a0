#!/usr/bin/env bash
# Checks systemd/mtrnn-watch.service: `systemd-analyze verify` must print
# nothing (it exits 0 even on unknown keys), and the offline security exposure
# must be at most 2.0. Also checks the sysusers.d and tmpfiles.d files: they
# apply cleanly, and the folders' modes and ACL do what they are for.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_EXPOSURE=${MAX_EXPOSURE:-2.0}
command -v systemd-analyze >/dev/null || { echo "check-unit: SKIPPED: systemd-analyze not installed" >&2; exit 0; }

work=$(mktemp -d)
builder=  # a user made for the install.sh check, removed on exit
trap 'rm -rf "$work"; [ -z "$builder" ] || userdel "$builder" 2>/dev/null' EXIT
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

# The shared queue's worker template (issue 20): verified as an instance; it
# has the network the database needs, and must still stay under the same limit.
MAX_WORKER_EXPOSURE=${MAX_WORKER_EXPOSURE:-$MAX_EXPOSURE}
sed "s|/usr/local/bin/mtrnn-watch|$work/bin/mtrnn-watch|" "systemd/mtrnn-watch-worker@.service" > "$work/mtrnn-watch-worker@.service"
out=$(cd "$work" && MANPATH="$work/man" systemd-analyze verify ./mtrnn-watch-worker@1.service 2>&1) || true
if [ -n "$out" ]; then
    echo "check-unit: FAIL: systemd-analyze verify mtrnn-watch-worker@1.service printed:" >&2
    echo "$out" >&2
    status=1
else
    echo "check-unit: worker template: verify clean"
fi
sec=$(cd "$work" && systemd-analyze security --offline=true ./mtrnn-watch-worker@1.service 2>&1 || true)
wexp=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p' | tail -1)
if [ -z "$wexp" ] || awk -v e="$wexp" -v m="$MAX_WORKER_EXPOSURE" 'BEGIN { exit !(e > m) }'; then
    echo "check-unit: FAIL: worker template exposure '${wexp:-none}' > $MAX_WORKER_EXPOSURE" >&2
    printf '%s\n' "$sec" | grep '✗' >&2 || true
    status=1
else
    echo "check-unit: worker template: security exposure $wexp (limit $MAX_WORKER_EXPOSURE)"
fi

# `systemctl reload` must fail on a broken file (issue 19): ExecReload= runs
# --check-config with ExecStart's --config before the HUP, whose own failure
# would only be logged. (scripts/e2e-nspawn.sh reloads a broken file for real.)
unit=systemd/mtrnn-watch.service
start_conf=$(sed -n 's/^ExecStart=.* --config \([^ ]*\).*/\1/p' "$unit")
mapfile -t reload < <(sed -n 's/^ExecReload=//p' "$unit")
if [ "${#reload[@]}" -ge 2 ] && [ -n "$start_conf" ] &&
   [[ ${reload[0]} == *"/mtrnn-watch --check-config --config $start_conf"* ]] &&
   [[ ${reload[${#reload[@]}-1]} == *'kill -HUP $MAINPID'* ]]; then
    echo "check-unit: reload: ExecReload= checks $start_conf before the HUP"
else
    echo "check-unit: FAIL: ExecReload= must run \`mtrnn-watch --check-config --config ${start_conf:-?}\` before \`kill -HUP \$MAINPID\`; it is: ${reload[*]:-none}" >&2
    status=1
fi

# sysusers.d and tmpfiles.d applied to an empty root: the user, then the
# directories with their modes and the inbox's default ACL. The ACL names the
# user, which tmpfiles resolves through the host's NSS, not --root's: in a
# mount namespace of its own, the root's passwd and group stand in for the
# host's. Then what the modes are for, with the root's numeric ids: uploaders
# (other uids in the group, umask 022) cannot delete or replace each other's
# files, and the daemon can move an original out of an uploader's folder.
if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null && command -v unshare >/dev/null && [ "$(id -u)" -eq 0 ]; then
    root="$work/root"
    mkdir -p "$root/etc/sysusers.d" "$root/etc/tmpfiles.d"
    cp systemd/sysusers.d/mtrnn-watch.conf "$root/etc/sysusers.d/"
    cp systemd/tmpfiles.d/mtrnn-watch.conf "$root/etc/tmpfiles.d/"
    out=$(systemd-sysusers --root="$root" 2>&1 | grep -viE '^Creating (user|group)' || true)
    out+=$(unshare -m sh -c 'mount --bind "$1/etc/passwd" /etc/passwd && mount --bind "$1/etc/group" /etc/group &&
                             systemd-tmpfiles --root="$1" --create' sh "$root" 2>&1 || true)
    uid=$(awk -F: '$1 == "mtrnn-watch" { print $3 }' "$root/etc/passwd")
    gid=$(awk -F: '$1 == "mtrnn-watch" { print $3 }' "$root/etc/group")
    # The default ACL as "tag:id:perm" entries (ids -1 for the owner/group/other/mask entries).
    acl=$(python3 - "$root/srv/inbox" <<'PY' 2>&1
import os, struct, sys
try:
    b = os.getxattr(sys.argv[1], "system.posix_acl_default")
except OSError as e:
    sys.exit("none (%s)" % e.strerror)
tags = {1: "user", 2: "user", 4: "group", 8: "group", 0x10: "mask", 0x20: "other"}
print(" ".join("%s:%d:%o" % (tags[t], -1 if i == 0xFFFFFFFF else i, p)
                for t, p, i in (struct.unpack_from("<HHI", b, o) for o in range(4, len(b), 8))))
PY
) || true
    want="user:-1:7 user:$uid:7 group:-1:5 mask:-1:7 other:-1:0"
    modes=$(for d in inbox failed outbox; do stat -c %a "$root/srv/$d" 2>/dev/null || echo none; done | xargs)
    if [ -n "$out" ] || [ "$modes" != "3770 3770 2775" ] || [ "$acl" != "$want" ]; then
        echo "check-unit: FAIL: sysusers.d/tmpfiles.d: ${out:-/srv/inbox, /srv/failed and /srv/outbox: $modes (want 3770 3770 2775); inbox default ACL: $acl (want $want)}" >&2
        status=1
    else
        echo "check-unit: sysusers.d + tmpfiles.d: clean (/srv/inbox $(stat -c '%a %u:%g' "$root/srv/inbox") default ACL $acl)"
    fi
    if command -v setpriv >/dev/null && [ -d "$root/srv/inbox" ]; then
        chmod 755 "$work" "$root" "$root/srv"
        in="$root/srv/inbox" perms=()
        as() { local u=$1; shift; setpriv --reuid="$u" --regid="$gid" --clear-groups sh -c "umask 022; $*" 2>/dev/null; }
        as 61001 "mkdir $in/alice && echo a > $in/alice/a.jpg && echo b > $in/b.jpg" || perms+=("an uploader cannot write the inbox")
        as 61002 "rm -f $in/b.jpg" && perms+=("an uploader deleted another's photo")
        as 61002 "echo x > $in/.x.part && mv -f $in/.x.part $in/b.jpg" && perms+=("an uploader replaced another's photo")
        as "$uid" "mv $in/alice/a.jpg $root/srv/archive/ && mv $in/b.jpg $root/srv/archive/" || perms+=("the daemon cannot move originals out of an uploader's folder")
        # Group members take results out of the outbox (issue 19): a result, and
        # one in a folder made with mkdir's default mode under the unit's UMask=
        # (recursive = yes mirrors the inbox's folders there).
        ob="$root/srv/outbox" umask_unit=$(sed -n 's/^UMask=//p' "$unit")
        mkdir "$work/taken" && chown 61002:"$gid" "$work/taken"
        setpriv --reuid="$uid" --regid="$gid" --clear-groups sh -c "umask ${umask_unit:-0022}; echo r > $ob/r.jpg && mkdir $ob/trip && echo s > $ob/trip/s.jpg" ||
            perms+=("the daemon cannot write the outbox")
        as 61002 "mv $ob/r.jpg $work/taken/" || perms+=("a group member cannot move a result out of the outbox")
        as 61002 "mv $ob/trip/s.jpg $work/taken/" || perms+=("a group member cannot move a result out of a folder made in the outbox under UMask=${umask_unit:-unset}")
        if ((${#perms[@]})); then
            echo "check-unit: FAIL: permissions: $(printf '%s; ' "${perms[@]}")" >&2
            status=1
        else
            echo "check-unit: permissions: uploaders cannot delete or replace each other's photos; the daemon moves them out of uploaders' folders; group members take results out of the outbox"
        fi
    fi
    # Archive retention (issue 19): the commented /srv/archive line with an Age,
    # used instead of the shipped one (what mtrnn-watch(8) says to do), must
    # keep a photo archived just now whatever its camera time (moving it in
    # sets its ctime) and remove one whose every timestamp is older than Age.
    tf="$root/etc/tmpfiles.d/mtrnn-watch.conf" arch="$root/srv/archive"
    with_age() {  # with_age AGE: the documented line, its Age set to AGE, instead of the shipped one
        sed -n 's|^#\(d  *\/srv\/archive  *[0-9]*  *mtrnn-watch  *mtrnn-watch\)  *[0-9][0-9a-z]*$|\1 '"$1"'|p' \
            systemd/tmpfiles.d/mtrnn-watch.conf > "$work/age-line"
        [ -s "$work/age-line" ] || return 1
        grep -v '^d  */srv/archive ' systemd/tmpfiles.d/mtrnn-watch.conf > "$tf" && cat "$work/age-line" >> "$tf"
    }
    clean() { unshare -m sh -c 'mount --bind "$1/etc/passwd" /etc/passwd && mount --bind "$1/etc/group" /etc/group &&
                                systemd-tmpfiles --root="$1" --clean' sh "$root" 2>&1; }
    age=()
    if ! grep -q 'Age' man/mtrnn-watch.8 || ! with_age 30d; then
        age+=("no commented /srv/archive line with an Age in systemd/tmpfiles.d/mtrnn-watch.conf, or no Age in mtrnn-watch(8)")
    else
        printf p > "$arch/old-camera.jpg" && touch -d '2 years ago' "$arch/old-camera.jpg"
        out=$(clean)
        [ -e "$arch/old-camera.jpg" ] || age+=("Age=30d removed a photo archived just now because of its camera time ($out)")
        sleep 3; with_age 2s; out=$(clean)
        [ -e "$arch/old-camera.jpg" ] && age+=("Age=2s kept a photo archived 3 s ago with an old camera time ($out)")
    fi
    cp systemd/tmpfiles.d/mtrnn-watch.conf "$tf"
    if ((${#age[@]})); then
        echo "check-unit: FAIL: archive retention: $(printf '%s; ' "${age[@]}")" >&2
        status=1
    else
        echo "check-unit: archive retention: the documented Age= counts from archiving, not from the camera time"
    fi
else
    echo "check-unit: sysusers.d/tmpfiles.d: SKIPPED (needs root, unshare and systemd-sysusers/tmpfiles)"
fi
# scripts/install.sh (issue 19), on a copy of the repository with stand-in
# binaries: it installs the model card, which carries the weights' licence;
# where swift is not on PATH (sudo's secure_path hides a swift.org toolchain)
# it says how to build first instead of dying on `swift: command not found`;
# under sudo it builds as the user who ran sudo, with that user's swift, so
# that .build stays theirs.
clone="$work/clone" secure_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p "$clone/.build/release"
cp -r scripts systemd etc man Models "$clone/"
for b in mtrnn-watch mtrnnctl; do printf '#!/bin/sh\necho stand-in\n' > "$clone/.build/release/$b"; chmod 755 "$clone/.build/release/$b"; done
inst=() sudo_note="under sudo: SKIPPED (needs root, useradd and runuser)"
out=$(env -u SUDO_USER DESTDIR="$work/dest" SKIP_BUILD=1 "$clone/scripts/install.sh" 2>&1) || inst+=("SKIP_BUILD=1 DESTDIR=... failed: $out")
card="$work/dest/usr/local/share/mtrnn-watch/MODEL_CARD.md"
if ! cmp -s "$card" Models/MODEL_CARD.md || ! grep -q 'research' "$card"; then
    inst+=("Models/MODEL_CARD.md (the weights' research-only licence) is not installed as $card")
fi
if PATH=$secure_path command -v swift >/dev/null; then
    echo "check-unit: install.sh without swift on PATH: SKIPPED (swift is on sudo's usual secure_path here)"
else
    out=$(env -u SUDO_USER PATH=$secure_path DESTDIR="$work/dest2" "$clone/scripts/install.sh" 2>&1) &&
        inst+=("it succeeded although swift is not on PATH")
    [ -e "$work/dest2/usr/local/bin/mtrnn-watch" ] && inst+=("it installed old binaries although it could not build")
    grep -q 'SKIP_BUILD=1' <<<"$out" || inst+=("without swift on PATH it does not say to build first and use SKIP_BUILD=1: ${out:0:300}")
fi
if [ "$(id -u)" -eq 0 ] && command -v useradd >/dev/null && command -v runuser >/dev/null; then
    # A user whose swift is on the PATH of their login profile only, as
    # swift.org's and swiftly's installs leave it.
    builder=mtrnn-ci-build$$
    useradd --system -M -d "$work/home" -s /bin/bash "$builder"
    mkdir -p "$work/home/toolchain"
    printf '%s\n' '#!/bin/sh' '# stand-in: swift build -c CONF ... --product P' 'conf=debug prod=' \
        'while [ $# -gt 0 ]; do case $1 in -c) conf=$2; shift;; --product) prod=$2; shift;; esac; shift; done' \
        'mkdir -p .build/$conf && printf "#!/bin/sh\necho built by %s\n" "$(id -un)" > .build/$conf/$prod && chmod 755 .build/$conf/$prod' \
        > "$work/home/toolchain/swift"
    chmod 755 "$work/home/toolchain/swift" "$work"
    echo 'PATH="$HOME/toolchain:$PATH"' > "$work/home/.profile"
    rm -rf "$clone/.build"
    chown -R "$builder" "$work/home" "$clone"
    out=$(env -i PATH=$secure_path SUDO_USER="$builder" DESTDIR="$work/dest3" "$clone/scripts/install.sh" 2>&1) ||
        inst+=("under sudo it failed: ${out:0:300}")
    grep -q "built by $builder" "$work/dest3/usr/local/bin/mtrnn-watch" 2>/dev/null ||
        inst+=("under sudo it did not build as $builder with $builder's swift")
    [ "$(stat -c %U "$clone/.build" 2>/dev/null)" = "$builder" ] || inst+=("under sudo it left a .build that $builder does not own")
    userdel "$builder" 2>/dev/null; builder=
    sudo_note="under sudo it builds as the user"
fi
if ((${#inst[@]})); then
    echo "check-unit: FAIL: install.sh: $(printf '%s; ' "${inst[@]}")" >&2
    status=1
else
    echo "check-unit: install.sh: model card installed; without swift it says to build first; $sudo_note"
fi

# The repository stands alone (issue 19). scripts/run.sh installs only what
# building and running need (no Python: its setup must not run python3 or pip);
# run on a copy with stand-ins for python3, pip, apt-get, sudo, swift and the
# daemon, which note each call.
stand="$work/stand-ins" run_clone="$work/run-clone"
mkdir -p "$stand" "$run_clone/scripts" "$run_clone/.build/release"
cp scripts/run.sh scripts/setup.sh "$run_clone/scripts/"
for tool in python3 pip pip3 apt-get sudo swift; do
    printf '#!/bin/sh\necho "%s $*" >> "%s/calls"\n[ %s = swift ]\n' "$tool" "$work" "$tool" > "$stand/$tool"
    chmod 755 "$stand/$tool"
done
printf '#!/bin/sh\necho "daemon $*" >> "%s/calls"\n' "$work" > "$run_clone/.build/release/mtrnn-watch"
chmod 755 "$run_clone/.build/release/mtrnn-watch"
: > "$work/calls"
PATH="$stand:/usr/sbin:/usr/bin:/sbin:/bin" "$run_clone/scripts/run.sh" --settle 1 >/dev/null 2>&1 || true
alone=()
grep -qE '^(python3|pip|pip3) ' "$work/calls" && alone+=("scripts/run.sh ran $(grep -E '^(python3|pip|pip3) ' "$work/calls" | head -2 | tr '\n' ';')")
grep -q '^daemon --settle 1' "$work/calls" || alone+=("scripts/run.sh did not start the daemon with its arguments (calls: $(tr '\n' ';' < "$work/calls"))")
# Nothing outside the repository: no ../shared in the scripts or the README;
# the benchmark makes its own test photo.
refs=$(grep -n '\.\./shared' README.md scripts/*.sh scripts/*.py 2>/dev/null | grep -v '^scripts/check-unit.sh:' || true)
[ -z "$refs" ] || alone+=("reads or links ../shared: $(tr '\n' ';' <<<"$refs")")
if [ ! -e scripts/make-test-photo.py ]; then
    alone+=("no scripts/make-test-photo.py: the benchmark has no photo of its own")
elif python3 -c 'import numpy, PIL' 2>/dev/null; then
    python3 scripts/make-test-photo.py 320x240 "$work/test-photo.jpg" 2>/dev/null &&
        python3 -c 'import sys; from PIL import Image; im = Image.open(sys.argv[1]); sys.exit(im.size != (320, 240) or im.format != "JPEG")' "$work/test-photo.jpg" ||
        alone+=("scripts/make-test-photo.py did not make a 320x240 JPEG")
fi
if ((${#alone[@]})); then
    echo "check-unit: FAIL: stand-alone: $(printf '%s; ' "${alone[@]}")" >&2
    status=1
else
    echo "check-unit: stand-alone: run.sh installs no Python; nothing reads ../shared; the benchmark makes its own photo"
fi

# The shared queue's roles (issue 20): mtrnn-watch(8) shows docs/cluster-grants.sql
# and docs/cluster-operator-grants.sql as they are (less their opening comment),
# the files that scripts/pg-scratch.sh and the tests apply: the page cannot
# drift from what is tested.
sql=$(python3 - <<'PY' 2>&1
page = open("man/mtrnn-watch.8").read()
# what the page shows: roff's \\ and \- as the characters they print
shown = page.replace("\\\\", "\0").replace("\\-", "-").replace("\0", "\\")
for f in ["docs/cluster-grants.sql", "docs/cluster-operator-grants.sql"]:
    lines = open(f).read().splitlines()
    while lines and lines[0].startswith("--"):
        lines.pop(0)
    if "\n.nf\n" + "\n".join(lines) + "\n.fi\n" not in shown:
        print(f"{f} is not shown as it is in man/mtrnn-watch.8 (between .nf and .fi)")
PY
)
if [ -n "$sql" ]; then
    echo "check-unit: FAIL: $sql" >&2
    status=1
else
    echo "check-unit: mtrnn-watch(8) shows docs/cluster-grants.sql and docs/cluster-operator-grants.sql as they are"
fi

# Man pages: groff with all warnings must say nothing.
if command -v groff >/dev/null; then
    for page in man/*.[158]; do
        out=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
        if [ -n "$out" ]; then echo "check-unit: FAIL: $page: $out" >&2; status=1; fi
    done
    [ $status -ne 0 ] || echo "check-unit: man pages: clean"
fi

# Merge conflict markers left in a tracked file (docs/DESIGN.md carried one
# for several sessions unnoticed).
markers=$(git grep -n -E '^(<<<<<<< |>>>>>>> |=======$)' -- . ':!*.jpg' ':!*.png' ':!*.tif' ':!*.safetensors' 2>/dev/null || true)
if [ -n "$markers" ]; then
    echo "check-unit: FAIL: merge conflict markers: $markers" >&2
    status=1
else
    echo "check-unit: no merge conflict markers in tracked files"
fi
exit $status
