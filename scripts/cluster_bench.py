#!/usr/bin/env python3
"""Throughput of the shared PostgreSQL queue (issue 20): 1, 2, 4 and 8 worker
processes, each photo held on one core for HOLD seconds by the stand-in
processor (MTRNN_WATCH_TEST_PROCESSOR=spin:HOLD), against a scratch server.

  scripts/cluster_bench.py --daemon .build/release/mtrnn-watch [--hold 0.5] [--per-core 16]
      [--workers 1,2,4,8] [--real WEIGHTS --real-photos 4]

For each count N the photos (16 per usable core) are queued while the cluster
is paused, the workers start and register, and the clock runs from `resume` to
the last photo done. Printed per N: jobs/s, the ideal min(N, cores)/HOLD,
scaling efficiency (jobs/s over ideal), and the queue overhead per job: the
time each usable core spent per photo beyond HOLD (claim, lease renewals,
staging copy, durable write, archive, status updates), and that time split
as the workers log it per photo: the queue's statements (claim, status
reports, completion: MTRNN_QUEUE_MS) and the durable file steps (private
copy, result written and fsynced, renamed, original archived: MTRNN_FILES_MS).
Workers beyond the cores share them: their efficiency is against the cores.
--real: one more run with 2 workers and the real MT-RNN pipeline (the weights
given), photos of --real-size pixels: photos per hour per core.
The last line starts with "cluster-bench:" (JSON)."""
import argparse, json, os, re, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG = os.path.join(ROOT, "scripts", "pg-scratch.sh")


def psql(pg, sql):
    r = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-h", pg["PG_SCRATCH"], "-p", pg["PG_SCRATCH_PORT"],
                        "-U", "mtrnn", "-d", "mtrnn", "-c", sql], capture_output=True, text=True, check=True)
    return r.stdout.strip()


