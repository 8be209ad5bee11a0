#!/usr/bin/env python3
"""Crash-safety harness for mtrnn-watch (issue 7): feeds photos into the inbox
and kills the daemon with SIGKILL at random moments, restarting it each time,
then checks that nothing was lost, half-written or visibly processed twice.

  scripts/crash_harness.py --daemon .build/debug/mtrnn-watch [--photos 500 --kills 200]
      [--pipeline photoio|copy|real] [--weights FILE] [--seed N] [--keep]

Pipelines: photoio (default: PhotoIO decode + encode, no network), copy (the
fake), real (the deblur pipeline; give --weights).

--targeted F: in that share of the runs the daemon kills itself at one step of
a job chosen at random (MTRNN_WATCH_TEST_KILL_AT: after staging, after
encoding, between recording and renaming the result, after renaming, after
archiving), where random kills seldom land. --same-name F: that share of the
photos reuse the name of an earlier one (camera counters repeat), dropped once
the earlier one has left the inbox: each must get its own result (NAME-N.EXT),
none replaced. Prints a summary and a JSON
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
    # temp results: .NAME.mtrnn-tmp.TAG.tmp (DurableFiles.TemporaryName), or the tag-less older form
    if has(os.path.join(root, "outbox"), lambda n: n.startswith(".") and ".mtrnn-tmp" in n): return "encode/fsync/rename"
    if has(os.path.join(root, "state", "work"), lambda n: True): return "decode/process"
    if has(os.path.join(root, "archive"), lambda n: n.startswith(".") and ".mtrnn-tmp" in n): return "archive"
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
    ap.add_argument("--targeted", type=float, default=0.3, help="share of runs killed at a chosen step (see above)")
    ap.add_argument("--same-name", type=float, default=0.15, help="share of photos reusing an earlier name")
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

    photos = {}   # id -> (name, digest, size, data)
    for i in range(a.photos):
        name, data, size = make_photo(rng, i)
        if i > 0 and rng.random() < a.same_name:
            name = photos[rng.randrange(i)][0]
            ext = name.rsplit(".", 1)[1]
            b = io.BytesIO()   # same name, so the same format as the earlier one
            Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3))).save(
                b, {"jpg": "JPEG", "png": "PNG", "tif": "TIFF"}[ext])
            data = b.getvalue()
        photos[i] = (name, hashlib.sha256(data).hexdigest(), size, data)
    pending = list(photos)
    def feed(n):
        for _ in range(min(n, len(pending))):
            # A name still waiting in the inbox is not replaced: the uploader would lose
            # their own photo, not the daemon. It waits for a later feed.
            waiting = set(os.listdir(os.path.join(root, "inbox")))
            ready = [i for i in pending if photos[i][0] not in waiting]
            if not ready: return
            i = ready[0]
            pending.remove(i)
            name, data = photos[i][0], photos[i][3]
            waiting.add(name)
            # Half arrive rsync-style (dot-name, then rename), half by a plain write.
            if rng.random() < 0.5:
                tmp = os.path.join(root, "inbox", "." + name + ".part")
                with open(tmp, "wb") as f: f.write(data)
                os.rename(tmp, os.path.join(root, "inbox", name))
            else:
                with open(os.path.join(root, "inbox", name), "wb") as f: f.write(data)

    phases, exits, targeted = {}, {}, {}
    points = ["staged", "encoded", "recorded", "renamed", "archived"]
    start = time.time()
    for k in range(a.kills):
        feed(-(-len(pending) // (a.kills - k)))  # spread the photos over the cycles
        spawned = time.time()
        run_env = env
        if rng.random() < a.targeted:
            point = rng.choice(points)
            run_env = dict(env, MTRNN_WATCH_TEST_KILL_AT=point, MTRNN_WATCH_TEST_KILL_P="0.5")
        else:
            point = None
        p = subprocess.Popen(args, cwd=root, env=run_env, stdout=log, stderr=log)
        if point:
            try: p.wait(timeout=3)
            except subprocess.TimeoutExpired: pass
            ph = f"targeted: {point}" if p.returncode == -signal.SIGKILL else f"targeted: {point} (not reached)"
            if p.poll() is None: p.send_signal(signal.SIGKILL); p.wait()
            targeted[ph] = targeted.get(ph, 0) + 1
            continue
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
    spawned = time.time()
    p = subprocess.Popen(args, cwd=root, env=env, stdout=log, stderr=log)
    deadline = time.time() + max(120, a.photos * (30 if a.pipeline == "real" else 0.5))
    # Up (a fresh control socket: its SIGTERM handler is in place) before it may be stopped.
    sock = os.path.join(root, "state", "control.sock")
    while time.time() < deadline and p.poll() is None:
        try:
            if os.stat(sock).st_mtime >= spawned - 0.01: break
        except FileNotFoundError: pass
        time.sleep(0.01)
    def visible(d): return [n for n in os.listdir(os.path.join(root, d)) if not n.startswith(".")]
    while time.time() < deadline:
        if pending: feed(len(pending))
        if not pending and not visible("inbox") and len(visible("outbox")) + len([n for n in visible("failed") if not n.endswith(".reason")]) >= a.photos:
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
    # Photos dropped under one name: their results are NAME, NAME-1, ... (never
    # one replacing another), as are their archived originals and failed copies.
    def stem_ext(n):
        stem, ext = n.rsplit(".", 1)
        return stem, ext
    def group_of(n):
        stem, ext = stem_ext(n)
        base = stem.rsplit("-", 1)[0] if "-" in stem and stem.rsplit("-", 1)[1].isdigit() else stem
        return base + "." + ext
    groups = {}
    for i, (name, digest, size, _) in photos.items(): groups.setdefault(name, []).append(i)
    def members(listing): 
        out = {}
        for n in listing:
            if n.endswith(".reason"): continue
            out.setdefault(group_of(n), []).append(n)
        return out
    out_g, arc_g, fail_g = members(outbox), members(archive), members(failed)
    strangers = sorted(set(out_g) - set(groups)) + sorted(set(arc_g) - set(groups))
    if strangers: problems.append(f"strangers in the outbox or archive: {strangers[:5]}")
    done = failed_ok = quarantined = 0
    for name, ids in groups.items():
        outs, arcs, fails = out_g.get(name, []), arc_g.get(name, []), fail_g.get(name, [])
        if len(outs) + len(fails) != len(ids):
            problems.append(f"{name}: {len(ids)} dropped, {len(outs)} results and {len(fails)} in failed/ "
                            f"(lost, or visibly processed twice)")
        if len(arcs) != len(outs): problems.append(f"{name}: {len(outs)} results but {len(arcs)} originals archived")
        sizes = sorted(photos[i][2] for i in ids)
        for o in outs:
            try:
                with Image.open(os.path.join(root, "outbox", o)) as im:
                    im.load()
                    if im.size not in sizes: problems.append(f"{o}: output is {im.size}, inputs {sizes}")
            except Exception as e:
                problems.append(f"{o}: output does not decode ({e})")
        digests = [photos[i][1] for i in ids]
        for o in arcs:
            if hashlib.sha256(open(os.path.join(root, "archive", o), "rb").read()).hexdigest() not in digests:
                problems.append(f"{o}: archived original differs from what was dropped")
        for f in fails:
            rpath = os.path.join(root, "failed", f + ".reason")
            if not os.path.exists(rpath): problems.append(f"{f}: in failed/ without a .reason"); continue
            if "crashed the daemon" in open(rpath, encoding="utf-8", errors="replace").read(): quarantined += 1
        done += len(outs)
        failed_ok += len(fails)
    text = open(os.path.join(root, "daemon.log"), "rb").read().decode("utf-8", "replace")
    deblurred = {}
    for line in text.splitlines():
        if line.startswith("<6>Deblurred "):
            n = line.split(" ")[1]
            deblurred[n] = deblurred.get(n, 0) + 1
    again = sum(1 for n, v in deblurred.items() if v > len(groups.get(n, [])))
    already = text.count("was already deblurred by an earlier run")
    removed_tmp = text.count("Removed an unfinished result")
    summary = {"photos": a.photos, "kills": a.kills, "pipeline": a.pipeline, "seed": a.seed,
               "in_outbox": done, "in_failed": failed_ok, "lost": a.photos - done - failed_ok,
               "quarantined_after_two_kills": quarantined, "same_name_photos": a.photos - len(groups),
               "kill_phases": phases, "targeted_kills": targeted, "early_exits": exits, "final_exit": final_rc,
               "deblurred_again_after_kill": again, "only_filed_after_kill": already,
               "unfinished_results_removed": removed_tmp, "problems": len(problems), "seconds": round(elapsed, 1)}
    for pr in problems[:30]: print("PROBLEM:", pr)
    print(f"crash harness: {a.photos} photos, {a.kills} SIGKILLs ({a.pipeline}): {done} in the outbox, "
          f"{failed_ok} in failed/ ({quarantined} of them after being in progress at two kills), "
          f"{summary['lost']} lost, {len(problems)} problems; {a.photos - len(groups)} photos under a name already used; "
          f"kills by phase {phases}; targeted kills {targeted}; "
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
