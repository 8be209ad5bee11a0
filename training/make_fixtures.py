"""Golden fixtures for the Swift engine's tests (run once; the outputs are
committed so that CI needs no PyTorch).

    python3 training/make_fixtures.py Tests/MTRNNTests/Fixtures

Writes
  weights.safetensors  seeded random MT-RNN weights, official names (float32)
  network.safetensors  two inputs (`a`: 64x48, `b`: 70x93, neither square, `b`
                       not a multiple of 4) and the reference output after each
                       iteration 1..6 (`a_out1`..`a_out6`), plus F1/F2 of
                       iteration 1 for `a` (`a_f1_1`, `a_f2_1`)
  layers.safetensors   single-op references: conv3x3+LReLU, strided conv,
                       ResBlock, split 1x1 on a concat, ConvTranspose2d k4 s2 p1
All references are computed in float64 from the float32-rounded weights and
inputs, then stored as float32.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from mtrnn_model import MTRNN, ResBlock, pad_to_multiple
import st_io


def seeded_model(seed=1234):
    """Random weights scaled so that six iterations stay in a sane range: the
    second conv of each ResBlock and img_prd are shrunk, as a trained net's are."""
    torch.manual_seed(seed)
    m = MTRNN()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.startswith(("sub_mean", "add_mean")):
                continue
            if "stem.2" in name or name.startswith("img_prd"):
                p.mul_(0.5 if "stem.2" in name else 4.0)
            if name.endswith("bias"):
                p.uniform_(-0.05, 0.05)
    return m


def reference_run(m, x, iterations=6):
    """Pad to a multiple of 4 (reflect, bottom/right), iterate, crop each output."""
    xp, h, w = pad_to_multiple(x, 4)
    outs, feats = [], []
    x_d, f1, f2 = xp, None, None
    for _ in range(iterations):
        x_d, f1, f2 = m(xp, x_d, f1, f2)
        outs.append(x_d[..., :h, :w])
        feats.append((f1, f2))
    return outs, feats


def layer_cases(g):
    t = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    L = {}
    # conv 3x3 + LeakyReLU(0.1), 16 -> 32, 20x12
    x, w, b = t(1, 16, 20, 12), t(32, 16, 3, 3) * 0.1, t(32) * 0.1
    L.update(conv3_x=x, conv3_w=w, conv3_b=b, conv3_y=F.leaky_relu(F.conv2d(x, w, b, padding=1), 0.1))
    # strided conv 3x3 s2 + LReLU, 32 -> 64, 20x12 -> 10x6
    x, w, b = t(1, 32, 20, 12), t(64, 32, 3, 3) * 0.1, t(64) * 0.1
    L.update(conv3s2_x=x, conv3s2_w=w, conv3s2_b=b,
             conv3s2_y=F.leaky_relu(F.conv2d(x, w, b, stride=2, padding=1), 0.1))
    # ResBlock, 32 ch
    x = t(1, 32, 16, 8)
    w0, b0, w2, b2 = t(32, 32, 3, 3) * 0.1, t(32) * 0.1, t(32, 32, 3, 3) * 0.1, t(32) * 0.1
    y = F.conv2d(F.leaky_relu(F.conv2d(x, w0, b0, padding=1), 0.1), w2, b2, padding=1) + x
    L.update(res_x=x, res_w0=w0, res_b0=b0, res_w2=w2, res_b2=b2, res_y=y)
    # 1x1 conv on cat(a, b): 64+64 -> 64
    a, bb, w, b = t(1, 64, 8, 6), t(1, 64, 8, 6), t(64, 128, 1, 1) * 0.1, t(64) * 0.1
    L.update(cat1x1_a=a, cat1x1_b=bb, cat1x1_w=w, cat1x1_bias=b,
             cat1x1_y=F.conv2d(torch.cat([a, bb], 1), w, b))
    # ConvTranspose2d k4 s2 p1 + LReLU, 128 -> 64 (weight [in, out, 4, 4]), 5x7 -> 10x14
    x, w, b = t(1, 128, 5, 7), t(128, 64, 4, 4) * 0.05, t(64) * 0.1
    L.update(deconv_x=x, deconv_w=w, deconv_b=b,
             deconv_y=F.leaky_relu(F.conv_transpose2d(x, w, b, stride=2, padding=1), 0.1))
    return {k: v.float().numpy() for k, v in L.items()}


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    m = seeded_model()
    st_io.save(os.path.join(out_dir, "weights.safetensors"),
               {k: v.float().numpy() for k, v in m.state_dict().items()},
               {"format": "pt", "note": "seeded random weights for tests (seed 1234)"})
    m = m.double().eval()

    g = torch.Generator().manual_seed(99)
    # smooth-ish images in 0..255: low-frequency pattern + noise, like a photo crop
    def image(h, w):
        yy, xx = torch.meshgrid(torch.linspace(0, 1, h, dtype=torch.float64),
                                torch.linspace(0, 1, w, dtype=torch.float64), indexing="ij")
        base = torch.stack([torch.sin(6 * xx + c) * torch.cos(4 * yy - c) for c in (0.0, 1.0, 2.0)])
        img = 128 + 90 * base + 20 * torch.randn(3, h, w, generator=g, dtype=torch.float64)
        return img.clamp(0, 255).float().double().unsqueeze(0)

    net = {}
    with torch.no_grad():
        for name, (h, w) in {"a": (48, 64), "b": (70, 93)}.items():
            x = image(h, w)
            outs, feats = reference_run(m, x)
            net[name] = x
            for i, o in enumerate(outs, 1):
                net[f"{name}_out{i}"] = o
                print(f"{name} iter {i}: range {o.min().item():8.2f} .. {o.max().item():8.2f}, "
                      f"mean |out - in| {(o - x).abs().mean().item():.3f}")
            if name == "a":
                net["a_f1_1"], net["a_f2_1"] = feats[0]
    st_io.save(os.path.join(out_dir, "network.safetensors"), {k: v.float().numpy() for k, v in net.items()},
               {"note": "float64 reference of training/mtrnn_model.py on weights.safetensors"})
    st_io.save(os.path.join(out_dir, "layers.safetensors"), layer_cases(torch.Generator().manual_seed(7)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Tests/MTRNNTests/Fixtures")
