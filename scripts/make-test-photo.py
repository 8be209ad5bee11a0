#!/usr/bin/env python3
"""A photo-like test image, made here so that the benchmark needs no photos
from outside the repository (scripts/bench.sh).

    python3 scripts/make-test-photo.py WxH OUT.jpg [--seed N] [--quality Q]

What makes it photo-like for the codecs and the network (whose cost does not
depend on the pixels, but JPEG's does): a 1/f amplitude spectrum (the
statistics of natural images) in luminance and, at a quarter of the
resolution, in colour; occluding shapes with sharp edges and their own
texture, as objects in a scene; a soft vignette; a little sensor noise. Same
seed and size, same bytes. Needs numpy and Pillow only.
"""
import argparse
import sys

import numpy as np
from PIL import Image, ImageDraw


def pink(h, w, rng, alpha=1.0):
    """Zero-mean, unit-variance noise with a 1/f^alpha amplitude spectrum."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy).astype(np.float32)
    f[0, 0] = 1.0
    shape = (h, w // 2 + 1)
    spectrum = rng.standard_normal(shape, dtype=np.float32) + 1j * rng.standard_normal(shape, dtype=np.float32)
    spectrum /= f ** alpha
    del f
    spectrum[0, 0] = 0
    field = np.fft.irfft2(spectrum, s=(h, w)).astype(np.float32)
    return field / (field.std() + 1e-12)


def upsample(field, h, w):
    img = Image.fromarray(field.astype(np.float32), mode="F")
    return np.asarray(img.resize((w, h), Image.BICUBIC), dtype=np.float32)


def make(w, h, seed=0):
    rng = np.random.default_rng(seed)
    # Scene luminance and two colour-difference planes (colour varies slowly).
    luma = 118 + 38 * pink(h, w, rng)
    ch, cw = max(h // 4, 8), max(w // 4, 8)
    cb = upsample(9 * pink(ch, cw, rng, 1.3), h, w)
    cr = upsample(7 * pink(ch, cw, rng, 1.3), h, w)
    # Objects: shapes with sharp edges, a flat base colour and their own texture.
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    n = 24
    for i in range(n):
        x, y = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        r = rng.uniform(0.03, 0.18) * min(w, h)
        box = [x - r, y - r * rng.uniform(0.4, 1.0), x + r, y + r * rng.uniform(0.4, 1.0)]
        shape = (draw.ellipse, draw.rectangle)[i % 2]
        shape(box, fill=i + 1)
    label = np.asarray(mask)
    base = rng.uniform(-70, 70, n + 1).astype(np.float32)
    base[0] = 0
    tint = rng.uniform(-20, 20, (n + 1, 2)).astype(np.float32)
    tint[0] = 0
    texture = pink(h, w, rng, 1.6)
    inside = label > 0
    luma = np.where(inside, 118 + base[label] + 22 * texture, luma)
    cb = cb + tint[label, 0]
    cr = cr + tint[label, 1]
    del texture, inside, label
    # Vignette, then YCbCr -> RGB (BT.601) and a little sensor noise, a plane
    # at a time (a 24 MP photo stays under 1.5 GB).
    dy = ((np.arange(h, dtype=np.float32) - h / 2) / (h / 2)) ** 2
    dx = ((np.arange(w, dtype=np.float32) - w / 2) / (w / 2)) ** 2
    luma *= 1 - 0.25 * (dy[:, None] + dx[None, :])
    planes = []
    for plane in (luma + 1.402 * cr, luma - 0.344 * cb - 0.714 * cr, luma + 1.772 * cb):
        plane += 1.5 * rng.standard_normal(plane.shape, dtype=np.float32)
        planes.append(Image.fromarray(plane.clip(0, 255).astype(np.uint8), "L"))
        del plane
    return Image.merge("RGB", planes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("size", help="WxH, e.g. 4000x3000")
    ap.add_argument("out", help="output file (JPEG by its extension; PNG and TIFF work too)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quality", type=int, default=95, help="JPEG quality (95)")
    a = ap.parse_args()
    try:
        w, h = map(int, a.size.lower().split("x"))
        assert w >= 16 and h >= 16
    except (ValueError, AssertionError):
        sys.exit(f"make-test-photo: size must be WxH, at least 16x16, not {a.size}")
    img = make(w, h, a.seed)
    img.save(a.out, quality=a.quality) if a.out.lower().endswith((".jpg", ".jpeg")) else img.save(a.out)
    print(f"synthetic {w}x{h}, seed {a.seed} (scripts/make-test-photo.py)", file=sys.stderr)


if __name__ == "__main__":
    main()
