#!/usr/bin/env python3
"""What a database administrator relies on in the shared PostgreSQL queue
(issue 20), with real daemons (a watcher and a worker of mtrnn-watch, the
stand-in processor MTRNN_WATCH_TEST_PROCESSOR=copy:SECONDS) on a scratch
server set up with docs/cluster-grants.sql as mtrnn-watch(8) shows it
(scripts/pg-scratch.sh):

  scripts/cluster_admin.py --daemon .build/debug/mtrnn-watch --ctl .build/debug/mtrnnctl CASE
    grants     the daemons run as mtrnn and finish every photo; mtrnnctl status
               --cluster --json as mtrnn_status reads it all, and that role
               cannot pause, retry, delete or create (the error names the
               missing grant); a daemon given that role stops with exit 78;
               mtrnn_operator pauses, resumes and retries once granted
               docs/cluster-operator-grants.sql
    retention  job_retention_days with originals = keep: after the jobs are
               aged 31 days, a restarted watcher deletes those whose photo left
               the inbox or failed/, keeps the others, and the photos still in
               the inbox are not processed again; 0 keeps every job
    lasterror  PostgreSQL restarted under a worker: mtrnnctl status --cluster
               shows its last error with its time (UTC) and as resolved
Prints what it checked and a line starting with "cluster-admin:" (JSON);
exits 1 on any failed check."""
import argparse, datetime, json, os, re, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import PG, ROOT, Cluster  # noqa: E402


def jpeg(n=20000):
    return b"\xff\xd8\xff\xe0" + os.urandom(n)


