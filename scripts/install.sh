#!/usr/bin/env bash
# Installs mtrnn-watch: binaries (static Swift stdlib), weights, systemd unit,
# sysusers.d and tmpfiles.d files, configuration and man pages.
#
#   sudo scripts/install.sh                    # into /usr/local
#   PREFIX=/usr DESTDIR=/tmp/pkg scripts/install.sh   # staged, for packaging
#
# Variables: PREFIX (/usr/local), DESTDIR (empty), SYSCONFDIR (/etc),
# UNITDIR (PREFIX/lib/systemd/system), CONFIGURATION (release),
# SKIP_BUILD=1 to install what .build/CONFIGURATION already holds.
# An existing configuration file is never overwritten: the new one is
# installed beside it as mtrnn-watch.conf.new.
#
# Under sudo the build runs as the user who ran sudo (SUDO_USER), with the
# swift of their login profile: sudo's secure_path usually hides a swift.org
# toolchain from root, and a build as root would leave root's files in their
# .build. Where no swift can be found it stops and says how to build first:
#   swift build -c release --static-swift-stdlib --product mtrnn-watch
#   swift build -c release --static-swift-stdlib --product mtrnnctl
#   sudo SKIP_BUILD=1 scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
SYSUSERSDIR=${SYSUSERSDIR:-$PREFIX/lib/sysusers.d}
TMPFILESDIR=${TMPFILESDIR:-$PREFIX/lib/tmpfiles.d}
MANDIR=${MANDIR:-$PREFIX/share/man}
DATADIR=${DATADIR:-$PREFIX/share/mtrnn-watch}
CONFIGURATION=${CONFIGURATION:-release}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    flags=(-c "$CONFIGURATION")
    [ "$CONFIGURATION" = release ] && flags+=(--static-swift-stdlib)
    builder= home= swift_bin=
    if [ "$(id -u)" = 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] && command -v runuser >/dev/null &&
       home=$(getent passwd "$SUDO_USER" | cut -d: -f6) && [ -n "$home" ] &&
       runuser -u "$SUDO_USER" -- sh -c 'test -w . && { test ! -e .build || test -w .build; }'; then
        builder=$SUDO_USER
        swift_bin=$(runuser -u "$SUDO_USER" -- env -i HOME="$home" USER="$SUDO_USER" LOGNAME="$SUDO_USER" \
                    bash -lc 'command -v swift' 2>/dev/null </dev/null | tail -n 1) || true
    fi
    [ -n "$swift_bin" ] || swift_bin=$(command -v swift) || true
    if [ -z "$swift_bin" ]; then
        where="no swift on PATH"
        [ -z "$builder" ] || where+=", nor in the login profile of $builder"
        [ -z "${SUDO_USER:-}" ] || where+=" (sudo's secure_path hides it)"
        cat >&2 <<EOF
install: cannot build: $where.
install: build as yourself first, then install what was built:
    swift build ${flags[*]} --product mtrnn-watch
    swift build ${flags[*]} --product mtrnnctl
    sudo SKIP_BUILD=1 scripts/install.sh
EOF
        exit 1
    fi
    for product in mtrnn-watch mtrnnctl; do
        if [ -n "$builder" ]; then
            echo "install: building $product as $builder with $swift_bin" >&2
            runuser -u "$builder" -- env -i HOME="$home" USER="$builder" LOGNAME="$builder" \
                PATH="$(dirname "$swift_bin"):/usr/local/bin:/usr/bin:/bin" "$swift_bin" build "${flags[@]}" --product "$product"
        else
            "$swift_bin" build "${flags[@]}" --product "$product"
        fi
    done
fi
bin=.build/$CONFIGURATION
for b in mtrnn-watch mtrnnctl; do
    [ -x "$bin/$b" ] || { echo "install: $bin/$b is missing; build it first (or drop SKIP_BUILD)" >&2; exit 1; }
done

# The shipped files name /usr/local; point them at PREFIX.
subst() { sed -e "s|/usr/local/bin|$PREFIX/bin|g" -e "s|/usr/local/share/mtrnn-watch|$DATADIR|g" -e "s|/etc/mtrnn-watch.conf|$SYSCONFDIR/mtrnn-watch.conf|g" "$1"; }

install -d "$DESTDIR$PREFIX/bin" "$DESTDIR$DATADIR" "$DESTDIR$UNITDIR" "$DESTDIR$SYSUSERSDIR" \
           "$DESTDIR$TMPFILESDIR" "$DESTDIR$SYSCONFDIR" "$DESTDIR$MANDIR/man1" "$DESTDIR$MANDIR/man5" "$DESTDIR$MANDIR/man8"
install -m 0755 "$bin/mtrnn-watch" "$bin/mtrnnctl" "$DESTDIR$PREFIX/bin/"

shopt -s nullglob
weights=(Models/*.safetensors)
if ((${#weights[@]})); then
    install -m 0644 "${weights[@]}" "$DESTDIR$DATADIR/"
    # What the weights do and may be used for (research only: some of their
    # training sets are), beside them.
    install -m 0644 Models/MODEL_CARD.md "$DESTDIR$DATADIR/MODEL_CARD.md"
else
    echo "install: warning: no weights in Models/; the service will not start until $DATADIR/mtrnn.safetensors exists" >&2
fi

# The unit's ExecStartPre= names the tmpfiles.d file by its base name, which
# systemd-tmpfiles looks up in its own directories (so /etc/tmpfiles.d can
# override it); anywhere else it needs the full path.
# The worker template (mtrnn-watch-worker@.service: the shared queue) the same way.
for unit in mtrnn-watch.service mtrnn-watch-worker@.service; do
    case "$TMPFILESDIR" in
        /etc/tmpfiles.d|/run/tmpfiles.d|/usr/local/lib/tmpfiles.d|/usr/lib/tmpfiles.d|/lib/tmpfiles.d)
            subst "systemd/$unit" > "$DESTDIR$UNITDIR/$unit";;
        *)
            [ "$unit" = mtrnn-watch.service ] &&
                echo "install: warning: $TMPFILESDIR is not a systemd-tmpfiles directory: the /srv folders are made only when the service starts" >&2
            subst "systemd/$unit" | sed "s|--create mtrnn-watch.conf|--create $TMPFILESDIR/mtrnn-watch.conf|" > "$DESTDIR$UNITDIR/$unit";;
    esac
    chmod 0644 "$DESTDIR$UNITDIR/$unit"
done
install -m 0644 systemd/sysusers.d/mtrnn-watch.conf "$DESTDIR$SYSUSERSDIR/mtrnn-watch.conf"
install -m 0644 systemd/tmpfiles.d/mtrnn-watch.conf "$DESTDIR$TMPFILESDIR/mtrnn-watch.conf"

conf="$DESTDIR$SYSCONFDIR/mtrnn-watch.conf"
[ -e "$conf" ] && conf="$conf.new"
subst etc/mtrnn-watch.conf > "$conf"
chmod 0644 "$conf"

install -m 0644 man/mtrnnctl.1 "$DESTDIR$MANDIR/man1/"
install -m 0644 man/mtrnn-watch.conf.5 "$DESTDIR$MANDIR/man5/"
install -m 0644 man/mtrnn-watch.8 "$DESTDIR$MANDIR/man8/"

echo "install: installed into ${DESTDIR:-/}${DESTDIR:+ }(PREFIX=$PREFIX)"
if [ -z "$DESTDIR" ]; then
    echo "install: next: systemd-sysusers; systemd-tmpfiles --create; systemctl daemon-reload; systemctl enable --now mtrnn-watch"
fi
