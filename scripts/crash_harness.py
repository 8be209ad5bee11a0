#!/usr/bin/env python3
"""Crash-safety harness for mtrnn-watch (issue 7): feeds photos into the inbox
and kills the daemon with SIGKILL at random moments, restarting it each time,
then checks that nothing was lost, half-written or visibly processed twice.

  scripts/crash_harness.py --daemon .build/debug/mtrnn-watch [--photos 500 --kills 200]
      [--pipeline photoio|copy|real] [--weights FILE] [--seed N] [--keep]

Pipelines: photoio (default: PhotoIO decode + encode, no network), copy (the
fake), real (the deblur pipeline; give --weights). Prints a summary and a JSON
line starting with "crash-harness:" (the figures in docs/RELIABILITY.md); exits
1 if any check fails. Needs Pillow to make and decode the photos."""
import argparse, hashlib, io, json, os, random, shutil, signal, subprocess, sys, tempfile, time
from PIL import Image

def make_photo(rng, i):
    w, h = rng.choice([(48, 32), (64, 48), (33, 17), (80, 60)])
    im = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
    px = im.load()
    for _ in range(40):
        px[rng.randrange(w), rng.randrange(h)] = tuple(rng.randrange(256) for _ in range(3))
    kind = ["jpg", "png", "tif"][i % 3]
    b = io.BytesIO()
    im.save(b, {"jpg": "JPEG", "png": "PNG", "tif": "TIFF"}[kind], **({"quality": 90} if kind == "jpg" else {}))
    return f"IMG_{i:04d}.{kind}", b.getvalue(), (w, h)

