#!/usr/bin/env python3
"""Cluster harness for the shared PostgreSQL queue (issue 20): one watcher and
N workers of mtrnn-watch (separate processes, as on separate hosts) share an
inbox, an outbox and a scratch PostgreSQL server (scripts/pg-scratch.sh), with
a fast stand-in processor (MTRNN_WATCH_TEST_PROCESSOR=copy:SECONDS: the photo's
own bytes after SECONDS, ten progress steps).

  scripts/cluster_harness.py --daemon .build/debug/mtrnn-watch --ctl .build/debug/mtrnnctl
      [--workers 4] [--photos 60] [--kills 0] [--restarts 0] [--unreachable] [--seed N]

Checks, whatever the mode:
  * every photo is done exactly once: each input's bytes are in the outbox
    exactly once, nothing else is there, no temporary is left, the inbox is empty;
  * no half-written result is ever visible: the outbox is sampled while the
    workers run, and every visible file must equal some input in full;
  * the photo of death (it aborts the worker each time) goes to failed/ with
    a reason naming the attempts, after max_attempts claims;
  * mtrnnctl status --cluster --json agrees (jobs per state, workers);
  * pause and resume --cluster stop and restart the claims.
--kills K: SIGKILLs a worker in the middle of a job K times (restarting it).
--restarts R: restarts PostgreSQL R times under load; workers must reconnect.
--unreachable: starts a worker with the server down; it must say so (journal
lines with "cannot reach the queue database", growing retry delays) and work
once the server is up.
Prints a summary and a line starting with "cluster-harness:" (JSON); exits 1
on any failed check."""
import argparse, json, os, random, re, signal, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG = os.path.join(ROOT, "scripts", "pg-scratch.sh")


def psql(env, sql):
    out = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-h", env["PG_SCRATCH"], "-p", env["PG_SCRATCH_PORT"],
                          "-U", "mtrnn", "-d", "mtrnn", "-c", sql], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return out.stdout.strip()


class Cluster:
    def __init__(self, args, work, pg):
        self.args, self.work, self.pg = args, work, pg
        self.procs = {}      # name -> Popen
        self.logs = {}
        self.crashes = []
        self.lock = threading.Lock()

    def command(self, role, name, extra_env=None):
        a = self.args
        cmd = [a.daemon, "--role", role, "--inbox", f"{self.work}/inbox", "--outbox", f"{self.work}/outbox",
               "--archive", f"{self.work}/archive", "--failed", f"{self.work}/failed",
               "--state-dir", f"{self.work}/state", "--runtime-dir", f"{self.work}/run-{name}",
               "--settle", "0.2", "--set", f"queue={self.pg['MTRNN_TEST_QUEUE']}",
               "--set", f"lease_seconds={a.lease}", "--set", f"max_attempts={a.max_attempts}",
               "--set", f"worker_name={name}"]
        env = dict(os.environ, MTRNN_WATCH_TEST_PROCESSOR=a.processor, OMP_WAIT_POLICY="passive")
        env.pop("NOTIFY_SOCKET", None)
        env["SWIFT_BACKTRACE"] = "enable=no"   # a crash ends the process at once, not after a 20 s backtrace
        env.update(extra_env or {})
        return cmd, env

    def start(self, role, name, extra_env=None):
        cmd, env = self.command(role, name, extra_env)
        log = open(f"{self.work}/{name}.log", "a")
        p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        with self.lock:
            self.procs[name] = p
            self.logs[name] = f"{self.work}/{name}.log"
        return p

    def supervise(self):
        """Restarts a worker that died on its own (the photo of death aborts
        it), as systemd's Restart=on-failure would."""
        with self.lock:
            dead = [(n, p.returncode) for n, p in self.procs.items() if p.poll() is not None]
        for name, code in dead:
            self.crashes.append((name, code))
            self.start("watcher" if name == "watcher" else "worker", name)

    def stop_all(self):
        with self.lock:
            procs = list(self.procs.items())
        for _, p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = {}
        for name, p in procs:
            try:
                codes[name] = p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill(); p.wait()
                codes[name] = "hung"
        return codes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--kills", type=int, default=0)
    ap.add_argument("--restarts", type=int, default=0)
    ap.add_argument("--unreachable", action="store_true")
    ap.add_argument("--processor", default="copy:0.4")
    ap.add_argument("--lease", type=float, default=2)
    ap.add_argument("--max-attempts", type=int, default=0, help="default: 3, or kills + 3 with --kills")
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    if not args.max_attempts:
        args.max_attempts = args.kills + 3 if args.kills else 3

    work = tempfile.mkdtemp(prefix="mtrnn-cluster.")
    for d in ["inbox", "outbox", "archive", "failed", "state"]:
        os.makedirs(f"{work}/{d}")
    out = subprocess.run([PG, "start"], capture_output=True, text=True, check=True).stdout
    pg = dict(re.findall(r"export (\w+)='?([^'\n]*)'?", out))
    env_pg = dict(os.environ, **pg)
    cluster = Cluster(args, work, pg)
    problems = []
    figures = {"seed": seed, "workers": args.workers, "photos": args.photos}
    try:
        run(args, rng, work, pg, env_pg, cluster, problems, figures)
    except Exception as e:  # a harness error is a failure too
        problems.append(f"harness: {type(e).__name__}: {e}")
    finally:
        codes = cluster.stop_all()
        bad = {n: c for n, c in codes.items() if c not in (0, -9)}
        if bad:
            problems.append(f"workers did not stop cleanly on SIGTERM: {bad}")
        subprocess.run([PG, "stop", pg["PG_SCRATCH"]])
    figures["problems"] = len(problems)
    for p in problems:
        print("FAIL:", p)
    if problems or args.keep:
        print(f"(work folder kept: {work})")
    else:
        subprocess.run(["rm", "-rf", work])
    print("cluster-harness: " + json.dumps(figures))
    sys.exit(1 if problems else 0)


