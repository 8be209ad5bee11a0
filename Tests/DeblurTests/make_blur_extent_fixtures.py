"""Golden fixtures for BlurExtentTests: the Python blur-extent estimator
(training/large_eval.py) on a few small PNGs, recorded so the Swift port
(Sources/Deblur/BlurExtent.swift) can be checked against it.

    python3 Tests/DeblurTests/make_blur_extent_fixtures.py

Writes Tests/DeblurTests/BlurExtentFixtures/{sharp,line12,line30,line45,flat}.png
and expected.json. The photos are 768 x 512 (kodim08 at its own size), under
EXTENT_MP, so load_luminance does no resampling and both sides estimate on
exactly the same luminance (Pillow's "L"; its sum is recorded too).
line30_x3 (not saved) checks the path through area_down, line30_x4 the one
through both averages (above SHARP_MP). Each row also has the sharpness
evidence (large_eval.sharpness) and score.
Blur: a straight line kernel (large_eval.path_kernel, bilinear splats) of
12 px at 0 degrees, 30 px at 30 and 45 px at 120 (y down; 45 px
suggests scale 2), reflected borders,
in sRGB, rounded to 8 bits.
"""
import json
import math
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "training"))
import large_eval as le  # noqa: E402

OUT = os.path.join(HERE, "BlurExtentFixtures")
SRC = os.path.join(le.DATA, "photos", "kodak24", "kodim08.jpg")


def line_kernel(length, angle_deg):
    a = math.radians(angle_deg)
    t = np.linspace(-0.5, 0.5, 50)[:, None]
    p = t * length * np.array([[math.cos(a), math.sin(a)]])
    return le.path_kernel(p)


def blur(rgb, k):
    x = rgb.astype(np.float32)
    out = np.stack([le.convolve_same(x[..., c], k) for c in range(3)], -1)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    sharp = np.asarray(Image.open(SRC).convert("RGB"))
    images = {
        "sharp": sharp,
        "line12": blur(sharp, line_kernel(12, 0)),
        "line30": blur(sharp, line_kernel(30, 30)),
        "line45": blur(sharp, line_kernel(45, 120)),
        "flat": np.full_like(sharp, 128),
    }
    rows = {}
    for name, rgb in images.items():
        path = os.path.join(OUT, name + ".png")
        Image.fromarray(rgb).save(path, optimize=True)
        lum, f, (W, H) = le.load_luminance(path, le.EXTENT_MP)
        assert f == 1.0 and lum.shape == (H, W)
        est = le.estimate_blur(lum, f)
        rows[name] = {
            "width": W, "height": H,
            "lum_sum": int(np.asarray(Image.open(path).convert("L"), np.int64).sum()),
            "extent_px": est["extent_px"], "confidence": est["confidence"],
            "angle_deg": est["angle_deg"], "depth": est["depth"],
            "second_px": est.get("second_px"),
            "suggested_scale": le.suggest_scale(est["extent_px"], est["confidence"]),
            "evidence_db": le.sharpness(lum, f)["evidence_db"],
            "sharpness": round(-(le.sharpness(lum, f)["evidence_db"] + le.CONF_WEIGHT * est["confidence"]), 2),
        }
        print(name, rows[name], os.path.getsize(path), "bytes")
    # The downscaling path: line30 enlarged 3x by pixel repetition (2304 x
    # 1536, 3.5 MP; made in memory on both sides, not saved), Pillow "L",
    # then area_down to EXTENT_MP as estimate_file does (below SHARP_MP its
    # first step is a no-op).
    big = np.repeat(np.repeat(images["line30"], 3, 0), 3, 1)
    lum = np.asarray(Image.fromarray(big).convert("L"), np.float32) / np.float32(255.0)
    lum2, f2 = le.area_down(lum, le.EXTENT_MP)
    est = le.estimate_blur(lum2, f2)
    rows["line30_x3"] = {
        "width": big.shape[1], "height": big.shape[0], "lum_width": lum2.shape[1], "lum_height": lum2.shape[0],
        "lum_sum": int(np.round(lum * 255).astype(np.int64).sum()),
        "extent_px": est["extent_px"], "confidence": est["confidence"],
        "angle_deg": est["angle_deg"], "depth": est["depth"], "second_px": est.get("second_px"),
        "suggested_scale": le.suggest_scale(est["extent_px"], est["confidence"]),
    }
    print("line30_x3", rows["line30_x3"])
    # Above SHARP_MP: line30 enlarged 4x (3072 x 2048, 6.3 MP), Pillow "L",
    # area_down to SHARP_MP for the sharpness, that further to EXTENT_MP for
    # the extent (estimate_file's steps, on floats: load_luminance would
    # round the first average to 8 bits for a PNG).
    big = np.repeat(np.repeat(images["line30"], 4, 0), 4, 1)
    lum = np.asarray(Image.fromarray(big).convert("L"), np.float32) / np.float32(255.0)
    lum6, f6 = le.area_down(lum, le.SHARP_MP)
    lum2, f2 = le.area_down(lum6, le.EXTENT_MP)
    est = le.estimate_blur(lum2, f6 * f2)
    ev = le.sharpness(lum6, f6)["evidence_db"]
    rows["line30_x4"] = {
        "width": big.shape[1], "height": big.shape[0], "lum_width": lum2.shape[1], "lum_height": lum2.shape[0],
        "sharp_width": lum6.shape[1], "sharp_height": lum6.shape[0],
        "lum_sum": int(np.round(lum * 255).astype(np.int64).sum()),
        "extent_px": est["extent_px"], "confidence": est["confidence"],
        "angle_deg": est["angle_deg"], "depth": est["depth"], "second_px": est.get("second_px"),
        "suggested_scale": le.suggest_scale(est["extent_px"], est["confidence"]),
        "evidence_db": ev, "sharpness": round(-(ev + le.CONF_WEIGHT * est["confidence"]), 2),
    }
    print("line30_x4", rows["line30_x4"])
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(rows, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
