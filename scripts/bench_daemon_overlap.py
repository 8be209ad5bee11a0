#!/usr/bin/env python3
"""The daemon on a busy inbox with overlap_photos = no and = yes (issue 21):
mtrnn-watch is started on a fresh inbox, the photos are dropped in at once,
and the wall is taken from the drop to the last original archived; the two
modes alternate, several rounds, in one run.

    python3 scripts/bench_daemon_overlap.py --watch .build/release/mtrnn-watch \\
        --mtrnnctl .build/release/mtrnnctl [--photos 6] [--size 4000x3000] \\
        [--sharp-every 3] [--rounds 2] [--weights Models/mtrnn.safetensors] [--work DIR] \\
        [--set KEY=VALUE ...]

The photos are scripts/bench_overlap.py's (photo-like JPEG q95, 40-60 px
motion blur, every --sharp-every-th sharp); the daemon runs with the
shipped unit's defaults but `scale = auto` and `settle_seconds = 0.5`
(the same in both modes), and any --set KEY=VALUE of mtrnn-watch.conf(5)
(`--set iterations=1`: a network 6 times quicker beside the same decode and
encode, as on a machine with more cores). Per run: the wall, the daemon's CPU seconds
(user + system, from /proc, start and weights included) and its peak RSS
(VmHWM), read before SIGTERM. The results of the two modes are compared
byte for byte every round (a difference fails the run, exit 1). Prints the
table for BENCHMARKS.md. Needs numpy and Pillow.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_overlap import add_photo_set_options, make_set, same_outputs  # noqa: E402


def proc_cpu_rss(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tck
    rss = float("nan")
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
    return cpu, rss


def run_daemon(a, mode, src, names, root):
    """One daemon run on a fresh inbox: (wall s, cpu s, peak RSS MB, outbox folder)."""
    shutil.rmtree(root, ignore_errors=True)
    dirs = {d: os.path.join(root, d) for d in ("inbox", "outbox", "archive", "failed", "state")}
    for d in dirs.values():
        os.makedirs(d)
    conf = os.path.join(root, "watch.conf")
    with open(conf, "w") as f:
        f.write("".join(f"{k} = {v}\n" for k, v in [
            ("inbox", dirs["inbox"]), ("outbox", dirs["outbox"]), ("archive", dirs["archive"]),
            ("failed", dirs["failed"]), ("state_dir", dirs["state"]), ("runtime_dir", dirs["state"]),
            ("weights", os.path.abspath(a.weights)), ("scale", "auto"), ("settle_seconds", "0.5"),
            ("overlap_photos", "yes" if mode else "no")] + [tuple(kv.split("=", 1)) for kv in a.set]))
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "RUNTIME_DIRECTORY", "MTRNN_WATCH_TEST_PROCESSOR")}
    log = open(os.path.join(root, "daemon.log"), "w")
    daemon = subprocess.Popen([a.watch, "--config", conf], stdout=log, stderr=log, env=env)
    socket = os.path.join(dirs["state"], "control.sock")
    deadline = time.monotonic() + 120
    while subprocess.run([a.mtrnnctl, "status", "--socket", socket], capture_output=True).returncode != 0:
        if daemon.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"bench-daemon-overlap: the daemon did not start; see {root}/daemon.log")
        time.sleep(0.2)
    # Each photo appears whole (a temporary name, then a rename), all at once.
    for n in names:
        shutil.copyfile(os.path.join(src, n), os.path.join(dirs["inbox"], "." + n + ".part"))
    t0 = time.monotonic()
    for n in names:
        os.rename(os.path.join(dirs["inbox"], "." + n + ".part"), os.path.join(dirs["inbox"], n))
    while len(os.listdir(dirs["archive"])) < len(names):
        if daemon.poll() is not None:
            sys.exit(f"bench-daemon-overlap: the daemon exited {daemon.returncode}; see {root}/daemon.log")
        if os.listdir(dirs["failed"]):
            sys.exit(f"bench-daemon-overlap: a photo failed: {os.listdir(dirs['failed'])}")
        time.sleep(0.1)
    wall = time.monotonic() - t0
    cpu, rss = proc_cpu_rss(daemon.pid)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    log.close()
    return wall, cpu, rss, dirs["outbox"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--watch", required=True)
    ap.add_argument("--mtrnnctl", required=True)
    add_photo_set_options(ap, photos=6, rounds=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="another mtrnn-watch.conf setting for both modes (repeatable)")
    a = ap.parse_args()
    for kv in a.set:
        if "=" not in kv:
            sys.exit(f"bench-daemon-overlap: --set {kv}: expected KEY=VALUE")

    tmp = None if a.work else tempfile.TemporaryDirectory(prefix="bench-daemon-overlap-")
    work = a.work or tmp.name
    src = os.path.join(work, "in")
    print(f"bench-daemon-overlap: making {a.photos} photos of {a.size} in {src}", file=sys.stderr)
    names = make_set(src, a.photos, a.size, a.sharp_every)

    runs = {0: [], 1: []}
    for r in range(a.rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for mode in order:
            wall, cpu, rss, outbox = run_daemon(a, mode, src, names, os.path.join(work, f"run{mode}"))
            runs[mode].append((wall, cpu, rss))
            label = "overlap_photos = yes" if mode else "overlap_photos = no"
            print(f"round {r + 1}/{a.rounds} {label}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss:.0f} MB",
                  file=sys.stderr)
        problem = same_outputs(os.path.join(work, "run0", "outbox"), os.path.join(work, "run1", "outbox"))
        if problem:
            sys.exit(f"bench-daemon-overlap: round {r + 1}: the results differ: {problem}")

    print()
    sharp = sum(1 for n in names if "sharp" in n)
    print(f"mtrnn-watch, {a.photos} photos of {a.size} dropped at once ({a.photos - sharp} blurred, {sharp} sharp), "
          f"{a.rounds} rounds, weights {os.path.basename(a.weights)}, scale = auto, settle_seconds = 0.5"
          + "".join(f", {kv.replace('=', ' = ', 1)}" for kv in a.set))
    print()
    print("| overlap_photos | wall s (median) | rounds | daemon CPU s | peak RSS MB |")
    print("|---|---|---|---|---|")
    for m in (0, 1):
        walls = [x[0] for x in runs[m]]
        print(f"| {'yes' if m else 'no'} | {statistics.median(walls):.1f} | {', '.join(f'{w:.1f}' for w in walls)} "
              f"| {statistics.median(x[1] for x in runs[m]):.1f} | {max(x[2] for x in runs[m]):.0f} |")
    ratios = [n[0] / y[0] for n, y in zip(runs[0], runs[1])]
    print()
    print(f"speed-up (no / yes wall): median of rounds {statistics.median(ratios):.3f} "
          f"({', '.join(f'{x:.3f}' for x in ratios)})")
    print("results byte-identical in every round (peak RSS: the largest of the rounds)")


if __name__ == "__main__":
    main()
