#!/usr/bin/env python3
"""Seam cost of tiled MT-RNN inference, on the PyTorch reference model.

Tiles exactly as Sources/Deblur/TilePlan.swift does (evenly spread starts,
raised-cosine ramps across each shared band, full weight at the image border)
and prints the PSNR of the tiled result against whole-image inference on the
same weights, per overlap. The Swift measurement (DeblurTests, seam test with
MTRNN_SEAM_WEIGHTS set) is the one that counts; this one needs no Swift build
and checks it.

usage: scripts/seam-psnr.py WEIGHTS [--size 640x480] [--overlaps 0,16,32,48,64]
"""
import argparse, math, os, sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "training"))
import mtrnn_model  # noqa: E402
import st_io  # noqa: E402


def starts(length, tile, overlap):
    if length <= tile:
        return [0]
    stride = tile - overlap
    count = (length - overlap + stride - 1) // stride
    last = length - tile
    return [(i * last) // (count - 1) for i in range(count)]


def ramp(st, i, extent):
    w = np.ones(extent)
    rc = lambda k, band: 0.5 - 0.5 * math.cos(math.pi * (k + 0.5) / band)
    if i > 0:
        band = st[i - 1] + extent - st[i]
        for k in range(min(band, extent)):
            w[k] *= rc(k, band)
    if i + 1 < len(st):
        band = st[i] + extent - st[i + 1]
        for k in range(min(band, extent)):
            w[extent - 1 - k] *= rc(k, band)
    return w


def test_image(w, h, seed=5):
    """A blurred synthetic scene: gradients, hard-edged shapes and texture."""
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([90 + 60 * np.sin(x / 37 + c) * np.cos(y / 23) + 0.1 * x for c in range(3)])
    for _ in range(40):
        cx, cy, r = g.uniform(0, w), g.uniform(0, h), g.uniform(5, 60)
        img[:, (x - cx) ** 2 + (y - cy) ** 2 < r * r] = g.uniform(0, 255, size=(3, 1))
    img += g.normal(0, 8, img.shape)
    t = torch.from_numpy(np.clip(img, 0, 255)).float()[None]
    k = torch.zeros(3, 1, 9, 9)
    k[:, 0, 4, :] = 1 / 9  # horizontal motion blur
    return F.conv2d(F.pad(t, (4, 4, 4, 4), mode="reflect"), k, groups=3)


@torch.no_grad()
def infer(model, x, iterations):
    return model.run(x, iterations)


@torch.no_grad()
def tiled(model, x, tile, overlap, iterations):
    _, _, h, w = x.shape
    cs, rs = starts(w, tile, overlap), starts(h, tile, overlap)
    acc = torch.zeros_like(x)
    wsum = torch.zeros(1, 1, h, w)
    for ri, y in enumerate(rs):
        for ci, x0 in enumerate(cs):
            out = infer(model, x[:, :, y:y + tile, x0:x0 + tile], iterations)
            wt = torch.from_numpy(np.outer(ramp(rs, ri, tile), ramp(cs, ci, tile))).float()
            acc[:, :, y:y + tile, x0:x0 + tile] += out * wt
            wsum[:, :, y:y + tile, x0:x0 + tile] += wt
    return acc / wsum, len(cs) * len(rs)


def psnr(a, b):
    mse = torch.mean((a - b) ** 2).item()
    return float("inf") if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("weights")
    p.add_argument("--size", default="640x480")
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--iterations", type=int, default=6)
    p.add_argument("--overlaps", default="0,16,32,48,64")
    a = p.parse_args()
    w, h = map(int, a.size.split("x"))
    model = mtrnn_model.MTRNN().eval()
    tensors, _ = st_io.load(a.weights)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    x = test_image(w, h)
    whole = infer(model, x, a.iterations)
    print(f"image {w}x{h}, tile {a.tile}, {a.iterations} iterations; whole vs input PSNR {psnr(whole, x):.2f} dB")
    for o in map(int, a.overlaps.split(",")):
        out, n = tiled(model, x, a.tile, o, a.iterations)
        err = (out - whole).abs()
        print(f"overlap {o:3d}: {n} tiles, PSNR {psnr(out, whole):6.2f} dB, max |diff| {err.max().item():.3f}", flush=True)


if __name__ == "__main__":
    main()
