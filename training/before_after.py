"""README figure: blurred | shipped model (6 iterations) | sharp, for a GoPro
validation crop and a validation photo, with the PSNR of each.

    python3 training/before_after.py Models/mtrnn.safetensors docs/before-after.png
"""
from __future__ import annotations

import sys

import numpy as np
import torch
from PIL import Image

import data
from evaluate import load_model


def main(weights, out):
    torch.set_num_threads(2)
    m = load_model(weights)
    g = data.GoProFrames(split="val")
    p = data.Photos(split="val")
    rng = np.random.default_rng(3)
    ladders = [g.ladder(g.centres[14], 250, 560, 256, linear=True), data.synth_ladder(p.images[2], rng, 256, True)]
    rows = []
    for lad in ladders:
        x, sharp = lad[11][None], lad[1][None]
        with torch.no_grad():
            y = m.run(x, 6).clamp(0, 255).round()
        print(f"blurred {data.psnr(x, sharp).item():.2f} dB -> deblurred {data.psnr(y, sharp).item():.2f} dB")
        rows.append(torch.cat([x[0], y[0], sharp[0]], 2))
    img = torch.cat(rows, 1).permute(1, 2, 0).byte().numpy()
    Image.fromarray(img).save(out, optimize=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
