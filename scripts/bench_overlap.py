#!/usr/bin/env python3
"""A batch deblurred one photo at a time against the same batch with the
stages overlapped (issue 21): `mtrnnctl deblur FOLDER` with
MTRNN_BATCH_OVERLAP=0 and =1, alternating, several rounds, in one run.

    python3 scripts/bench_overlap.py --mtrnnctl .build/release/mtrnnctl \\
        [--photos 10] [--size 4000x3000] [--sharp-every 3] [--rounds 3] \\
        [--weights Models/mtrnn.safetensors] [--work DIR] [-- extra deblur options]

The photos: scripts/make-test-photo.py (photo-like, JPEG q95), each with
its own seed; every --sharp-every-th is left sharp, the others get a straight
motion blur in linear light, horizontal or vertical, of 40 to 60 px (what
hand shake does to a 12 MP photo), so that `--scale auto` (passed here) picks
scale 2 and the default `sharp_photos = copy` copies the sharp ones. (Longer
blurs of these synthetic photos, 80-100 px, score as sharp: their blur is
estimated with confidence 0.9, but the spectral evidence stays low.)
The settings are otherwise the defaults (stop_below 0.5), with the weights
given (default the shipped Models/mtrnn.safetensors).

Each round runs both modes (the order alternating from round to round) into
their own output folders under /usr/bin/time -v: wall, CPU (user + system)
and peak RSS; the outputs of the two modes are compared byte for byte every
round (a difference fails the run, exit 1). The sequential runs' --json
per-stage seconds (decode, score, network, encode, write) give the
prediction: with the stages overlapped, a photo's decode and score hide
behind the previous photo's network and its encode and write behind the
next one's, as far as the two cores allow (the network uses both).
Prints the table for BENCHMARKS.md. Needs numpy and Pillow.
"""
import argparse
import filecmp
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
STAGES = ["decode", "score", "network", "encode", "write"]


def load_maker():
    spec = importlib.util.spec_from_file_location("make_test_photo", os.path.join(HERE, "make-test-photo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def motion_blur(img, length, vertical):
    """A straight box blur of `length` px in linear light (sRGB curve undone
    and redone), along x or y, edges clamped; 8-bit sRGB out."""
    a = np.asarray(img, dtype=np.float32) / 255.0
    lin = np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4).astype(np.float32)
    del a
    if vertical:
        lin = lin.transpose(1, 0, 2)
    h, w, _ = lin.shape
    half = length // 2
    pad = np.concatenate([np.repeat(lin[:, :1], half + 1, 1), lin, np.repeat(lin[:, -1:], length - half, 1)], 1)
    del lin
    csum = np.cumsum(pad, axis=1, dtype=np.float64)
    del pad
    out = ((csum[:, length:length + w] - csum[:, :w]) / length).astype(np.float32)
    del csum
    if vertical:
        out = out.transpose(1, 0, 2)
    enc = np.where(out <= 0.0031308, out * 12.92, 1.055 * np.maximum(out, 0) ** (1 / 2.4) - 0.055)
    return Image.fromarray(np.clip(np.round(enc * 255), 0, 255).astype(np.uint8), "RGB")


def make_set(folder, count, size, sharp_every):
    maker = load_maker()
    w, h = map(int, size.lower().split("x"))
    lengths = [40, 50, 60, 45]
    os.makedirs(folder, exist_ok=True)
    made = []
    for i in range(count):
        sharp = sharp_every > 0 and i % sharp_every == sharp_every - 1
        name = f"photo{i:02d}-" + ("sharp" if sharp else f"blur{lengths[i % 4]}") + ".jpg"
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            img = maker.make(w, h, seed=100 + i)
            if not sharp:
                img = motion_blur(img, lengths[i % 4], vertical=i % 2 == 1)
            img.save(path, quality=95)
        made.append(name)
    return made


def timed(cmd, env):
    """Runs `cmd` under /usr/bin/time -v: (wall s, cpu s, peak RSS MB, stdout, status)."""
    t0 = time.monotonic()
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    fields = {}
    for line in r.stderr.splitlines():
        key, _, value = line.strip().rpartition(": ")
        fields[key] = value
    try:
        cpu = float(fields["User time (seconds)"]) + float(fields["System time (seconds)"])
        rss = int(fields["Maximum resident set size (kbytes)"]) / 1024
    except KeyError:
        cpu, rss = float("nan"), float("nan")
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-3000:])
    return wall, cpu, rss, r.stdout, r.returncode


