"""Validation table for the model card: PSNR and SSIM of the blurred input and
of iterations 1..8, for each start TL 7, 9, 11, 13, on the GoPro validation
frames and on the photo validation set, separately.

    python3 training/evaluate.py WEIGHTS(.pt|.safetensors) [--json OUT] [--markdown]

Validation data (never trained on): GoPro frames 260..299 (centres every 4th
frame, a fixed 384x384 crop each, alternating linear-light and sRGB averaging)
and the ten Kodak validation photos (fixed synthetic camera paths, 256x256).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from export import load_weights  # noqa: E402
from mtrnn_model import MTRNN  # noqa: E402

LEVELS = (7, 9, 11, 13)


def load_model(path):
    m = MTRNN()
    m.load_state_dict(load_weights(path))
    return m.eval().to(memory_format=torch.channels_last)


def _gauss(size=11, sigma=1.5):
    g = torch.exp(-(torch.arange(size) - size // 2) ** 2 / (2 * sigma ** 2))
    g = (g / g.sum()).float()
    return (g[:, None] * g[None, :]).expand(3, 1, size, size).contiguous()


def ssim(a, b):
    """Mean SSIM over RGB channels (Wang et al. 2004: 11x11 Gaussian, sigma 1.5, 0..255)."""
    a, b = a.clamp(0, 255).round().double(), b.double()
    w = _gauss().double()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = F.conv2d(a, w, groups=3), F.conv2d(b, w, groups=3)
    saa = F.conv2d(a * a, w, groups=3) - mu_a ** 2
    sbb = F.conv2d(b * b, w, groups=3) - mu_b ** 2
    sab = F.conv2d(a * b, w, groups=3) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return m.mean(dim=(1, 2, 3))


def eval_sets(seed=2021):
    rng = np.random.default_rng(seed)
    g = data.GoProFrames(split="val")
    _, _, H, W = g.frames.shape
    gl = [g.ladder(c, (H - 384) // 2, (W - 384) // 2, 384, linear=i % 2 == 0)
          for i, c in enumerate(g.centres[::4])]
    p = data.Photos(split="val")
    pl = [data.synth_ladder(img, rng, 256, linear=i % 2 == 0) for i, img in enumerate(p.images)]
    return {"gopro": data.stack(gl), "photos": data.stack(pl)}


@torch.no_grad()
def evaluate(model, sets, max_iter=8, chunk=4):
    out = {}
    for name, lad in sets.items():
        tgt_all = lad[1]
        for s in LEVELS:
            ps = np.zeros((max_iter + 1,))
            ss = np.zeros((max_iter + 1,))
            n = tgt_all.shape[0]
            for i0 in range(0, n, chunk):
                x = lad[s][i0:i0 + chunk].contiguous(memory_format=torch.channels_last)
                tgt = tgt_all[i0:i0 + chunk]
                ps[0] += data.psnr(x, tgt).sum().item()
                ss[0] += ssim(x, tgt).sum().item()
                x_d, f1, f2 = x, None, None
                for it in range(1, max_iter + 1):
                    x_d, f1, f2 = model(x, x_d, f1, f2)
                    ps[it] += data.psnr(x_d, tgt).sum().item()
                    ss[it] += ssim(x_d, tgt).sum().item()
            out[f"{name}/TL{s}"] = {"psnr": (ps / n).round(3).tolist(), "ssim": (ss / n).round(4).tolist(), "n": n}
    return out


def mean_gains(res):
    """Mean PSNR gain at 6 iterations over the start TLs, per set in `res`."""
    return {name: float(np.mean([res[f"{name}/TL{s}"]["psnr"][6] - res[f"{name}/TL{s}"]["psnr"][0] for s in LEVELS]))
            for name in ("gopro", "photos") if f"{name}/TL7" in res}


def markdown(res, max_iter=8):
    head = "| set | start TL | metric | blurred | " + " | ".join(f"it {i}" for i in range(1, max_iter + 1)) + " |"
    lines = [head, "|" + "---|" * (max_iter + 4)]
    for key, r in res.items():
        name, tl = key.split("/")
        for metric, fmt in (("psnr", "{:.2f}"), ("ssim", "{:.4f}")):
            lines.append(f"| {name} | {tl[2:]} | {metric.upper()} | " + " | ".join(fmt.format(v) for v in r[metric]) + " |")
    gains = mean_gains(res)
    lines.append("")
    lines.append("Mean PSNR gain at 6 iterations over TL 7-13: " +
                 ", ".join(f"{k} {v:+.2f} dB" for k, v in gains.items()))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights")
    ap.add_argument("--json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-iter", type=int, default=8)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    res = evaluate(load_model(a.weights), eval_sets(), a.max_iter)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    print(markdown(res, a.max_iter))


if __name__ == "__main__":
    main()
