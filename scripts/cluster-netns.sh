#!/usr/bin/env bash
# A worker's network link cut (issue 20), with network namespaces as hosts:
#   mtrnn-db: PostgreSQL on 10.231.1.1 and 10.231.2.1 (TCP, scripts/pg-scratch.sh)
#   mtrnn-w1: worker w1 on 10.231.1.2 (veth to the db)
#   mtrnn-w2: worker w2 + the watcher on 10.231.2.2 (veth to the db)
# The photo folders are shared as NFS would share them (one file system).
# w1 claims a photo (the stand-in takes 8 s), then its link goes down. Its
# lease (3 s) runs out, w2 claims the photo again (attempt 2) and finishes it;
# exactly one result appears, whole. w1 says in its journal that it cannot
# reach the database, and once the link is back it says it can again.
# Addresses are private to these namespaces, made and removed here.
# Needs root and iproute2; prints SKIP where namespaces cannot be made.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-.build/debug}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then echo "cluster-netns: SKIP: needs root and iproute2"; exit 0; fi
tag=$$
ns_db=mtrnn-db-$tag ns1=mtrnn-w1-$tag ns2=mtrnn-w2-$tag
if ! ip netns add "$ns_db" 2>/dev/null; then echo "cluster-netns: SKIP: cannot make network namespaces here"; exit 0; fi
work=$(mktemp -d /tmp/mtrnn-netns.XXXXXX)
pids=()
PG_SCRATCH=
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -n "$PG_SCRATCH" ] && ip netns exec "$ns_db" scripts/pg-scratch.sh stop "$PG_SCRATCH" >/dev/null 2>&1 || true
    for n in "$ns1" "$ns2" "$ns_db"; do ip netns del "$n" 2>/dev/null || true; done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns1"; ip netns add "$ns2"
ip link add "v1-$tag" type veth peer name "d1-$tag"
ip link add "v2-$tag" type veth peer name "d2-$tag"
ip link set "v1-$tag" netns "$ns1"; ip link set "d1-$tag" netns "$ns_db"
ip link set "v2-$tag" netns "$ns2"; ip link set "d2-$tag" netns "$ns_db"
ip -n "$ns_db" addr add 10.231.1.1/24 dev "d1-$tag"; ip -n "$ns_db" addr add 10.231.2.1/24 dev "d2-$tag"
ip -n "$ns1" addr add 10.231.1.2/24 dev "v1-$tag"; ip -n "$ns2" addr add 10.231.2.2/24 dev "v2-$tag"
for n in "$ns_db" "$ns1" "$ns2"; do ip -n "$n" link set lo up; done
ip -n "$ns_db" link set "d1-$tag" up; ip -n "$ns_db" link set "d2-$tag" up
ip -n "$ns1" link set "v1-$tag" up; ip -n "$ns2" link set "v2-$tag" up

eval "$(ip netns exec "$ns_db" env PG_TCP=10.231.1.1,10.231.2.1:5432 scripts/pg-scratch.sh start)"
mkdir -p "$work"/{inbox,outbox,archive,failed,state}
common=(--inbox "$work/inbox" --outbox "$work/outbox" --archive "$work/archive" --failed "$work/failed"
        --state-dir "$work/state" --settle 0.2 --set lease_seconds=3 --set max_attempts=3)
export MTRNN_WATCH_TEST_PROCESSOR=copy:8 OMP_WAIT_POLICY=passive
unset NOTIFY_SOCKET
q() { psql -X -A -t -q -h "$PG_SCRATCH" -U mtrnn -d mtrnn -c "$1"; }   # the socket: reachable from here

ip netns exec "$ns1" "$bin/mtrnn-watch" "${common[@]}" --runtime-dir "$work/run1" --role both \
    --set "queue=postgresql://mtrnn@10.231.1.1:5432/mtrnn?sslmode=disable" --set worker_name=w1 >"$work/w1.log" 2>&1 &
pids+=($!)
head -c 20000 /dev/urandom | { printf '\xff\xd8\xff\xe0'; cat; } >"$work/photo.jpg"
cp "$work/photo.jpg" "$work/inbox/.IMG_1.jpg.part" && mv "$work/inbox/.IMG_1.jpg.part" "$work/inbox/IMG_1.jpg"
for _ in $(seq 100); do
    [ "$(q "SELECT worker FROM mtrnn_jobs WHERE state = 'running'" 2>/dev/null)" = w1 ] && break
    sleep 0.2
done
[ "$(q "SELECT worker FROM mtrnn_jobs WHERE state = 'running'")" = w1 ] || { echo "cluster-netns: FAIL: w1 never claimed the photo"; cat "$work/w1.log"; exit 1; }
ip netns exec "$ns2" "$bin/mtrnn-watch" "${common[@]}" --runtime-dir "$work/run2" --role worker \
    --set "queue=postgresql://mtrnn@10.231.2.1:5432/mtrnn?sslmode=disable" --set worker_name=w2 >"$work/w2.log" 2>&1 &
pids+=($!)
sleep 1
echo "cluster-netns: w1 has the photo; cutting w1's link"
ip -n "$ns1" link set "v1-$tag" down
status=0
for _ in $(seq 150); do
    [ "$(q "SELECT state || ' ' || worker || ' ' || attempts FROM mtrnn_jobs")" = "done w2 2" ] && break
    sleep 0.2
done
got=$(q "SELECT state || ' ' || worker || ' ' || attempts FROM mtrnn_jobs")
if [ "$got" = "done w2 2" ]; then echo "cluster-netns: w2 finished the photo after w1's lease expired (attempt 2)"; else
    echo "cluster-netns: FAIL: the job is '$got', not 'done w2 2'"; status=1; fi
sleep 8   # w1's stand-in finishes meanwhile, cut off: it must not add a second result
results=$(ls -A "$work/outbox")
if [ "$results" = IMG_1.jpg ] && cmp -s "$work/outbox/IMG_1.jpg" "$work/photo.jpg"; then
    echo "cluster-netns: exactly one result, whole"
else
    echo "cluster-netns: FAIL: the outbox holds: $results"; status=1
fi
if grep -q "cannot reach the queue database" "$work/w1.log"; then
    echo "cluster-netns: w1 said it cannot reach the database: $(grep -m1 -o 'cannot reach the queue database.*' "$work/w1.log" | cut -c1-160)"
else
    echo "cluster-netns: FAIL: w1 did not say it lost the database"; status=1
fi
ip -n "$ns1" link set "v1-$tag" up
for _ in $(seq 100); do grep -q "is reachable again" "$work/w1.log" && break; sleep 0.5; done
if grep -q "is reachable again" "$work/w1.log"; then echo "cluster-netns: w1 reconnected once its link was back"; else
    echo "cluster-netns: FAIL: w1 did not reconnect"; tail -5 "$work/w1.log"; status=1; fi
"$bin/mtrnnctl" status --cluster --queue "postgresql://mtrnn@/mtrnn?host=$PG_SCRATCH" || status=1
[ "$status" = 0 ] && echo "cluster-netns: 1 passed, 0 failed" || { echo "cluster-netns: 0 passed, 1 failed"; tail -20 "$work/w1.log" "$work/w2.log"; }
exit $status
