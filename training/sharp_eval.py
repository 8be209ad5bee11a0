"""Sharp photos left alone (issue 18, step 3): the false-skip rate of the
Swift sharpness score (`mtrnnctl assess`) on the blurred photos of the
large-photo set, and its skip rate on sharp ones, at several thresholds.

    python3 training/sharp_eval.py /work/evals/large --engine .build/release/mtrnnctl \\
        [--extra /work/evals/large_extra] [--sharp-dir DIR ...] [--out training/logs]

Rows: the set's 36 items (blurred, gopro_up: should be deblurred; sharp,
light: should be left alone) and, with --extra, the 60 further renders that
`large_eval.py calibrate --extra 5` cached (the threshold was chosen on these
96 in Python, so this is in-sample). --sharp-dir adds folders of sharp
photos never used for the calibration (held out): their skip rate.
Writes the assess output as JSON lines (assess-large-set.jsonl,
assess-sharp-sets.jsonl) into --out and prints the tables.
"""
import argparse
import json
import os
import subprocess

import numpy as np

THRESHOLDS = (-12.76, -13.0, -13.5, -13.7, -14.0, -14.62)


def assess(engine, paths):
    r = subprocess.run([engine, "assess", "--json"] + paths, check=False, capture_output=True, text=True)
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    if r.returncode != 0:
        print(r.stderr)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set_dir")
    ap.add_argument("--engine", required=True)
    ap.add_argument("--extra", help="the folder of calibrate's cached extra renders")
    ap.add_argument("--sharp-dir", action="append", default=[])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    root = os.path.abspath(args.set_dir)
    items = [(os.path.join(root, it["input"]), it["kind"]) for it in
             json.load(open(os.path.join(root, "manifest.json")))["items"]]
    if args.extra:
        for f in sorted(os.listdir(args.extra)):
            if f.startswith("extra-set") and f.endswith(".json"):
                for row in json.load(open(os.path.join(args.extra, f))):
                    items.append((os.path.join(args.extra, row["file"]), row["kind"]))
    rows = assess(args.engine, [p for p, _ in items])
    kind = dict(items)
    score = {k: np.array([r["sharpness"] for r in rows if kind[r["path"]] in ks])
             for k, ks in (("blurred", ("blurred", "gopro_up")), ("sharp", ("sharp",)), ("light", ("light",)))}
    held = {}
    sharp_rows = []
    for d in args.sharp_dir:
        paths = sorted(os.path.join(d, f) for f in os.listdir(d)
                       if f.lower().endswith((".jpg", ".jpeg", ".png", ".tif", ".tiff")))
        rs = assess(args.engine, paths)
        sharp_rows += rs
        held[os.path.basename(os.path.normpath(d))] = np.array([r["sharpness"] for r in rs])
    print(f"| threshold | false skips (blurred, {len(score['blurred'])}) | sharp left alone ({len(score['sharp'])}) "
          f"| light left alone ({len(score['light'])}) |"
          + "".join(f" {k} ({len(v)}) |" for k, v in held.items()))
    print("|---|---|---|---|" + "---|" * len(held))
    for t in THRESHOLDS:
        line = f"| {t} |"
        for k in ("blurred", "sharp", "light"):
            v = score[k]
            line += f" {100 * np.mean(v > t):.1f} % ({int((v > t).sum())}) |"
        for v in held.values():
            line += f" {100 * np.mean(v > t):.0f} % |"
        print(line)
    secs = [r["seconds"]["assess"] for r in rows + sharp_rows]
    print(f"assess: median {np.median(secs):.2f} s, max {max(secs):.2f} s per photo (after decoding)")
    if args.out:
        with open(os.path.join(args.out, "assess-large-set.jsonl"), "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
        with open(os.path.join(args.out, "assess-sharp-sets.jsonl"), "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in sharp_rows)


if __name__ == "__main__":
    main()
