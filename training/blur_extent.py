"""How long is the blur? Measures the blur extent (pixels the scene moves
during the exposure) of the training ladders and of the cross-scene pairs, so
that synthetic blur can be matched to what users have (issue 15, item 3).

    python3 training/blur_extent.py [--json OUT]

* GoPro GOPR0477 (training scene): the global shift between the first and last
  sub-frame of a TL 13 window (12 frame intervals), by phase correlation on
  the whole frame, at 20 centres; TL N's extent is that x (N - 1) / 12.
* Cross-scene pairs (GOPR0374, 8 or 10 averaged frames): the straight-line
  blur that best explains the pair: the length L and angle of a line kernel
  that, applied to the sharp frame, comes closest (PSNR) to the blurred one.
  Real motion is not a straight line, so this is a lower bound of the path.
* Synthetic photo ladders (data.synth_ladder): the camera path's end-to-end
  extent over TL 13 for 200 drawn paths.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402


def grey(t):  # [3,H,W] 0..255 -> [H,W] float64
    return (0.299 * t[0] + 0.587 * t[1] + 0.114 * t[2]).double()


def phase_shift(a, b):
    """Global translation from a to b (pixels), by phase correlation."""
    fa, fb = torch.fft.fft2(a - a.mean()), torch.fft.fft2(b - b.mean())
    r = fa.conj() * fb
    c = torch.fft.ifft2(r / r.abs().clamp_min(1e-9)).real
    i = int(torch.argmax(c))
    H, W = c.shape
    y, x = divmod(i, W)
    return (y if y <= H // 2 else y - H), (x if x <= W // 2 else x - W)


def line_kernel(length, angle, size):
    k = torch.zeros(size, size, dtype=torch.float64)
    c = size // 2
    n = max(2, int(math.ceil(length)) * 4)
    for t in np.linspace(-length / 2, length / 2, n):
        x, y = c + t * math.cos(angle), c + t * math.sin(angle)
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                if 0 <= y0 + dy < size and 0 <= x0 + dx < size:
                    k[y0 + dy, x0 + dx] += wy * wx
    return k / k.sum()


def best_line_blur(blur, sharp, lengths=range(0, 61, 2), angles=range(0, 180, 10)):
    b, s = grey(blur), grey(sharp)
    H, W = s.shape
    size = 65
    S = torch.fft.rfft2(torch.nn.functional.pad(s[None, None], (size, size, size, size), mode="reflect")[0, 0])
    best = (-1.0, 0, 0)
    for L in lengths:
        for ang in (angles if L > 0 else [0]):
            k = line_kernel(L, math.radians(ang), size)
            kp = torch.zeros(H + 2 * size, W + 2 * size, dtype=torch.float64)
            kp[:size, :size] = k
            kp = torch.roll(kp, (-(size // 2), -(size // 2)), (0, 1))
            out = torch.fft.irfft2(S * torch.fft.rfft2(kp), s=kp.shape)[size:size + H, size:size + W]
            mse = float(((out - b) ** 2)[size:-size, size:-size].mean())
            p = 10 * math.log10(255 ** 2 / max(mse, 1e-10))
            if p > best[0]:
                best = (p, L, ang)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    out = {}

    g = data.GoProFrames(split="train")
    shifts = []
    for c in g.centres[::max(1, len(g.centres) // 20)][:20]:
        dy, dx = phase_shift(grey(g.frames[c - data.HALF].float()), grey(g.frames[c + data.HALF].float()))
        shifts.append(math.hypot(dy, dx))
    out["gopro_GOPR0477_TL13_px"] = {"median": float(np.median(shifts)), "p10": float(np.percentile(shifts, 10)),
                                     "p90": float(np.percentile(shifts, 90)), "n": len(shifts)}
    print(f"GOPR0477 TL13 (12 frame intervals): global shift median {np.median(shifts):.1f} px "
          f"(10-90 %: {np.percentile(shifts, 10):.1f}-{np.percentile(shifts, 90):.1f}); "
          f"TL 7: {np.median(shifts) / 2:.1f} px")

    pairs = {}
    for name, blur, sharp in data.cross_scene_pairs():
        p0 = float(data.psnr(blur[None], sharp[None]))
        p, L, ang = best_line_blur(blur, sharp)
        pairs[name] = {"line_px": L, "angle_deg": ang, "psnr_line_model": round(p, 2), "psnr_blurred": round(p0, 2)}
        print(f"{name}: straight-line blur {L} px at {ang} deg explains it best "
              f"({p:.2f} dB against {p0:.2f} dB for no blur)")
    out["cross_scene"] = pairs

    rng = np.random.default_rng(0)
    ext = []
    for _ in range(200):
        tx, ty, _, _ = data._path(rng, 2 * data.HALF + 1, 3.0)
        ext.append(math.hypot(float(tx[-1] - tx[0]), float(ty[-1] - ty[0])))
    out["synthetic_photos_TL13_px"] = {"median": float(np.median(ext)), "p10": float(np.percentile(ext, 10)),
                                       "p90": float(np.percentile(ext, 90))}
    print(f"synthetic photo paths, TL13 end-to-end: median {np.median(ext):.1f} px "
          f"(10-90 %: {np.percentile(ext, 10):.1f}-{np.percentile(ext, 90):.1f})")
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
