"""Coarse to fine against the upsampled correction (issue 18, step 2: "measure
which works better").

Upsampled correction (what `--scale S` does): the network runs once on the
photo averaged down S times; its correction (output - input) is upsampled
(bicubic) and added to the full-size photo.

Coarse to fine: the same at S, then that result is fed to the next finer
level (S -> ceil(S/2) -> ... -> 1), each level with `--scale` of its own, so
the last pass runs at full size and sees what the coarser levels left.

For each blurred item of the large-photo set (training/LARGE_EVAL.md) whose
scale from the blur estimate is above 1 (the `auto` rule on the whole photo,
read from `mtrnnctl assess --json` output), a centred crop as in
`large_eval.py run --crop`, then both methods with the same engine and
iterations. Prints a table and writes JSON.

    python3 training/coarse_to_fine.py /work/evals/large --engine .build/release/mtrnnctl \\
        --assess /tmp/assess_swift.jsonl --crop 1024 --json training/logs/coarse-to-fine.json
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from large_eval import load_rgb, psnr  # noqa: E402


def engine(exe, src, dst, scale, iterations, extra):
    cmd = [exe, "deblur", src, "-o", dst, "--overwrite", "--iterations", str(iterations),
           "--scale", str(scale)] + extra
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def levels(S):
    out = [S]
    while out[-1] > 1:
        out.append(math.ceil(out[-1] / 2))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set_dir")
    ap.add_argument("--engine", required=True)
    ap.add_argument("--assess", required=True, help="mtrnnctl assess --json output over the set's inputs")
    ap.add_argument("--crop", type=int, default=1024)
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--engine-args", default="--stop-below 0")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    out = os.path.abspath(args.set_dir)
    items = json.load(open(os.path.join(out, "manifest.json")))["items"]
    picks = {}
    for line in open(args.assess):
        r = json.loads(line)
        picks[os.path.abspath(r["path"])] = r
    extra = args.engine_args.split()
    rows = []
    with tempfile.TemporaryDirectory(prefix="c2f_") as tmp:
        for it in items:
            if it["kind"] not in ("blurred", "gopro_up"):
                continue
            a = picks.get(os.path.join(out, it["input"]))
            if a is None or a["suggested_scale"] <= 1:
                continue
            S = a["suggested_scale"]
            full = np.asarray(load_rgb(os.path.join(out, it["input"])))
            ref = np.asarray(load_rgb(os.path.join(out, it["reference"])))
            H, W = full.shape[:2]
            c = min(args.crop, H, W)
            y, x = (H - c) // 2, (W - c) // 2
            full, ref = full[y:y + c, x:x + c].copy(), ref[y:y + c, x:x + c].copy()
            src = os.path.join(tmp, "crop.png")
            Image.fromarray(full).save(src)
            # Upsampled correction: one pass at S.
            one = os.path.join(tmp, "one.png")
            t_one = engine(args.engine, src, one, S, args.iterations, extra)
            # Coarse to fine: S, ceil(S/2), ..., 1, each fed the previous result.
            cur, t_c2f = src, 0.0
            for k, s in enumerate(levels(S)):
                nxt = os.path.join(tmp, f"c2f{k}.png")
                t_c2f += engine(args.engine, cur, nxt, s, args.iterations, extra)
                cur = nxt
            p_in = psnr(full, ref)
            row = {"id": it["id"], "kind": it["kind"], "extent_px": it["extent_px"], "scale": S,
                   "levels": levels(S), "psnr_input": round(p_in, 3),
                   "gain_correction_db": round(psnr(np.asarray(load_rgb(one)), ref) - p_in, 3),
                   "gain_coarse_to_fine_db": round(psnr(np.asarray(load_rgb(cur)), ref) - p_in, 3),
                   "seconds_correction": round(t_one, 1), "seconds_coarse_to_fine": round(t_c2f, 1)}
            print(f"{it['id']}: S={S} levels {row['levels']}: correction {row['gain_correction_db']:+.3f} dB "
                  f"({row['seconds_correction']} s), coarse to fine {row['gain_coarse_to_fine_db']:+.3f} dB "
                  f"({row['seconds_coarse_to_fine']} s)", flush=True)
            rows.append(row)
    summary = {}
    for k in ("blurred", "gopro_up", "all"):
        rs = [r for r in rows if k == "all" or r["kind"] == k]
        if rs:
            summary[k] = {"n": len(rs),
                          "gain_correction_db": round(float(np.mean([r["gain_correction_db"] for r in rs])), 3),
                          "gain_coarse_to_fine_db": round(float(np.mean([r["gain_coarse_to_fine_db"] for r in rs])), 3),
                          "seconds_correction": round(sum(r["seconds_correction"] for r in rs), 1),
                          "seconds_coarse_to_fine": round(sum(r["seconds_coarse_to_fine"] for r in rs), 1)}
    print(json.dumps(summary, indent=1))
    with open(args.json, "w") as fh:
        json.dump({"engine": args.engine, "crop": args.crop, "iterations": args.iterations,
                   "engine_args": args.engine_args, "summary": summary, "items": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