def run_one(args, pg, n, photos, processor, make_photo, weights=None):
    work = tempfile.mkdtemp(prefix="mtrnn-bench.")
    for d in ["inbox", "outbox", "archive", "failed", "state"]:
        os.makedirs(f"{work}/{d}")
    psql(pg, "DROP TABLE IF EXISTS mtrnn_jobs, mtrnn_workers, mtrnn_control, mtrnn_schema_version")
    env = dict(os.environ, MTRNN_WATCH_TEST_PROCESSOR=processor, OMP_WAIT_POLICY="passive")
    env.pop("NOTIFY_SOCKET", None)
    if weights:
        env.pop("MTRNN_WATCH_TEST_PROCESSOR")
    procs = []
    def start(i):
        cmd = [args.daemon, "--role", "worker", "--inbox", f"{work}/inbox", "--outbox", f"{work}/outbox",
               "--archive", f"{work}/archive", "--failed", f"{work}/failed", "--state-dir", f"{work}/state",
               "--runtime-dir", f"{work}/run{i}", "--set", f"queue={pg['MTRNN_TEST_QUEUE']}",
               "--set", "lease_seconds=600", "--set", f"worker_name=b{i}"]
        if weights:
            cmd += ["--set", f"weights={weights}", "--set", "sharp_photos=process"]
        return subprocess.Popen(cmd, env=env, stdout=open(f"{work}/b{i}.log", "w"), stderr=subprocess.STDOUT)
    # The schema first (one worker), then pause, queue, start the rest.
    procs.append(start(0))
    for _ in range(300):
        try:
            if psql(pg, "SELECT count(*) FROM mtrnn_workers") == "1":
                break
        except subprocess.CalledProcessError:
            pass
        time.sleep(0.1)
    psql(pg, "UPDATE mtrnn_control SET paused = true")
    values = []
    for i in range(photos):
        name = f"P{i:05d}.jpg"
        path = f"{work}/inbox/{name}"
        with open(path, "wb") as f:
            f.write(make_photo(i))
        st = os.stat(path)
        values.append(f"('{name}', {st.st_size}, {st.st_mtime_ns}, 'h{i}')")
    psql(pg, "INSERT INTO mtrnn_jobs (path, size, mtime_ns, content_hash) VALUES " + ", ".join(values))
    for i in range(1, n):
        procs.append(start(i))
    for _ in range(600):
        if psql(pg, "SELECT count(*) FROM mtrnn_workers WHERE state IN ('idle', 'paused')") == str(n):
            break
        time.sleep(0.1)
    # The clock is the database's: from the commit of `resume` to the last
    # job's completion (finished_at), so the polling below neither adds its
    # interval to the figure nor needs to be frequent (each psql is a process
    # that would take CPU from the workers it measures).
    t0 = float(psql(pg, "UPDATE mtrnn_control SET paused = false RETURNING extract(epoch FROM clock_timestamp())"))
    while True:
        done = int(psql(pg, "SELECT count(*) FROM mtrnn_jobs WHERE state IN ('done', 'failed')"))
        if done >= photos:
            break
        time.sleep(0.5)
    elapsed = float(psql(pg, "SELECT extract(epoch FROM max(finished_at)) FROM mtrnn_jobs")) - t0
    failed = int(psql(pg, "SELECT count(*) FROM mtrnn_jobs WHERE state = 'failed'"))
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()
    # The workers' own account of each photo's time beside the processor.
    queue_ms, files_ms = [], []
    for i in range(n):
        for line in open(f"{work}/b{i}.log"):
            q = re.search(r"MTRNN_QUEUE_MS=([0-9.]+)", line)
            f = re.search(r"MTRNN_FILES_MS=(-?[0-9.]+)", line)
            if q and f:
                queue_ms.append(float(q.group(1))); files_ms.append(float(f.group(1)))
    subprocess.run(["rm", "-rf", work])
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")
    median = lambda xs: sorted(xs)[len(xs) // 2] if xs else float("nan")
    return elapsed, failed, dict(queue_ms_mean=round(mean(queue_ms), 2), queue_ms_median=round(median(queue_ms), 2),
                                 files_ms_mean=round(mean(files_ms), 2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--hold", type=float, default=0.5)
    ap.add_argument("--per-core", type=int, default=16)
    ap.add_argument("--workers", default="1,2,4,8")
    ap.add_argument("--real", default=None, help="weights file: add a run of the real pipeline with 2 workers")
    ap.add_argument("--real-photos", type=int, default=4)
    ap.add_argument("--real-size", type=int, default=512)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    out = subprocess.run([PG, "start"], capture_output=True, text=True, check=True).stdout
    pg = dict(re.findall(r"export (\w+)='?([^'\n]*)'?", out))
    results = []
    try:
        print(f"cores: {cores}; stand-in: spin {args.hold} s per photo on one core; {args.per_core} photos per usable core")
        print(f"{'workers':>7} {'photos':>6} {'seconds':>8} {'jobs/s':>7} {'ideal':>6} {'efficiency':>10} {'overhead ms/job':>15}"
              f" {'queue ms/job':>12} {'(median)':>8} {'files ms/job':>12}")
        for n in [int(x) for x in args.workers.split(",")]:
            usable = min(n, cores)
            photos = args.per_core * usable
            elapsed, failed, split = run_one(args, pg, n, photos, f"spin:{args.hold}",
                                             lambda i: b"\xff\xd8\xff\xe0" + os.urandom(4000))
            rate = photos / elapsed
            ideal = usable / args.hold
            overhead_ms = (elapsed * usable / photos - args.hold) * 1000
            results.append(dict(workers=n, photos=photos, seconds=round(elapsed, 2), jobs_per_s=round(rate, 3),
                                ideal=round(ideal, 3), efficiency=round(rate / ideal, 3),
                                overhead_ms_per_job=round(overhead_ms, 1), failed=failed, **split))
            print(f"{n:>7} {photos:>6} {elapsed:>8.2f} {rate:>7.2f} {ideal:>6.2f} {rate / ideal:>10.1%} {overhead_ms:>15.1f}"
                  f" {split['queue_ms_mean']:>12.2f} {split['queue_ms_median']:>8.2f} {split['files_ms_mean']:>12.2f}")
        if args.real:
            from io import BytesIO
            from PIL import Image, ImageFilter
            import random
            def real_photo(i):
                rng = random.Random(i)
                im = Image.new("RGB", (args.real_size, args.real_size))
                px = im.load()
                for y in range(0, args.real_size, 8):
                    for x in range(0, args.real_size, 8):
                        c = tuple(rng.randrange(256) for _ in range(3))
                        for dy in range(8):
                            for dx in range(8):
                                px[x + dx, y + dy] = c
                im = im.filter(ImageFilter.GaussianBlur(2))
                b = BytesIO(); im.save(b, "JPEG", quality=90); return b.getvalue()
            elapsed, failed, _ = run_one(args, pg, 2, args.real_photos, "", real_photo, weights=args.real)
            per_hour_core = args.real_photos / elapsed * 3600 / min(2, cores)
            mp = args.real_size * args.real_size / 1e6
            results.append(dict(workers=2, real=True, photos=args.real_photos, megapixels=mp, seconds=round(elapsed, 1),
                                photos_per_hour_per_core=round(per_hour_core, 1), failed=failed))
            print(f"real MT-RNN, 2 workers on {min(2, cores)} cores: {args.real_photos} photos of {mp:.2f} MP in "
                  f"{elapsed:.1f} s = {per_hour_core:.0f} photos/hour/core ({failed} failed)")
    finally:
        subprocess.run([PG, "stop", pg["PG_SCRATCH"]])
    print("cluster-bench: " + json.dumps(dict(cores=cores, hold=args.hold, runs=results)))


if __name__ == "__main__":
    main()
