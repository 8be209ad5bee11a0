#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests of the shared queue (issue 20):
# a new cluster in a temporary folder, listening on a Unix socket in that
# folder only (no TCP unless PG_TCP=ADDRESS:PORT), run as the `postgres` user
# (the tests run as root, and the server refuses root), with the database and
# roles of the documented least-privilege setup: docs/cluster-grants.sql,
# applied as it is (mtrnn-watch(8) shows that file; check-unit.sh compares).
# Authentication is `trust` (the passwords given are never asked for): what
# the tests check is what each role may do once connected.
#   eval "$(scripts/pg-scratch.sh start)"   # sets PG_SCRATCH (the folder) and MTRNN_TEST_QUEUE (the URL,
#       as the daemons' role mtrnn); MTRNN_TEST_STATUS_QUEUE and MTRNN_TEST_OPERATOR_QUEUE (the same
#       database as mtrnn_status and mtrnn_operator)
#   scripts/pg-scratch.sh restart "$PG_SCRATCH"   # stop -m fast + start: the restart-under-load test
#   scripts/pg-scratch.sh stop "$PG_SCRATCH"      # stops it and removes the folder
# Needs Debian's postgresql package (scripts/setup.sh --test installs it).
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "pg-scratch: PostgreSQL's server is not installed (apt-get install postgresql)" >&2
    exit 1
fi
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
options() {
    local dir=$1 listen="''" port=5432
    if [ -n "${PG_TCP:-}" ]; then listen="'${PG_TCP%:*}'"; port=${PG_TCP##*:}; fi
    # fsync stays on: the tests kill workers, not the server; but a restart
    # under load must find the jobs it acknowledged.
    echo "-k $dir -p $port -c listen_addresses=$listen -c max_connections=100 -c shared_buffers=32MB"
}
case "${1:-}" in
start)
    dir=$(mktemp -d /tmp/mtrnn-pg.XXXXXX)
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    as_pg "$bin/initdb" -D "$dir/data" --auth-local=trust --auth-host=trust -U postgres -E UTF8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2; exit 1; }
    if [ -n "${PG_TCP:-}" ]; then
        echo "host all all 0.0.0.0/0 trust" >>"$dir/data/pg_hba.conf"
    fi
    echo "$(options "$dir")" >"$dir/options"
    as_pg "$bin/pg_ctl" -D "$dir/data" -o "$(cat "$dir/options")" -l "$dir/server.log" -w -t 60 start >/dev/null || {
        cat "$dir/server.log" >&2; exit 1; }
    port=5432; [ -n "${PG_TCP:-}" ] && port=${PG_TCP##*:}
    grants=$(dirname "$0")/../docs/cluster-grants.sql
    as_pg "$bin/psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -v daemon_password=scratch -v status_password=scratch -v operator_password=scratch <"$grants" >"$dir/grants.log" 2>&1 || {
        echo "pg-scratch: $grants failed:" >&2; cat "$dir/grants.log" >&2; exit 1; }
    echo "export PG_SCRATCH=$dir"
    echo "export PG_SCRATCH_PORT=$port"
    echo "export MTRNN_TEST_QUEUE='postgresql://mtrnn@/mtrnn?host=$dir&port=$port'"
    echo "export MTRNN_TEST_STATUS_QUEUE='postgresql://mtrnn_status@/mtrnn?host=$dir&port=$port'"
    echo "export MTRNN_TEST_OPERATOR_QUEUE='postgresql://mtrnn_operator@/mtrnn?host=$dir&port=$port'"
    ;;
restart)
    dir=${2:?"pg-scratch restart DIR"}
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    sleep "${3:-0}"
    as_pg "$bin/pg_ctl" -D "$dir/data" -o "$(cat "$dir/options")" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
stop)
    dir=${2:?"pg-scratch stop DIR"}
    case "$dir" in /tmp/mtrnn-pg.*) ;; *) echo "pg-scratch: $dir is not a scratch server" >&2; exit 1 ;; esac
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: pg-scratch.sh start | restart DIR [SECONDS-DOWN] | stop DIR" >&2
    exit 64
    ;;
esac