def run(args, rng, work, pg, env_pg, cluster, problems, figures):
    # The photos: JPEG magic and unique bytes (the copy processor checks only the magic).
    inputs = {}
    for i in range(args.photos):
        body = b"\xff\xd8\xff\xe0" + os.urandom(rng.randrange(2000, 60000))
        inputs[f"IMG_{i:04d}.jpg"] = body
    death = b"MTRNN-TEST-CRASH" + os.urandom(100) if not args.kills else None

    if args.unreachable:
        check_unreachable(args, work, pg, cluster, problems, figures)

    cluster.start("watcher", "watcher")
    for n in range(args.workers):
        cluster.start("worker", f"w{n}")
    # Photos arrive while the workers run: half now, half later.
    def drop(names):
        for name in names:
            tmp = f"{work}/inbox/.{name}.part"
            with open(tmp, "wb") as f:
                f.write(inputs[name])
            os.rename(tmp, f"{work}/inbox/{name}")
    names = sorted(inputs)
    drop(names[: len(names) // 2])
    if death:
        with open(f"{work}/inbox/DEATH.jpg", "wb") as f:
            f.write(death)
    later = names[len(names) // 2:]

    seen_bad = []
    stop_sampling = threading.Event()
    contents = set(inputs.values())
    def sample():
        while not stop_sampling.is_set():
            for n in os.listdir(f"{work}/outbox"):
                if n.startswith("."):
                    continue
                try:
                    with open(f"{work}/outbox/{n}", "rb") as f:
                        b = f.read()
                except FileNotFoundError:
                    continue
                if b not in contents:
                    seen_bad.append(n)
            time.sleep(0.05)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    time.sleep(1)
    drop(later)
    expected = len(inputs) + (1 if death else 0)

    kills = 0
    restarts = 0
    deadline = time.time() + args.timeout
    next_restart = time.time() + 3
    while time.time() < deadline:
        finished = int(psql(pg, "SELECT count(*) FROM mtrnn_jobs WHERE state IN ('done', 'failed', 'gone')") or 0)
        if finished >= expected and kills >= args.kills and restarts >= args.restarts:
            break
        cluster.supervise()
        if kills < args.kills and expected - finished < args.workers:
            # More kills to come than photos left: give the workers more to do.
            for k in range(args.workers * 2):
                extra = f"MORE_{kills:04d}_{k}.jpg"
                inputs[extra] = b"\xff\xd8\xff\xe0" + os.urandom(rng.randrange(2000, 60000))
                contents.add(inputs[extra])
                drop([extra])
                expected += 1
        if kills < args.kills:
            # A worker in the middle of a job (as the database sees it), killed with SIGKILL.
            # (its pid as registered: not a restarted process before it registered)
            rows = [r.split("|") for r in psql(pg, "SELECT name, pid FROM mtrnn_workers WHERE state = 'working' AND role = 'worker'").split()]
            busy = [n for n, pid in rows if n in cluster.procs and cluster.procs[n].poll() is None and cluster.procs[n].pid == int(pid)]
            if busy:
                victim = rng.choice(busy)
                time.sleep(rng.uniform(0, 0.2))
                cluster.procs[victim].send_signal(signal.SIGKILL)
                cluster.procs[victim].wait()
                kills += 1
                cluster.start("worker", victim)
                time.sleep(rng.uniform(0.05, 0.3))
                continue
        if restarts < args.restarts and time.time() >= next_restart:
            subprocess.run([PG, "restart", pg["PG_SCRATCH"], "2"], check=True)
            restarts += 1
            next_restart = time.time() + 4
            if finished >= expected - 5 and restarts < args.restarts:
                for k in range(8):
                    extra = f"LOAD_{restarts:02d}_{k}.jpg"
                    inputs[extra] = b"\xff\xd8\xff\xe0" + os.urandom(rng.randrange(2000, 60000))
                    contents.add(inputs[extra])
                    drop([extra])
                    expected += 1
            continue
        time.sleep(0.2)
    else:
        problems.append(f"timed out after {args.timeout} s: {psql(pg, 'SELECT state, count(*) FROM mtrnn_jobs GROUP BY state')}")
    figures.update(kills=kills, restarts=restarts, photos=len(inputs))

    # Pause and resume, cluster-wide, while a few photos wait.
    ctl = [args.ctl]
    q = ["--queue", pg["MTRNN_TEST_QUEUE"]]
    r = subprocess.run(ctl + ["pause", "--cluster"] + q, capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"mtrnnctl pause --cluster: {r.stderr.strip()}")
    held = {f"PAUSED_{k}.jpg": b"\xff\xd8\xff\xe0" + os.urandom(3000) for k in range(3)}
    inputs.update(held); contents.update(held.values())
    drop(list(held))
    time.sleep(2.5)
    claimed = psql(pg, "SELECT count(*) FROM mtrnn_jobs WHERE path LIKE 'PAUSED_%' AND state <> 'queued'")
    if claimed != "0":
        problems.append(f"{claimed} photos were claimed while the cluster was paused")
    queued_while_paused = psql(pg, "SELECT count(*) FROM mtrnn_jobs WHERE path LIKE 'PAUSED_%'")
    if queued_while_paused != "3":
        problems.append(f"the watcher queued {queued_while_paused} of 3 photos while paused (it should go on queueing)")
    subprocess.run(ctl + ["resume", "--cluster"] + q, capture_output=True, text=True)
    expected += 3
    t = time.time()
    while time.time() - t < 30:
        if int(psql(pg, "SELECT count(*) FROM mtrnn_jobs WHERE state IN ('done', 'failed', 'gone')")) >= expected:
            break
        cluster.supervise()
        time.sleep(0.2)
    stop_sampling.set()
    sampler.join()
    time.sleep(0.5)
    cluster.supervise()

    # The status as a script reads it.
    r = subprocess.run(ctl + ["status", "--cluster", "--json"] + q, capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"mtrnnctl status --cluster --json: exit {r.returncode}: {r.stderr.strip()}")
        status = {}
    else:
        status = json.loads(r.stdout)
        if status["jobs"].get("done", 0) != len(inputs):
            problems.append(f"status says {status['jobs'].get('done', 0)} done, {len(inputs)} photos")
        workers = [w for w in status["workers"] if w["role"] == "worker"]
        ran = args.workers + (1 if args.unreachable else 0)
        if len(workers) != ran:
            problems.append(f"status lists {len(workers)} workers, {ran} ran")
        if sum(w["done"] for w in status["workers"]) < 1:
            problems.append("no worker reports a photo done")
    text = subprocess.run(ctl + ["status", "--cluster"] + q, capture_output=True, text=True).stdout
    print(text)

    # Exactly once.
    outputs = {}
    leftovers = []
    for n in os.listdir(f"{work}/outbox"):
        if n.startswith("."):
            leftovers.append(n)
            continue
        with open(f"{work}/outbox/{n}", "rb") as f:
            outputs[n] = f.read()
    by_content = {}
    for n, b in outputs.items():
        by_content.setdefault(b, []).append(n)
    missing = [n for n, b in inputs.items() if b not in by_content]
    twice = {by_content[b][0]: by_content[b] for b in by_content if len(by_content[b]) > 1}
    strangers = [n for n, b in outputs.items() if b not in contents]
    if missing: problems.append(f"{len(missing)} photos have no result: {missing[:5]}")
    if twice: problems.append(f"results output twice: {list(twice.values())[:5]}")
    if strangers: problems.append(f"outbox files that are no photo's result (half-written?): {strangers[:5]}")
    if leftovers: problems.append(f"temporary files left in the outbox: {leftovers[:5]}")
    if seen_bad: problems.append(f"half-written results were visible while workers ran: {sorted(set(seen_bad))[:5]}")
    inbox_left = [n for n in os.listdir(f"{work}/inbox")]
    if inbox_left: problems.append(f"photos left in the inbox: {inbox_left[:5]}")
    archived = len(os.listdir(f"{work}/archive"))
    if archived != len(inputs): problems.append(f"{archived} originals archived, {len(inputs)} photos")
    failed = sorted(os.listdir(f"{work}/failed"))
    if death:
        if failed != ["DEATH.jpg", "DEATH.jpg.reason"]:
            problems.append(f"the photo of death should be in failed/ with its reason: failed/ has {failed}")
        else:
            reason = open(f"{work}/failed/DEATH.jpg.reason").read()
            if f"in {args.max_attempts} attempts" not in reason:
                problems.append(f"the reason does not name the attempts: {reason!r}")
            attempts = psql(pg, "SELECT attempts FROM mtrnn_jobs WHERE path = 'DEATH.jpg'")
            if attempts != str(args.max_attempts + 1):
                problems.append(f"the photo of death was claimed {attempts} times (max_attempts {args.max_attempts}, +1 to file it)")
    elif failed:
        problems.append(f"photos in failed/: {failed[:5]}")
    retried = int(psql(pg, "SELECT count(*) FROM mtrnn_jobs WHERE attempts > 1 AND path <> 'DEATH.jpg'"))
    figures.update(results=len(outputs), retried_jobs=retried, archived=archived, crashes=len(cluster.crashes))
    if death and len(cluster.crashes) != args.max_attempts:
        problems.append(f"the photo of death should have crashed a worker {args.max_attempts} times: crashes {cluster.crashes}")
    if not death and cluster.crashes:
        problems.append(f"workers died on their own: {cluster.crashes}")
    if args.kills and retried == 0:
        problems.append("no job was retried: the kills did not land mid-job")
    if args.restarts:
        back = sum(open(cluster.logs[n]).read().count("is reachable again") for n in cluster.logs)
        figures["reconnects_logged"] = back
        if back == 0:
            problems.append("no worker logged that the database was reachable again after the restarts")
    print(f"{len(inputs)} photos, {len(outputs)} results, {kills} kills mid-job, {restarts} database restarts, "
          f"{retried} jobs retried, {len(problems)} problems (seed {figures['seed']})")


def check_unreachable(args, work, pg, cluster, problems, figures):
    """A worker started while the database is down says so and backs off, then works."""
    subprocess.run(["runuser", "-u", "postgres", "--", "sh", "-c",
                    f"$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl -D {pg['PG_SCRATCH']}/data -m fast -w stop"],
                   check=True, capture_output=True)
    p = cluster.start("worker", "lonely")
    time.sleep(8)
    log = open(cluster.logs["lonely"]).read()
    subprocess.run(["runuser", "-u", "postgres", "--", "sh", "-c",
                    f"$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl -D {pg['PG_SCRATCH']}/data "
                    f"-o \"$(cat {pg['PG_SCRATCH']}/options)\" -l {pg['PG_SCRATCH']}/server.log -w start"],
                   check=True, capture_output=True)
    waits = [int(x) for x in re.findall(r"cannot reach the queue database .*?; retrying in (\d+) s", log)]
    figures["unreachable_retries"] = waits
    if p.poll() is not None:
        problems.append(f"a worker without its database exited ({p.returncode}) instead of retrying")
    if len(waits) < 2:
        problems.append(f"a worker without its database did not say so in its journal: {log[-400:]!r}")
    elif not all(b >= a for a, b in zip(waits, waits[1:])) or waits[-1] <= waits[0]:
        problems.append(f"the retries do not back off: {waits}")
    t = time.time()
    while time.time() - t < 40:
        try:
            if psql(pg, "SELECT count(*) FROM mtrnn_workers WHERE name = 'lonely'") == "1":
                break
        except RuntimeError:
            pass   # not yet: the tables come with the first daemon's migration
        time.sleep(0.5)
    else:
        problems.append("the worker did not register once the database was back")


if __name__ == "__main__":
    main()