def phase(root):
    """What the daemon was doing at the kill, from what lies on disk."""
    def has(d, pred):
        try: return any(pred(n) for n in os.listdir(d))
        except FileNotFoundError: return False
    if has(os.path.join(root, "outbox"), lambda n: n.endswith(".mtrnn-tmp")): return "encode/fsync/rename"
    if has(os.path.join(root, "state", "work"), lambda n: True): return "decode/process"
    if has(os.path.join(root, "archive"), lambda n: n.endswith(".mtrnn-tmp")): return "archive"
    inbox = set(n for n in os.listdir(os.path.join(root, "inbox")) if not n.startswith("."))
    if inbox & set(os.listdir(os.path.join(root, "outbox"))): return "archive"
    return "idle/start-up" if not inbox else "queued/settling"

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--photos", type=int, default=500)
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--pipeline", default="photoio", choices=["photoio", "copy", "real"])
    ap.add_argument("--weights")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--max-delay", type=float, default=0.4, help="longest run before a kill (s)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    root = tempfile.mkdtemp(prefix="mtrnn-crash-")
    for d in ["inbox", "outbox", "archive", "failed", "state"]: os.mkdir(os.path.join(root, d))
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM", "RUNTIME_DIRECTORY")}
    args = [os.path.abspath(a.daemon), "--settle", "0.05"]
    if a.pipeline == "real":
        env.pop("MTRNN_WATCH_TEST_PROCESSOR", None)
        if a.weights: args += ["--set", f"weights={os.path.abspath(a.weights)}"]
    else:
        env["MTRNN_WATCH_TEST_PROCESSOR"] = "photoio" if a.pipeline == "photoio" else "copy:0.02"
    log = open(os.path.join(root, "daemon.log"), "ab")

    photos = {}
    for i in range(a.photos):
        name, data, size = make_photo(rng, i)
        photos[name] = (hashlib.sha256(data).hexdigest(), size, data)
    pending = list(photos)
    def feed(n):
        for _ in range(min(n, len(pending))):
            name = pending.pop(0)
            # Half arrive rsync-style (dot-name, then rename), half by a plain write.
            if rng.random() < 0.5:
                tmp = os.path.join(root, "inbox", "." + name + ".part")
                with open(tmp, "wb") as f: f.write(photos[name][2])
                os.rename(tmp, os.path.join(root, "inbox", name))
            else:
                with open(os.path.join(root, "inbox", name), "wb") as f: f.write(photos[name][2])

    phases, exits = {}, {}
    start = time.time()
    for k in range(a.kills):
        feed(-(-len(pending) // (a.kills - k)))  # spread the photos over the cycles
        spawned = time.time()
        p = subprocess.Popen(args, cwd=root, env=env, stdout=log, stderr=log)
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0.0, 0.3))  # during start-up (scan, temp clean-up, ledger)
        else:
            # Once it answers (a fresh control socket), at a random moment of its work.
            sock = os.path.join(root, "state", "control.sock")
            while time.time() - spawned < 20 and p.poll() is None:
                try:
                    if os.stat(sock).st_mtime >= spawned - 0.01: break
                except FileNotFoundError: pass
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, a.max_delay))
        ph = phase(root)
        if p.poll() is not None:
            exits[p.returncode] = exits.get(p.returncode, 0) + 1
            ph = "exited by itself"
        else:
            p.send_signal(signal.SIGKILL)
            p.wait()
        phases[ph] = phases.get(ph, 0) + 1
    feed(len(pending))
    # The last run: let it finish everything, then stop it politely.
    p = subprocess.Popen(args, cwd=root, env=env, stdout=log, stderr=log)
    deadline = time.time() + max(120, a.photos * (30 if a.pipeline == "real" else 0.5))
    def visible(d): return [n for n in os.listdir(os.path.join(root, d)) if not n.startswith(".")]
    while time.time() < deadline:
        if not visible("inbox") and len(visible("outbox")) + len([n for n in visible("failed") if not n.endswith(".reason")]) >= a.photos:
            break
        time.sleep(0.2)
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    try: final_rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired: p.kill(); final_rc = "hung"
    elapsed = time.time() - start
    log.close()

    problems = []
    outbox, archive, failed, inbox = visible("outbox"), visible("archive"), visible("failed"), visible("inbox")
    hidden = [os.path.join(d, n) for d in ("outbox", "archive", "failed") for n in os.listdir(os.path.join(root, d)) if n.startswith(".")]
    if hidden: problems.append(f"left-over temporary files: {hidden[:5]}")
    if inbox: problems.append(f"still in the inbox: {inbox[:5]}")
    extra = sorted(set(outbox) - set(photos)) + sorted(set(archive) - set(photos))
    if extra: problems.append(f"duplicates or strangers (processed twice visibly?): {extra[:5]}")
    done = failed_ok = 0
    for name, (digest, size, _) in photos.items():
        if name in outbox:
            try:
                with Image.open(os.path.join(root, "outbox", name)) as im:
                    im.load()
                    if im.size != size: problems.append(f"{name}: output is {im.size}, input {size}")
            except Exception as e:
                problems.append(f"{name}: output does not decode ({e})")
            if name not in archive: problems.append(f"{name}: in the outbox but its original is not archived")
            elif hashlib.sha256(open(os.path.join(root, "archive", name), "rb").read()).hexdigest() != digest:
                problems.append(f"{name}: archived original differs from what was dropped")
            done += 1
        elif name in failed:
            if not os.path.exists(os.path.join(root, "failed", name + ".reason")): problems.append(f"{name}: in failed/ without a .reason")
            failed_ok += 1
        else:
            problems.append(f"{name}: lost (neither in the outbox nor in failed/)")
    text = open(os.path.join(root, "daemon.log"), "rb").read().decode("utf-8", "replace")
    deblurred = {}
    for line in text.splitlines():
        if line.startswith("<6>Deblurred "):
            n = line.split(" ")[1]
            deblurred[n] = deblurred.get(n, 0) + 1
    again = sum(1 for v in deblurred.values() if v > 1)
    already = text.count("was already deblurred by an earlier run")
    removed_tmp = text.count("Removed an unfinished result")
    summary = {"photos": a.photos, "kills": a.kills, "pipeline": a.pipeline, "seed": a.seed,
               "in_outbox": done, "in_failed": failed_ok, "lost": a.photos - done - failed_ok,
               "kill_phases": phases, "early_exits": exits, "final_exit": final_rc,
               "deblurred_again_after_kill": again, "only_filed_after_kill": already,
               "unfinished_results_removed": removed_tmp, "problems": len(problems), "seconds": round(elapsed, 1)}
    for pr in problems[:30]: print("PROBLEM:", pr)
    print(f"crash harness: {a.photos} photos, {a.kills} SIGKILLs ({a.pipeline}): {done} in the outbox, "
          f"{failed_ok} in failed/, {summary['lost']} lost, {len(problems)} problems; kills by phase {phases}; "
          f"{again} photos deblurred again after a kill (same name, invisible), {already} only filed, "
          f"{removed_tmp} unfinished results removed at start; {elapsed:.0f} s")
    print("crash-harness:", json.dumps(summary))
    if problems or final_rc != 0:
        print(f"kept {root} for inspection (daemon.log inside)")
        return 1
    if not a.keep: shutil.rmtree(root)
    else: print(f"kept {root}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