def same_outputs(a, b):
    names_a, names_b = sorted(os.listdir(a)), sorted(os.listdir(b))
    if names_a != names_b:
        return f"different files: {names_a} / {names_b}"
    for n in names_a:
        if not filecmp.cmp(os.path.join(a, n), os.path.join(b, n), shallow=False):
            return f"{n} differs"
    return None


def add_photo_set_options(ap, photos, rounds):
    """The options of the photo set and the rounds (this script's and bench_daemon_overlap.py's)."""
    ap.add_argument("--weights", default=os.path.join(HERE, "..", "Models", "mtrnn.safetensors"))
    ap.add_argument("--photos", type=int, default=photos)
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--sharp-every", type=int, default=3, help="every Nth photo is sharp (0: none)")
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--work", help="keep the photos and outputs here (default: a temporary folder, removed)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mtrnnctl", required=True)
    add_photo_set_options(ap, photos=10, rounds=3)
    ap.add_argument("extra", nargs="*", help="more mtrnnctl deblur options (after --)")
    a = ap.parse_args()

    tmp = None if a.work else tempfile.TemporaryDirectory(prefix="bench-overlap-")
    work = a.work or tmp.name
    src = os.path.join(work, "in")
    print(f"bench-overlap: making {a.photos} photos of {a.size} in {src}", file=sys.stderr)
    names = make_set(src, a.photos, a.size, a.sharp_every)

    base = ["deblur", src, "--json", "--overwrite", "--weights", a.weights, "--scale", "auto"] + a.extra
    runs = {0: [], 1: []}
    stage_rows = {0: [], 1: []}
    for r in range(a.rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for mode in order:
            out = os.path.join(work, f"out{mode}")
            os.makedirs(out, exist_ok=True)
            env = dict(os.environ, MTRNN_BATCH_OVERLAP=str(mode))
            wall, cpu, rss, stdout, status = timed([a.mtrnnctl] + base + ["--output-dir", out], env)
            rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
            with open(os.path.join(work, f"round{r + 1}-mode{mode}.jsonl"), "w") as f:
                f.write(stdout)
            runs[mode].append((wall, cpu, rss))
            stage_rows[mode].append(rows)
            label = "overlapped" if mode else "sequential"
            print(f"round {r + 1}/{a.rounds} {label}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss:.0f} MB, "
                  f"exit {status}", file=sys.stderr)
            if status != 0:
                sys.exit(f"bench-overlap: mtrnnctl exited {status}")
        problem = same_outputs(os.path.join(work, "out0"), os.path.join(work, "out1"))
        if problem:
            sys.exit(f"bench-overlap: round {r + 1}: the outputs differ: {problem}")
        if [row["input"] for row in stage_rows[0][-1]] != [row["input"] for row in stage_rows[1][-1]]:
            sys.exit("bench-overlap: the --json lines came in another order")

    # Per photo, each stage's median over the sequential rounds (and the overlapped ones).
    def stage_medians(mode):
        rounds = stage_rows[mode]
        return [{s: statistics.median((rows[i].get("stage_seconds") or {}).get(s) or 0 for rows in rounds)
                 for s in STAGES} for i in range(len(rounds[0]))]
    seq_stages, ovl_stages = stage_medians(0), stage_medians(1)
    per_photo = [(os.path.basename(row["input"]), row["status"], st) for row, st in zip(stage_rows[0][0], seq_stages)]
    total = {s: sum(st[s] for st in seq_stages) for s in STAGES}
    ovl_total = {s: sum(st[s] for st in ovl_stages) for s in STAGES}

    # Per round: the wall, the network's share of it (the network stages run
    # one after another on the main thread in both modes) and what is left:
    # the time the network was not running ("exposed"), which overlapping
    # is to shrink.
    def summary(mode):
        walls = [x[0] for x in runs[mode]]
        nets = [sum((row.get("stage_seconds") or {}).get("network") or 0 for row in rows) for rows in stage_rows[mode]]
        return {"wall": walls, "network": nets, "exposed": [w - n for w, n in zip(walls, nets)],
                "cpu": [x[1] for x in runs[mode]], "rss": [x[2] for x in runs[mode]]}
    sm = {m: summary(m) for m in (0, 1)}
    med = {m: {k: statistics.median(v) for k, v in sm[m].items()} for m in (0, 1)}

    # The prediction, from the sequential stages: with free cores, the
    # decode + score of every photo but the first and the encode + write of
    # every photo but the last hide behind the network (it is far longer
    # than they are); on two cores, which the network fills, their CPU
    # (not the write's: it waits on the disk) is taken from the network.
    d = [st["decode"] + st["score"] for st in seq_stages]
    e = [st["encode"] + st["write"] for st in seq_stages]
    hidden = sum(d[1:]) + sum(e[:-1])
    taken = (sum(d[1:]) + sum(st["encode"] for st in seq_stages[:-1])) / 2
    seq_wall = med[0]["wall"]
    free = seq_wall - hidden
    two_cores = seq_wall - hidden + taken

    print()
    print(f"{a.photos} photos of {a.size} ({sum(1 for p in per_photo if p[1] == 'deblurred')} deblurred, "
          f"{sum(1 for p in per_photo if p[1] != 'deblurred')} sharp), {a.rounds} rounds, "
          f"weights {os.path.basename(a.weights)}, options: {' '.join(['--scale', 'auto'] + a.extra)}")
    print()
    print("Seconds per stage, one photo at a time (median of the rounds):")
    print()
    print("| photo | status | decode | score | network | encode | write |")
    print("|---|---|---|---|---|---|---|")
    for name, status, stages in per_photo:
        print(f"| {name} | {status} | " + " | ".join(f"{stages[s]:.2f}" for s in STAGES) + " |")
    print(f"| **sum** | | " + " | ".join(f"**{total[s]:.2f}**" for s in STAGES) + " |")
    print(f"| sum, overlapped | | " + " | ".join(f"{ovl_total[s]:.2f}" for s in STAGES) + " |")
    print()
    share = {s: 100 * total[s] / seq_wall for s in STAGES}
    print(f"of the sequential wall ({seq_wall:.1f} s): " + ", ".join(f"{s} {share[s]:.1f} %" for s in STAGES))
    print()
    print("| mode | wall s | rounds | network s | not in the network s | CPU s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for m, label in ((0, "sequential (MTRNN_BATCH_OVERLAP=0)"), (1, "overlapped (default)")):
        walls = ", ".join(f"{x:.1f}" for x in sm[m]["wall"])
        print(f"| {label} | {med[m]['wall']:.1f} | {walls} | {med[m]['network']:.1f} | {med[m]['exposed']:.1f} "
              f"| {med[m]['cpu']:.1f} | {med[m]['rss']:.0f} |")
    ratios = [s_ / o for s_, o in zip(sm[0]["wall"], sm[1]["wall"])]
    print()
    print("(medians of the rounds; 'not in the network': the wall less the network stages, which run one after")
    print("another on the main thread in both modes: start, weights, and whatever of decode, score, encode and")
    print("write the network did not hide)")
    print()
    print(f"speed-up (sequential / overlapped wall): median of rounds {statistics.median(ratios):.3f} "
          f"({', '.join(f'{x:.3f}' for x in ratios)}); of medians {seq_wall / med[1]['wall']:.3f}")
    print(f"predicted from the sequential stages: {hidden:.1f} s hidden; wall {free:.1f} s with free cores "
          f"(speed-up {seq_wall / free:.3f}), {two_cores:.1f} s on two cores the network fills "
          f"(speed-up {seq_wall / two_cores:.3f})")
    print("outputs byte-identical in every round; --json lines in the same order")


if __name__ == "__main__":
    main()
