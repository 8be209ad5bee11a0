"""Packs the training data into a folder small enough to travel to a GPU
machine with the working tree (the device tool carries at most 64 MiB in all,
tracked files included), in the layout data.py reads (point MTRNN_DATA at it).

    python3 training/pack_data.py [--out training/pack] [--budget-mib 28]

* GoPro GOPR0477 frames 1..299 (train and validation, as data.py splits them),
  full resolution: the blur the net learns is measured in pixels, so the
  frames are not downscaled; re-encoded as JPEG at the highest quality that fits.
* Every photo under photos/, long side capped (data.py caps it at 1280 anyway),
  re-encoded as JPEG: a smaller photo puts more of the scene in each crop.
* Of the cross-scene pairs (validation only), only the trainer's fixed
  256x256 crops, losslessly (`cross_scene_crops.npz`, about 2 MiB), so that
  the GPU run validates on them too; the whole frames are evaluated on the
  CPU afterwards.

The GoPro frames get half the budget and the photos the rest; each part
lowers its JPEG quality (and the photos their long side) until it fits.
Prints what it chose. The folder is ignored by git (.gitignore) and is named
in the device tool's `carry` (training/gpu_run.sh says how).
"""
from __future__ import annotations

import argparse
import glob
import io
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402


def encode(path, quality, max_side=None, subsampling=2):
    im = Image.open(path).convert("RGB")
    if max_side and max(im.size) > max_side:
        s = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, subsampling=subsampling, optimize=True)
    return buf.getvalue()


def pack(files, rel, budget, settings, sample=24):
    """Encodes `files` with the first of `settings` (quality, max_side,
    subsampling) whose size, estimated on every len/sample-th file, fits
    `budget` bytes with 3 % to spare; returns {relative path: bytes}, the
    setting and the total."""
    probe = files[::max(1, len(files) // sample)]
    for q, side, sub in settings:
        est = sum(len(encode(f, q, side, sub)) for f in probe) * len(files) / len(probe)
        if est <= 0.97 * budget:
            out = {os.path.splitext(rel(f))[0] + ".jpg": encode(f, q, side, sub) for f in files}
            return out, (q, side, sub), sum(map(len, out.values()))
    raise SystemExit(f"pack: even {settings[-1]} does not fit {budget / 2**20:.1f} MiB")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "pack"))
    ap.add_argument("--budget-mib", type=float, default=30)
    ap.add_argument("--gopro-share", type=float, default=0.5, help="part of the budget for the GoPro frames")
    a = ap.parse_args(argv)
    budget = a.budget_mib * 2**20
    root = data.DATA
    rel = lambda f: os.path.relpath(f, root)  # noqa: E731

    gopro = sorted(glob.glob(os.path.join(root, data.GOPRO_DIR, "*.jpg")) + glob.glob(os.path.join(root, data.GOPRO_DIR, "*.png")))
    photos = sorted(f for f in glob.glob(os.path.join(root, "photos", "*", "*"))
                    if f.lower().endswith((".jpg", ".jpeg", ".png")))
    if not gopro or not photos:
        raise SystemExit(f"pack: no GoPro frames or photos under {root} (set MTRNN_DATA)")
    g, gset, gsize = pack(gopro, rel, a.gopro_share * budget,
                          [(q, None, sub) for q, sub in ((90, 0), (85, 0), (90, 2), (85, 2), (80, 2), (75, 2))])
    p, pset, psize = pack(photos, rel, budget - gsize,
                          [(q, side, 2) for side in (1280, 1024, 896, 768, 640, 512) for q in (90, 85, 80)])
    if os.path.isdir(a.out):
        shutil.rmtree(a.out)
    for name, b in {**g, **p}.items():
        dst = os.path.join(a.out, name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as f:
            f.write(b)
    blur, sharp = data.cross_scene_crops(256, root)
    np.savez_compressed(os.path.join(a.out, data.CROSS_SCENE_CROPS),
                        blur=blur.round().to(torch.uint8).numpy(), sharp=sharp.round().to(torch.uint8).numpy())
    with open(os.path.join(a.out, "PACK.txt"), "w") as f:
        f.write(f"packed from {os.path.abspath(root)} by training/pack_data.py\n"
                f"gopro: {len(g)} frames, JPEG q{gset[0]} {'4:2:0' if gset[2] else '4:4:4'}, {gsize / 2**20:.1f} MiB\n"
                f"photos: {len(p)} files, JPEG q{pset[0]} 4:2:0, long side <= {pset[1]}, {psize / 2**20:.1f} MiB\n")
    print(open(os.path.join(a.out, "PACK.txt")).read(), end="")
    crops = os.path.getsize(os.path.join(a.out, data.CROSS_SCENE_CROPS))
    print(f"cross-scene crops: {crops / 2**20:.1f} MiB\ntotal {(gsize + psize + crops) / 2**20:.1f} MiB in {a.out}")


if __name__ == "__main__":
    main()