class Admin:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="mtrnn-admin.")
        for d in ["inbox", "outbox", "archive", "failed", "state"]:
            os.makedirs(f"{self.work}/{d}")
        out = subprocess.run([PG, "start"], capture_output=True, text=True, check=True).stdout
        self.pg = dict(re.findall(r"export (\w+)='?([^'\n]*)'?", out))
        args.lease, args.max_attempts = 5, 3
        self.cluster = Cluster(args, self.work, self.pg)
        self.problems, self.checks, self.figures = [], [], {}
        self.sets = {}   # name -> extra --set values

    # --- helpers
    def psql(self, sql, user="mtrnn", check=True):
        r = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-h", self.pg["PG_SCRATCH"], "-p", self.pg["PG_SCRATCH_PORT"],
                            "-U", user, "-d", "mtrnn", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"psql as {user}: {sql}: {r.stderr.strip()}")
        return r if not check else r.stdout.strip()

    def start(self, role, name, *sets):
        self.sets[name] = list(sets)
        cmd, env = self.cluster.command(role, name)
        for s in sets:
            cmd += ["--set", s]
        log = open(f"{self.work}/{name}.log", "a")
        p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.cluster.procs[name] = p
        self.cluster.logs[name] = f"{self.work}/{name}.log"
        return p

    def stop(self, name):
        p = self.cluster.procs.pop(name)
        p.send_signal(signal.SIGTERM)
        code = p.wait(timeout=30)
        if code != 0:
            self.fail(f"{name} did not stop cleanly on SIGTERM: exit {code}")

    def log(self, name):
        return open(self.cluster.logs[name], errors="replace").read()

    def ctl(self, *argv, url="MTRNN_TEST_QUEUE"):
        return subprocess.run([self.args.ctl, *argv, "--cluster", "--queue", self.pg[url]], capture_output=True, text=True)

    def drop(self, name, body, folder="inbox"):
        tmp = f"{self.work}/{folder}/.{name}.part"
        with open(tmp, "wb") as f:
            f.write(body)
        os.rename(tmp, f"{self.work}/{folder}/{name}")

    def finished(self):
        r = self.psql("SELECT count(*) FROM mtrnn_jobs WHERE state IN ('done', 'failed', 'gone')", check=False)
        return int(r.stdout.strip()) if r.returncode == 0 else 0   # no tables before the first daemon's migration

    def wait(self, what, condition, timeout=90):
        t = time.time()
        while time.time() - t < timeout:
            if condition():
                return True
            time.sleep(0.2)
        self.fail(f"timed out after {timeout} s waiting for {what}")
        return False

    def check(self, ok, what):
        (self.checks if ok else self.problems).append(what)
        print(("ok:   " if ok else "FAIL: ") + what)
        return ok

    def fail(self, what):
        self.check(False, what)

    def outbox(self):
        return sorted(n for n in os.listdir(f"{self.work}/outbox") if not n.startswith("."))

    def finish(self, case):
        for name, p in list(self.cluster.procs.items()):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill(); p.wait()
                    self.fail(f"{name} hung on SIGTERM")
        subprocess.run([PG, "stop", self.pg["PG_SCRATCH"]])
        if self.problems or self.args.keep:
            print(f"(work folder kept: {self.work})")
        else:
            subprocess.run(["rm", "-rf", self.work])
        self.figures.update(case=case, checks=len(self.checks), problems=len(self.problems))
        print("cluster-admin: " + json.dumps(self.figures))
        return 1 if self.problems else 0

    # --- the cases
    def grants(self):
        self.start("watcher", "watcher")
        self.start("worker", "w0")
        photos = {f"IMG_{i}.jpg": jpeg() for i in range(6)}
        for n, b in photos.items():
            self.drop(n, b)
        self.drop("BAD.jpg", b"not a photo at all")
        self.wait("7 finished jobs", lambda: self.finished() >= 7)
        self.check(len(self.outbox()) == 6, f"the daemons, as mtrnn, finished every photo: {len(self.outbox())} results of 6, BAD.jpg failed")

        r = self.ctl("status", "--json", url="MTRNN_TEST_STATUS_QUEUE")
        status = json.loads(r.stdout) if r.returncode == 0 else {}
        self.check(r.returncode == 0 and status["jobs"].get("done") == 6 and status["jobs"].get("failed") == 1
                   and sorted(w["name"] for w in status["workers"]) == ["w0", "watcher"],
                   f"mtrnnctl status --cluster --json as mtrnn_status: exit {r.returncode}, jobs {status.get('jobs')}, "
                   f"workers {[w['name'] for w in status.get('workers', [])]} {r.stderr.strip()}")
        r = self.ctl("status", url="MTRNN_TEST_STATUS_QUEUE")
        self.check(r.returncode == 0 and "6 done, 1 failed" in r.stdout, f"mtrnnctl status --cluster as mtrnn_status: exit {r.returncode}")

        for argv, table in [(["pause"], "mtrnn_control"), (["resume"], "mtrnn_control"), (["retry", "*"], "mtrnn_jobs")]:
            r = self.ctl(*argv, url="MTRNN_TEST_STATUS_QUEUE")
            self.check(r.returncode == 1 and f"permission denied for table {table}" in r.stderr
                       and f"UPDATE on {table}, which role mtrnn_status lacks" in r.stderr
                       and "mtrnn_operator" in r.stderr,
                       f"mtrnnctl {' '.join(argv)} --cluster as mtrnn_status is refused naming the grant: exit {r.returncode}: {r.stderr.strip()}")
        self.figures["status_role_pause_error"] = self.ctl("pause", url="MTRNN_TEST_STATUS_QUEUE").stderr.strip()
        for sql in ["DELETE FROM mtrnn_jobs", "UPDATE mtrnn_control SET paused = true",
                    "INSERT INTO mtrnn_jobs (path, size, mtime_ns, content_hash) VALUES ('x', 1, 1, 'h')",
                    "CREATE TABLE mtrnn_x (a int)", "DROP TABLE mtrnn_jobs"]:
            r = self.psql(sql, user="mtrnn_status", check=False)
            self.check(r.returncode != 0 and ("permission denied" in r.stderr or "must be owner" in r.stderr),
                       f"mtrnn_status cannot: {sql} ({r.stderr.strip().splitlines()[0] if r.stderr.strip() else 'it could'})")
        self.check(self.psql("SELECT paused FROM mtrnn_control") == "f" and self.finished() == 7, "the refusals changed nothing")

        # A daemon given the read-only role by mistake: stops at once, exit 78, naming the grant.
        p = self.start("worker", "wrong", f"queue={self.pg['MTRNN_TEST_STATUS_QUEUE']}")
        try:
            code = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill(); code = "still running after 30 s"
        self.cluster.procs.pop("wrong", None)
        log = self.log("wrong")
        self.check(code == 78 and "permission denied for schema public" in log and "must connect as the role that owns the tables" in log,
                   f"a worker connecting as mtrnn_status exits 78 naming the grant: exit {code}: {log.strip().splitlines()[-1] if log.strip() else ''}")

        # Operators: refused before their grants, then pause, resume and retry.
        r = self.ctl("pause", url="MTRNN_TEST_OPERATOR_QUEUE")
        self.check(r.returncode == 1 and "permission denied for table mtrnn_control" in r.stderr,
                   "mtrnn_operator cannot pause before docs/cluster-operator-grants.sql")
        g = subprocess.run(["psql", "-X", "-q", "-h", self.pg["PG_SCRATCH"], "-p", self.pg["PG_SCRATCH_PORT"], "-U", "mtrnn", "-d", "mtrnn",
                            "-v", "ON_ERROR_STOP=1", "-f", f"{ROOT}/docs/cluster-operator-grants.sql"], capture_output=True, text=True)
        self.check(g.returncode == 0, f"docs/cluster-operator-grants.sql applies as mtrnn: {g.stderr.strip()}")
        r = self.ctl("pause", url="MTRNN_TEST_OPERATOR_QUEUE")
        self.check(r.returncode == 0, f"mtrnnctl pause --cluster as mtrnn_operator: exit {r.returncode} {r.stderr.strip()}")
        for k in range(2):
            self.drop(f"HELD_{k}.jpg", jpeg())
        self.wait("2 held photos queued", lambda: self.psql("SELECT count(*) FROM mtrnn_jobs WHERE path LIKE 'HELD_%'") == "2")
        time.sleep(2)
        held = self.psql("SELECT count(*) FROM mtrnn_jobs WHERE path LIKE 'HELD_%' AND state = 'queued'")
        self.check(held == "2", f"no photo is taken while paused by mtrnn_operator ({held} of 2 still queued)")
        r = self.ctl("resume", url="MTRNN_TEST_OPERATOR_QUEUE")
        self.check(r.returncode == 0, f"mtrnnctl resume --cluster as mtrnn_operator: exit {r.returncode} {r.stderr.strip()}")
        self.wait("the held photos done", lambda: self.finished() >= 9)
        r = self.ctl("retry", "BAD.jpg", url="MTRNN_TEST_OPERATOR_QUEUE")
        self.check(r.returncode == 0 and "queued 1 photo" in r.stdout,
                   f"mtrnnctl retry --cluster BAD.jpg as mtrnn_operator: exit {r.returncode} {r.stdout.strip()} {r.stderr.strip()}")
        self.wait("the retried photo failed again", lambda: self.psql("SELECT state FROM mtrnn_jobs WHERE origin = 'failed'") == "failed")
        for sql in ["DELETE FROM mtrnn_jobs", "UPDATE mtrnn_workers SET done = 0", "UPDATE mtrnn_schema_version SET version = 9"]:
            r = self.psql(sql, user="mtrnn_operator", check=False)
            self.check(r.returncode != 0 and "permission denied" in r.stderr, f"mtrnn_operator cannot: {sql}")
        self.check(len(self.outbox()) == 8, f"8 results, each photo once: {len(self.outbox())}")

    def retention(self):
        keep = ["originals=keep", "job_retention_days=30"]
        self.start("watcher", "watcher", *keep)
        self.start("worker", "w0", *keep)
        photos = {f"IMG_{i}.jpg": jpeg() for i in range(6)}
        for n, b in photos.items():
            self.drop(n, b)
        for k in range(2):
            self.drop(f"BAD_{k}.jpg", b"not a photo %d" % k)
        self.wait("8 finished jobs", lambda: self.finished() >= 8)
        self.check(len(self.outbox()) == 6 and len([n for n in os.listdir(f"{self.work}/inbox") if not n.startswith(".")]) == 6,
                   "originals = keep: 6 results, the 6 originals still in the inbox, 2 in failed/")
        self.stop("watcher")
        self.psql("UPDATE mtrnn_jobs SET finished_at = now() - interval '31 days'")
        # The operator clears half the kept originals and one failed photo.
        gone = sorted(photos)[:3]
        for n in gone:
            os.unlink(f"{self.work}/inbox/{n}")
        for n in ["BAD_0.jpg", "BAD_0.jpg.reason"]:
            os.unlink(f"{self.work}/failed/{n}")

        # job_retention_days = 0: nothing is deleted.
        self.start("watcher", "watcher0", "originals=keep", "job_retention_days=0")
        time.sleep(4)
        self.stop("watcher0")
        self.check(self.psql("SELECT count(*) FROM mtrnn_jobs") == "8", "job_retention_days = 0 deletes no job")

        self.start("watcher", "watcher", *keep)
        self.wait("the retention pass at start", lambda: "job retention: deleted" in self.log("watcher"), timeout=60)
        line = [l for l in self.log("watcher").splitlines() if "job retention: deleted" in l]
        self.figures["retention_log"] = line[-1] if line else None
        left = self.psql("SELECT path || ':' || state FROM mtrnn_jobs ORDER BY path").split()
        want = sorted([f"{n}:done" for n in sorted(photos)[3:]] + ["BAD_1.jpg:failed"])
        self.check(left == want, f"the jobs of photos still in the inbox or failed/ are kept, the other 4 deleted: {left}")
        self.check(bool(line) and "deleted 4 finished jobs older than 30 days, kept 4" in line[-1], f"the watcher says so: {line[-1] if line else None}")
        time.sleep(3)
        n = self.psql("SELECT count(*) FROM mtrnn_jobs")
        self.check(n == "4" and len(self.outbox()) == 6, f"no kept photo is queued or processed again ({n} jobs, {len(self.outbox())} results)")
        r = self.ctl("retry", "BAD_1.jpg")
        self.check(r.returncode == 0, f"the kept failed job can still be retried: exit {r.returncode} {r.stderr.strip()}")
        # A photo dropped again after its job was deleted is a new job, as it was before retention.
        self.drop(gone[0], photos[gone[0]])
        self.wait("the dropped-again photo done", lambda: self.psql(f"SELECT state FROM mtrnn_jobs WHERE path = '{gone[0]}'") == "done")
        self.check(len(self.outbox()) == 7, f"a photo dropped again after its job was deleted is processed again: {len(self.outbox())} results")

    def lasterror(self):
        self.start("watcher", "watcher")
        self.start("worker", "w0")
        self.drop("A.jpg", jpeg())
        self.wait("A.jpg done", lambda: self.finished() >= 1)
        r = self.ctl("status", "--json", url="MTRNN_TEST_STATUS_QUEUE")
        w0 = [w for w in json.loads(r.stdout)["workers"] if w["name"] == "w0"][0]
        self.check(w0["last_error"] is None and w0["last_error_at"] is None and w0["last_error_resolved"] is None,
                   f"no error before: {w0['last_error']!r}")
        down = time.time()
        subprocess.run([PG, "restart", self.pg["PG_SCRATCH"], "5"], check=True)
        self.wait("the worker back", lambda: "is reachable again" in self.log("w0"), timeout=60)
        time.sleep(1)
        r = self.ctl("status", "--json", url="MTRNN_TEST_STATUS_QUEUE")
        w0 = [w for w in json.loads(r.stdout)["workers"] if w["name"] == "w0"][0] if r.returncode == 0 else {}
        self.figures["worker_after_restart"] = {k: w0.get(k) for k in ["last_error", "last_error_at", "seconds_since_last_error", "last_error_resolved"]}
        at = w0.get("last_error_at")
        when = datetime.datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp() if at else 0
        self.check("cannot reach the queue database" in (w0.get("last_error") or "")
                   and down - 5 <= when <= time.time() + 5 and 0 <= (w0.get("seconds_since_last_error") or -1) < 60,
                   f"status --json as mtrnn_status: the worker's last error with its time: {self.figures['worker_after_restart']}")
        self.check(w0.get("last_error_resolved") is True, "and resolved: the worker reported clean since (idle, the queue empty)")
        text = self.ctl("status", url="MTRNN_TEST_STATUS_QUEUE").stdout
        line = [l.strip() for l in text.splitlines() if l.strip().startswith("last error")]
        self.figures["status_text"] = line
        self.check(bool(line) and re.match(r"last error \d+ s ago \(resolved: it has worked since\): cannot reach the queue database", line[0]) is not None,
                   f"the text says when and that it is over: {line}")
        self.drop("B.jpg", jpeg())
        self.wait("B.jpg done", lambda: self.finished() >= 2)
        self.check(len(self.outbox()) == 2, "photos are done after the restart")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--processor", default="copy:0.2")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("case", choices=["grants", "retention", "lasterror"])
    args = ap.parse_args()
    admin = Admin(args)
    try:
        getattr(admin, args.case)()
    except Exception as e:  # a harness error is a failure too
        admin.fail(f"harness: {type(e).__name__}: {e}")
    sys.exit(admin.finish(args.case))


if __name__ == "__main__":
    main()
