#!/usr/bin/env python3
"""What adaptive work costs and saves (issue 18 step 4): runs `mtrnnctl deblur`
on the cross-scene GoPro pairs (real blur of a scene never trained on;
validation only) with each setting given, and prints PSNR gain and time per
pair and on average, as a JSON line and a table.

  python3 training/adaptive_eval.py --engine .build/release/mtrnnctl \
      --setting plain= --setting "flat2=--skip-flat 2" --setting "stop0.5=--stop-below 0.5" \
      [--pairs DIR] [--iterations 6] [--json OUT]

Each setting is NAME=ARGS (extra mtrnnctl deblur arguments; leading
VAR=VALUE words set the engine's environment instead, e.g.
"bf16=MTRNN_WINOGRAD_GEMM=bf16 --stop-below 0"). Settings run in turns, pair
by pair, so that load from other work falls on all alike."""
import argparse, glob, json, os, re, shlex, subprocess, sys, tempfile, time
import numpy as np
from PIL import Image


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True)
    ap.add_argument("--weights", default=os.path.join(os.path.dirname(__file__), "..", "Models", "mtrnn.safetensors"))
    ap.add_argument("--pairs", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "gopro_cross_scene"))
    ap.add_argument("--setting", action="append", required=True)
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--json")
    a = ap.parse_args()
    settings = []
    for s in a.setting:
        name, words = s.split("=", 1)[0], shlex.split(s.split("=", 1)[1])
        env = {}
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            k, v = words.pop(0).split("=", 1)
            env[k] = v
        settings.append((name, words, env))
    blurs = sorted(glob.glob(os.path.join(a.pairs, "*_blur.png")))
    res = {name: [] for name, _, _ in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for src in blurs:
            sharp = np.asarray(Image.open(src.replace("_blur.png", "_sharp.png")).convert("RGB"))
            blur = np.asarray(Image.open(src).convert("RGB"))
            base = psnr(blur, sharp)
            for name, extra, env in settings:
                dst = os.path.join(tmp, f"{name}.png")
                t = time.time()
                r = subprocess.run([a.engine, "deblur", "--sharp-photos", "process", "--weights", a.weights, "--iterations", str(a.iterations),
                                    "--overwrite", "-o", dst, src] + extra, capture_output=True, text=True,
                                   env={**os.environ, **env})
                secs = time.time() - t
                if r.returncode != 0:
                    print(r.stderr, file=sys.stderr); return 1
                out = np.asarray(Image.open(dst).convert("RGB"))
                m = re.search(r"([0-9.]+) iterations per tile", r.stdout + r.stderr)
                fl = re.search(r"(\d+) flat tiles", r.stdout + r.stderr)
                res[name].append({"pair": os.path.basename(src), "input_db": round(base, 3),
                                  "gain_db": round(psnr(out, sharp) - base, 3), "seconds": round(secs, 2),
                                  "iterations_per_tile": float(m.group(1)) if m else float(a.iterations),
                                  "flat_tiles": int(fl.group(1)) if fl else 0})
                print(name, res[name][-1], flush=True)
    summary = {name: {"mean_gain_db": round(float(np.mean([r["gain_db"] for r in rows])), 3),
                      "seconds": round(float(np.sum([r["seconds"] for r in rows])), 1),
                      "iterations_per_tile": round(float(np.mean([r["iterations_per_tile"] for r in rows])), 2),
                      "flat_tiles": int(np.sum([r["flat_tiles"] for r in rows]))}
               for name, rows in res.items()}
    first = settings[0][0]
    print(f"| setting | mean gain (dB) | vs {first} (dB) | seconds (sum) | time vs {first} | iterations/tile | flat tiles |")
    print("|---|---|---|---|---|---|---|")
    for name, s in summary.items():
        print(f"| {name} | {s['mean_gain_db']:+.3f} | {s['mean_gain_db'] - summary[first]['mean_gain_db']:+.3f} | "
              f"{s['seconds']:.1f} | {s['seconds'] / summary[first]['seconds']:.2f} | {s['iterations_per_tile']} | {s['flat_tiles']} |")
    out = {"pairs": [os.path.basename(b) for b in blurs], "iterations": a.iterations, "summary": summary, "runs": res}
    print("adaptive-eval:", json.dumps(summary))
    if a.json:
        with open(a.json, "w") as f: json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
