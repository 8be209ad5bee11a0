"""Large-photo evaluation for the scale trick (issue 18).

Users drop 12-24 MP camera photos; MT-RNN learned blur at GoPro's 1280x720,
so the same hand shake is 3-5x longer in pixels. The scale trick deblurs a
copy downscaled by S and adds the bicubic-upsampled correction (output minus
input) to the full photo; S must be chosen per photo from a no-reference
estimate of the blur extent, and sharp photos are best left alone. This script
makes a validation set for that choice, the no-reference estimators, their
calibration, and a runner for the engine.

    python3 training/large_eval.py make OUT_DIR [--seed 18] [--photos 8]
    python3 training/large_eval.py estimate IMAGE... [--json OUT.json]
    python3 training/large_eval.py calibrate OUT_DIR [--extra 5] [--json OUT.json]
    python3 training/large_eval.py run OUT_DIR --engine PATH/mtrnnctl --scale S|auto \\
        --iterations N [--only KIND] [--limit K] [--crop PX] --json OUT.json

Run it niced on a shared machine (`nice -n 10`); numpy, Pillow and scipy only
(torch is not needed).

make OUT_DIR
    Writes the set and OUT_DIR/manifest.json (never commit it; about 0.3 GB,
    1.5 min here).
    Deterministic for a given --seed (default 18).
    * blurred: the --photos (8) debian_wallpapers photos of at least 6 MP with
      the most detail (mean gradient magnitude at 1 MP), resized with Lanczos
      to 12-24 MP (max(12, native) MP x U(1, 1.25), at most 24; native
      photos are 6-20 MP, so most are upscaled, by 1.07-1.48x linearly with
      seed 18), blurred by
      a random smooth hand-shake trajectory (a drifting direction with
      curvature, speed changes and tremor jitter; translation only, no
      rotation: global shift blur, which an FFT convolution with the path's
      kernel renders exactly) whose extent (the largest distance between two
      points of the path) is drawn log-stratified over 10-80 px at 24 MP and
      scaled by sqrt(MP / 24). Rendered in linear light (sRGB -> linear,
      convolution with the kernel made by splatting 10 sub-frame positions
      per pixel of path bilinearly, i.e. the average of that many sub-pixel
      shifted copies, -> sRGB), then Poisson-Gaussian noise in linear light
      (a in [5e-5, 3e-4], b in [5e-4, 1.5e-3]: var = a x + b^2), 8 bits,
      JPEG q92 (Pillow's default 4:2:0).
    * light: the same photos blurred by a path of extent 1-3 px (not scaled),
      same noise and JPEG.
    * sharp: the same photos with noise and JPEG only (extent 0).
    * gopro_up: the 4 cross-scene GoPro pairs upscaled 2x, 3x, 4x (bicubic),
      the blurred ones as JPEG q95, the sharp ones as PNG; extent_px = the
      line length that best explains the pair at 720p (logs/blur-extent.json:
      42, 52, 28, 10 px) times the factor.
    References are PNG, inputs JPEG. manifest.json: {"items": [{id, input,
    reference, kind, extent_px, width, height, ...}]}, paths relative to
    OUT_DIR.

estimate IMAGE... [--json OUT.json]
    Prints, per image, the no-reference blur extent (px at the image's own
    size) with its confidence, angle and dip depth, and the sharpness score.
    Both read the luminance at a reduced size, never the full photo: JPEGs are
    decoded with libjpeg's DCT scaling (Pillow's draft: a 24 MP JPEG is decoded
    at 1/2 size) and area-averaged to ~6 MP for the sharpness and to ~2 MP
    (about 1890 x 1060 for 3:2 ... 16:9) for the extent. Other formats are
    decoded in full first (slower). About 0.6 s per 13-24 MP JPEG here.
    Module level: estimate_file(path or file object) -> dict;
    estimate_blur(lum_2mp, scale) and sharpness(lum_6mp) on arrays;
    suggest_scale(extent, confidence) for the rule.
    * extent (estimate_blur): gradient-field autocorrelation along each
      direction (a blur path of length L leaves a negative dip at lag L) fused
      with the cepstrum of the gradient power spectrum (spectral zeros every
      1/L: a negative cepstral peak at L); the deepest interior dip beyond
      3 px at 2 MP (8-10 px of a 12-24 MP photo: shorter extents are not
      resolved). confidence = 1 - (second dip / deepest dip): near 0 when a
      second place is as deep (content, e.g. bokeh or repeated structure,
      makes many), near 1 for a single dip. Estimates with confidence >= 0.2
      were all within x1.5 of the truth in calibration; below 0.2 a third.
    * sharpness: minus [spectral blur evidence (dB; the energy ratio of
      adjacent octaves per orientation: low and anisotropic under motion
      blur) + 4 x the extent's confidence]. Higher = sharper.

calibrate OUT_DIR [--extra N] [--extra-cache DIR] [--max-extent 32] [--json OUT]
    Runs the estimators over the set and prints and writes (default
    OUT_DIR/calibration.json) for groups of items (set, its synthetic and
    GoPro parts, extra, all): estimated vs true extent (Pearson r of logs and
    of values, Spearman, median est/true, the share within x1.5 and x2, and
    the same split by confidence), the sharpness threshold that best
    separates sharp+light (should be left alone) from blurred+gopro_up (should
    be deblurred), with its false-skip rate on blurred photos, its skip rates
    on sharp and light ones, the AUC and thresholds for false-skip targets of
    0/5/10/20 %, and the suggested rule (see suggest_scale) with how often it
    picks the oracle scale (the smallest S with true extent / S <= 32 px).
    --extra N adds N further in-memory degradations per set photo (new paths
    and noise: blurred, light, blurred, sharp, blurred, ...) and per unused
    >= 6 MP wallpaper (4 photos held out in content too); --extra-cache keeps
    their JPEGs for reuse. A 13-24 MP render takes 5-15 s here.

run OUT_DIR --engine PATH --scale S|auto --iterations N [--only KIND[,KIND]]
        [--limit K] [--crop PX] [--quality Q] [--engine-args="..."] [--emulate]
        [--calibration C] --json OUT
    For each item (--only: kinds; --limit: the first K; --crop: a centred
    PX x PX crop of input and reference, given to the engine as PNG, for quick
    tests), runs `PATH deblur INPUT -o TMP --iterations N [--scale S]` and
    records seconds (wall, whole step), PSNR(input, ref), PSNR(output, ref)
    (RGB, 8 bits, whole image) and the gain. The engine keeps the input's
    format, so TMP has the input's extension (JPEG outputs at --quality 100 by
    default). --scale S is passed only when S != 1 and the engine's
    `deblur --help` lists it; otherwise, or with --emulate, the trick is
    emulated here: area-average down by S (Pillow BOX), the engine on the small
    image (PNG), bicubic upsampling of the correction, added, rounded.
    --engine-args adds options to every engine call, e.g.
    --engine-args="--stop-below 0" for exactly N iterations where the
    engine's default stops early.
    --scale auto applies the calibrated policy per item (estimate, then leave
    alone if sharpness > threshold, else suggest_scale), reading
    --calibration (default OUT_DIR/calibration.json). Exit status 1 if any
    item failed (its row has "error").
"""
from __future__ import annotations

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

Image.MAX_IMAGE_PIXELS = None

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("MTRNN_DATA", os.path.join(HERE, "..", "..", "shared", "data"))
if not os.path.isdir(DATA):
    DATA = "/work/shared/data"

# Cross-scene pairs: straight-line blur (px at 1280x720) that best explains
# each pair, from training/logs/blur-extent.json (blur_extent.py).
CROSS_LINE_PX = {
    "GOPR0374_11_00_st_frame-1195_n_avg-8": 42,
    "GOPR0374_11_00_st_frame-614_n_avg-8": 52,
    "GOPR0374_11_00_st_frame-802_n_avg-10": 28,
    "GOPR0374_11_00_st_frame-815_n_avg-10": 10,
}


# ----------------------------------------------------------------- colour --

def srgb_to_linear(x):
    """x: float32 0..1, in place where possible."""
    x = np.asarray(x, dtype=np.float32)
    lo = x <= 0.04045
    out = np.power((x + 0.055) / 1.055, 2.4, dtype=np.float32)
    out[lo] = x[lo] / 12.92
    return out


def linear_to_srgb(x):
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    lo = x <= 0.0031308
    out = 1.055 * np.power(x, 1.0 / 2.4, dtype=np.float32) - 0.055
    out[lo] = x[lo] * 12.92
    return out


def to_u8(x01):
    return np.clip(np.rint(x01 * 255.0), 0, 255).astype(np.uint8)


# ------------------------------------------------------------ trajectory --

def _smooth_noise(rng, n, width):
    """Unit-variance gaussian noise low-passed with a gaussian of `width` samples."""
    from scipy.ndimage import gaussian_filter1d
    v = gaussian_filter1d(rng.standard_normal(n + 6 * int(width) + 2), width, mode="wrap")
    v = v[3 * int(width) + 1: 3 * int(width) + 1 + n]
    return (v - v.mean()) / (v.std() + 1e-12)


def diameter(pts):
    """Largest distance between two points of a path (pts: [N,2])."""
    from scipy.spatial import ConvexHull
    try:
        h = pts[ConvexHull(pts).vertices]
    except Exception:  # degenerate (collinear) path
        h = pts
    d = h[:, None, :] - h[None, :, :]
    return float(np.sqrt((d ** 2).sum(-1)).max())


def hand_shake_path(rng, extent, n=2000):
    """A random smooth camera path, [n,2] (x, y) positions at equal time steps,
    scaled so that its diameter is `extent` px: a main direction that turns
    (curvature up to ~90 degrees over the exposure), speed changes, and a
    small fast tremor."""
    t = np.linspace(0.0, 1.0, n)
    theta0 = rng.uniform(0, 2 * math.pi)
    curv = rng.uniform(-1.6, 1.6)                     # radians over the exposure
    wob = rng.uniform(0.1, 0.6)
    theta = theta0 + curv * t + wob * _smooth_noise(rng, n, n / 8)
    speed = np.clip(1.0 + rng.uniform(0.1, 0.5) * _smooth_noise(rng, n, n / 10), 0.15, None)
    v = np.stack([np.cos(theta), np.sin(theta)], 1) * speed[:, None]
    p = np.cumsum(v, 0)
    p /= max(diameter(p), 1e-9)
    trem = rng.uniform(0.004, 0.015)                  # fraction of the extent
    p += trem * np.stack([_smooth_noise(rng, n, n / 40), _smooth_noise(rng, n, n / 40)], 1)
    p -= p.mean(0)
    d = diameter(p)
    p *= extent / max(d, 1e-9)
    return p


def path_length(p):
    return float(np.sqrt((np.diff(p, axis=0) ** 2).sum(1)).sum())


def path_kernel(p, per_px=10):
    """PSF of a shift-only blur along path p: sub-frame positions (at least
    `per_px` per pixel of path, resampled at equal time steps) splatted
    bilinearly into a grid; sums to 1. Convolving with it = averaging the
    sub-pixel shifted copies (bilinear interpolation)."""
    n = max(200, int(math.ceil(path_length(p) * per_px)))
    tt = np.linspace(0, len(p) - 1, n)
    q = np.stack([np.interp(tt, np.arange(len(p)), p[:, 0]),
                  np.interp(tt, np.arange(len(p)), p[:, 1])], 1)
    r = int(math.ceil(np.abs(q).max())) + 2
    k = np.zeros((2 * r + 1, 2 * r + 1), np.float64)
    x, y = q[:, 0] + r, q[:, 1] + r
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(k, (y0 + dy, x0 + dx), wy * wx)
    return (k / k.sum()).astype(np.float32)


def convolve_same(chan, k):
    """float32 2-D channel convolved with kernel k, reflected borders, same size."""
    from scipy.signal import oaconvolve
    r = k.shape[0] // 2
    pad = np.pad(chan, r, mode="reflect")
    out = oaconvolve(pad, k, mode="valid")
    return out.astype(np.float32, copy=False)


# ------------------------------------------------------------------ images --

def load_rgb(path):
    im = Image.open(path)
    im.load()
    if im.mode != "RGB":
        im = im.convert("RGB")
    return im


def detail_score(path):
    """Mean gradient magnitude of the luminance area-averaged to ~1 MP."""
    im = Image.open(path)
    im.draft("L", (im.size[0] // 4, im.size[1] // 4))
    im = im.convert("L")
    f = math.sqrt(im.size[0] * im.size[1] / 1e6)
    if f > 1:
        im = im.resize((round(im.size[0] / f), round(im.size[1] / f)), Image.BOX)
    a = np.asarray(im, np.float32)
    gx, gy = np.diff(a, axis=1)[:-1], np.diff(a, axis=0)[:, :-1]
    return float(np.sqrt(gx * gx + gy * gy).mean())


def render(lin, kernel, rng, noise):
    """lin: [H,W,3] float32 linear; -> uint8 sRGB with blur and noise."""
    out = np.empty(lin.shape, np.uint8)
    a, b = noise
    for c in range(3):
        ch = lin[:, :, c].copy() if kernel is None else convolve_same(lin[:, :, c], kernel)
        np.clip(ch, 0, 1, out=ch)
        sd = np.sqrt(a * ch + b * b, dtype=np.float32)
        ch = ch + sd * rng.standard_normal(ch.shape, dtype=np.float32)
        out[:, :, c] = to_u8(linear_to_srgb(ch))
        del ch, sd
    return out


def candidate_photos():
    """debian_wallpapers photos of at least 6 MP, most detailed first:
    [(detail, name, w, h)]."""
    wall = os.path.join(DATA, "photos", "debian_wallpapers")
    cands = []
    for f in sorted(os.listdir(wall)):
        if not f.lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        w, h = Image.open(os.path.join(wall, f)).size
        if w * h >= 6e6:
            cands.append((detail_score(os.path.join(wall, f)), f, w, h))
    cands.sort(key=lambda c: (-c[0], c[1]))
    return cands


def sized_photo(name, w0, h0, prng):
    """The photo resized with Lanczos to max(12, native) MP x U(1, 1.25), at
    most 24 MP, sides multiples of 4."""
    native = w0 * h0 / 1e6
    mp = min(24.0, max(12.0, native) * prng.uniform(1.0, 1.25))
    s = math.sqrt(mp * 1e6 / (w0 * h0))
    w, h = int(round(w0 * s / 4)) * 4, int(round(h0 * s / 4)) * 4
    im = load_rgb(os.path.join(DATA, "photos", "debian_wallpapers", name))
    if (w, h) != im.size:
        im = im.resize((w, h), Image.LANCZOS)
    return im


def degrade(lin, ext, prng, quality=92):
    """One input from a linear-light photo: hand-shake blur of extent `ext` px
    (0: none), Poisson-Gaussian noise, 8 bits, JPEG. -> (jpeg bytes, info)."""
    import io
    noise = (float(prng.uniform(5e-5, 3e-4)), float(prng.uniform(5e-4, 1.5e-3)))
    info = {"noise_a": round(noise[0], 7), "noise_b": round(noise[1], 6), "jpeg_quality": quality}
    k = None
    if ext > 0:
        p = hand_shake_path(prng, ext)
        k = path_kernel(p)
        info.update({"path_length_px": round(path_length(p), 2),
                     "end_to_end_px": round(float(np.hypot(*(p[-1] - p[0]))), 2),
                     "kernel_size": int(k.shape[0])})
    buf = io.BytesIO()
    Image.fromarray(render(lin, k, prng, noise)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue(), info, k


def make(args):
    out = os.path.abspath(args.out_dir)
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    chosen = candidate_photos()[: args.photos]
    print("photos (detail score, name, native size):")
    for c in chosen:
        print(f"  {c[0]:6.2f}  {c[1]}  {c[2]}x{c[3]}")
    n = len(chosen)
    # extents log-stratified over 10-80 px at 24 MP, assigned in shuffled order
    u = (np.arange(n) + rng.uniform(0, 1, n)) / n
    ext24 = 10.0 * 8.0 ** u
    rng.shuffle(ext24)
    items = []
    for i, (score, f, w0, h0) in enumerate(chosen):
        t0 = time.time()
        prng = np.random.default_rng([args.seed, i])
        im = sized_photo(f, w0, h0, prng)
        w, h = im.size
        stem = f"p{i}_{os.path.splitext(f)[0][:40]}"
        ref = os.path.join(out, "sharp", stem + ".png")
        os.makedirs(os.path.dirname(ref), exist_ok=True)
        im.save(ref, compress_level=1)
        lin = srgb_to_linear(np.asarray(im, np.float32) / np.float32(255.0))
        del im
        mp_real = w * h / 1e6
        extent = float(ext24[i] * math.sqrt(mp_real / 24.0))
        light = float(prng.uniform(1.0, 3.0))
        for kind, ext in (("blurred", extent), ("light", light), ("sharp", 0.0)):
            data, info, k = degrade(lin, ext, prng)
            os.makedirs(os.path.join(out, kind), exist_ok=True)
            inp = os.path.join(out, kind, stem + ".jpg")
            with open(inp, "wb") as fh:
                fh.write(data)
            if k is not None:
                kp = os.path.join(out, "kernels", f"{kind}_{stem}.npy")
                os.makedirs(os.path.dirname(kp), exist_ok=True)
                np.save(kp, k)
                info["kernel"] = os.path.relpath(kp, out)
            items.append({"id": f"{kind}/{stem}", "input": os.path.relpath(inp, out),
                          "reference": os.path.relpath(ref, out), "kind": kind,
                          "extent_px": round(ext, 2), "width": w, "height": h,
                          "source": f"photos/debian_wallpapers/{f}",
                          "native_size": [w0, h0], "megapixels": round(mp_real, 2),
                          "extent_px_at_24mp": round(ext * math.sqrt(24.0 / mp_real), 2),
                          **info})
        del lin
        print(f"  {stem}: {w}x{h} ({mp_real:.1f} MP), blur {extent:.1f} px, "
              f"light {light:.1f} px, {time.time() - t0:.0f} s", flush=True)
    # GoPro cross-scene pairs upscaled
    gdir = os.path.join(DATA, "gopro_cross_scene")
    line = dict(CROSS_LINE_PX)
    try:
        with open(os.path.join(HERE, "logs", "blur-extent.json")) as fh:
            for k, v in json.load(fh)["cross_scene"].items():
                line[k] = v["line_px"]
    except Exception:
        pass
    os.makedirs(os.path.join(out, "gopro_up"), exist_ok=True)
    for name in sorted(line):
        b = load_rgb(os.path.join(gdir, name + "_blur.png"))
        sh = load_rgb(os.path.join(gdir, name + "_sharp.png"))
        for fct in (2, 3, 4):
            w, h = b.size[0] * fct, b.size[1] * fct
            inp = os.path.join(out, "gopro_up", f"{name}_x{fct}_blur.jpg")
            ref = os.path.join(out, "gopro_up", f"{name}_x{fct}_sharp.png")
            b.resize((w, h), Image.BICUBIC).save(inp, quality=95)
            sh.resize((w, h), Image.BICUBIC).save(ref, compress_level=1)
            items.append({"id": f"gopro_up/{name}_x{fct}", "input": os.path.relpath(inp, out),
                          "reference": os.path.relpath(ref, out), "kind": "gopro_up",
                          "extent_px": float(line[name] * fct), "width": w, "height": h,
                          "source": f"gopro_cross_scene/{name}", "upscale": fct,
                          "extent_px_at_720p": line[name], "jpeg_quality": 95,
                          "megapixels": round(w * h / 1e6, 2)})
        print(f"  gopro_up {name}: x2 x3 x4, line {line[name]} px at 720p", flush=True)
    man = {"seed": args.seed, "made_by": "training/large_eval.py make",
           "extent_definition": "largest distance between two points of the camera path (px at the item's size); "
                                "gopro_up: best straight-line length x upscale",
           "items": items}
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(man, fh, indent=1)
    print(f"{len(items)} items -> {out}/manifest.json")


# -------------------------------------------------------------- estimators --
#
# Both estimators read the luminance at a reduced size: JPEGs are decoded with
# libjpeg's DCT scaling (Pillow's draft, luminance only) to the smallest of
# 1/1, 1/2, 1/4, 1/8 that is still at least SHARP_MP, area-averaged to
# SHARP_MP for the sharpness score and further to EXTENT_MP for the extent.
# A 24 MP JPEG is thus decoded at 1/2 size (6 MP), never at full size.

EXTENT_MP = 2.0      # ~1900 x 1060 for 16:9
SHARP_MP = 6.0
TILE = 256
R_MIN = 3.0          # px at EXTENT_MP: shorter dips are the derivative's own lobe
R_MAX = 100.0        # px at EXTENT_MP
W_CEPSTRUM = 0.5     # weight of the cepstrum map in the fused map


def load_luminance(src, target_mp):
    """(lum [h,w] float32 0..1, factor = full width / lum width, (W, H)) of an
    image path or file object, area-averaged to about target_mp."""
    im = Image.open(src)
    W, H = im.size
    f = max(1.0, math.sqrt(W * H / (target_mp * 1e6)))
    tw, th = max(1, int(round(W / f))), max(1, int(round(H / f)))
    if im.format == "JPEG":
        im.draft("L", (tw, th))
    im = im.convert("L")
    if im.size != (tw, th):
        im = im.resize((tw, th), Image.BOX)
    return np.asarray(im, np.float32) / np.float32(255.0), W / tw, (W, H)


def area_down(lum, target_mp):
    """Area-average a luminance array to about target_mp; -> (lum, factor)."""
    h, w = lum.shape
    f = math.sqrt(w * h / (target_mp * 1e6))
    if f <= 1.0:
        return lum, 1.0
    tw, th = max(1, int(round(w / f))), max(1, int(round(h / f)))
    im = Image.fromarray(np.ascontiguousarray(lum, np.float32)).resize((tw, th), Image.BOX)
    return np.asarray(im, np.float32), w / tw


def _tiles(energy_map, T, step, keep):
    """Top-left corners of T x T tiles (given step) whose mean energy is in the
    top `keep` fraction."""
    H, W = energy_map.shape
    ys = list(range(0, max(1, H - T + 1), step))
    xs = list(range(0, max(1, W - T + 1), step))
    c = np.cumsum(np.cumsum(np.pad(energy_map.astype(np.float64), ((1, 0), (1, 0))), 0), 1)
    out = []
    for y in ys:
        for x in xs:
            y1, x1 = min(y + T, H), min(x + T, W)
            out.append(((c[y1, x1] - c[y, x1] - c[y1, x] + c[y, x]) / ((y1 - y) * (x1 - x)), y, x))
    es = np.array([o[0] for o in out])
    thr = np.quantile(es, 1.0 - keep)
    return [(e, y, x) for e, y, x in out if e >= thr and e > 0]


def _pad_to(a, T):
    H, W = a.shape
    if H >= T and W >= T:
        return a
    return np.pad(a, ((0, max(0, T - H)), (0, max(0, T - W))), mode="reflect")


def _bilinear(R, xs, ys):
    """Sample a circular (FFT) map R at fractional lags (x right, y down)."""
    T0, T1 = R.shape
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    g = lambda yy, xx: R[yy % T0, xx % T1]  # noqa: E731
    return (g(y0, x0) * (1 - fx) * (1 - fy) + g(y0, x0 + 1) * fx * (1 - fy)
            + g(y0 + 1, x0) * (1 - fx) * fy + g(y0 + 1, x0 + 1) * fx * fy)


def _local_minima(M, r, rmin, k=3):
    """Interior local minima of a polar map M[angle, radius] (angles wrap),
    radius >= rmin; best k as (value, ia, ir)."""
    from scipy.ndimage import minimum_filter
    na = M.shape[0]
    ext = np.vstack([M[-5:], M, M[:5]])
    mf = minimum_filter(ext, size=(7, 9), mode="nearest")[5:na + 5]
    ok = M <= mf
    ok[:, r < rmin] = False
    ok[:, -4:] = False
    ia, ir = np.nonzero(ok)
    v = M[ia, ir]
    o = np.argsort(v)
    th = np.pi * np.arange(na) / na
    picked = []
    for j in o:  # one minimum per place: lags closer than max(3 px, 25 %) are the same dip
        p = r[ir[j]] * np.array([np.cos(th[ia[j]]), np.sin(th[ia[j]])])
        same = False
        for q in picked:
            qv = r[q[2]] * np.array([np.cos(th[q[1]]), np.sin(th[q[1]])])
            d = min(np.hypot(*(p - qv)), np.hypot(*(p + qv)))   # a lag and its opposite are one
            if d <= max(3.0, 0.25 * r[q[2]]):
                same = True
                break
        if not same:
            picked.append((float(v[j]), int(ia[j]), int(ir[j])))
        if len(picked) == k:
            break
    return picked


def _gradients(lum):
    """(lum padded to at least TILE x TILE, forward differences gx, gy (0 on
    the last column / row), the TILE x TILE Hann window): what both
    estimators start from."""
    lum = _pad_to(np.asarray(lum, np.float32), TILE)
    gx = np.zeros_like(lum)
    gy = np.zeros_like(lum)
    gx[:, :-1] = lum[:, 1:] - lum[:, :-1]
    gy[:-1] = lum[1:] - lum[:-1]
    win = np.outer(np.hanning(TILE), np.hanning(TILE)).astype(np.float32)
    return lum, gx, gy, win


def estimate_blur(lum, scale=1.0, rmax=R_MAX, keep=0.7, norm=1.0, w_ce=W_CEPSTRUM):
    """No-reference blur extent of a luminance image (float 0..1, ~2 MP).

    Welch average (256 x 256 Hann tiles, half overlap, the 70 % of tiles with
    the most gradient energy, each normalised to unit energy) of the gradient
    field's power spectra; two polar maps over lag (angle 0-180, radius 0-100
    px): the autocorrelation of the directional derivative along the angle
    (a blur path of length L leaves a negative dip at lag L: the derivative of
    the blur kernel has its two ends there) and the cepstrum of the gradient
    power spectrum (the kernel's spectral zeros repeat every 1/L, a negative
    cepstral peak at L). Each map is divided by its RMS over radii >= 3 px,
    they are added (cepstrum x 0.5), and the deepest interior minimum beyond
    3 px is the blur: extent = its radius x scale (scale: full-size px per lum
    px). confidence = 1 - second-deepest / deepest (0: two equal candidates,
    1: a single dip); depth = the fused minimum (more negative = stronger).
    Extents under 3 x scale px are not resolved (reported as that floor).
    """
    lum, gx, gy, win = _gradients(lum)
    T = TILE
    Pxx = Pyy = Pc = 0.0
    for e, y, x in _tiles(gx * gx + gy * gy, T, T // 2, keep):
        A = np.fft.rfft2(gx[y:y + T, x:x + T] * win)
        B = np.fft.rfft2(gy[y:y + T, x:x + T] * win)
        w = 1.0 / (e ** norm * T * T)
        Pxx = Pxx + (A.real ** 2 + A.imag ** 2) * w
        Pyy = Pyy + (B.real ** 2 + B.imag ** 2) * w
        Pc = Pc + 2.0 * (A * B.conj()).real * w
    if isinstance(Pxx, float):  # flat image
        return {"extent_px": 0.0, "confidence": 0.0, "depth": 0.0, "angle_deg": None,
                "floor_px": round(R_MIN * scale, 1)}
    Rxx, Ryy, Rc = (np.fft.irfft2(P, s=(T, T)) for P in (Pxx, Pyy, Pc))
    S = Pxx + Pyy
    C = np.fft.irfft2(np.log(S + 1e-2 * S.mean()), s=(T, T))
    th = np.deg2rad(np.arange(0, 180, 3.0))
    r = np.arange(0, min(rmax, T / 2 - 4), 0.5)
    c, s_ = np.cos(th)[:, None], np.sin(th)[:, None]
    X, Y = r[None, :] * c, r[None, :] * s_
    AC = c * c * _bilinear(Rxx, X, Y) + s_ * s_ * _bilinear(Ryy, X, Y) + c * s_ * _bilinear(Rc, X, Y)
    AC = AC / AC[:, :1]
    CE = _bilinear(C, X, Y)
    CE = CE / np.abs(CE[:, :1])
    sel = r >= R_MIN
    Z = AC / np.sqrt(np.mean(AC[:, sel] ** 2)) + w_ce * CE / np.sqrt(np.mean(CE[:, sel] ** 2))
    mins = _local_minima(Z, r, R_MIN, k=2)
    if not mins:
        return {"extent_px": round(R_MIN * scale, 1), "confidence": 0.0, "depth": 0.0,
                "angle_deg": None, "floor_px": round(R_MIN * scale, 1)}
    v1, ia, ir = mins[0]
    v2 = mins[1][0] if len(mins) > 1 else 0.0
    conf = 1.0 - v2 / v1 if v1 < 0 else 0.0
    return {"extent_px": round(float(r[ir] * scale), 1),
            "confidence": round(float(min(max(conf, 0.0), 1.0)), 3),
            "depth": round(float(v1), 2),
            "angle_deg": round(float(np.rad2deg(th[ia])), 0),
            "second_px": round(float(r[mins[1][2]] * scale), 1) if len(mins) > 1 else None,
            "floor_px": round(R_MIN * scale, 1)}


SECTORS = 12
BANDS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2)   # octave edges, cycles per px at SHARP_MP
CONF_WEIGHT = 4.0                                # dB of blur evidence per unit of extent confidence


def sharpness(lum, scale=1.0):
    """No-reference spectral blur evidence of a luminance image (float 0..1,
    ~6 MP); estimate_file turns it into the sharpness score.

    Welch power spectrum of the luminance (256 x 256 Hann tiles, no overlap,
    the half of the tiles with the most gradient energy: the in-focus subject
    rather than sky or bokeh; each normalised to unit gradient energy), split
    into 12 orientation sectors and 4 octaves (1/32 ... 1/2 cycles/px at 6 MP;
    a 24 MP photo's 1/64 ... 1/4). Per sector, the energy ratio (dB) of each
    octave to the one below: r1 (1/16-1/8 over 1/32-1/16), r2 (1/8-1/4 over
    1/16-1/8), r3 (1/4-1/2 over 1/8-1/4). A sharp natural photo is roughly
    scale-invariant (ratios near 0 dB, lower for soft content); motion blur
    cuts the ratios in the sectors along the motion, so both the lowest
    sector (min) and its gap to the mean (aniso) grow. evidence_db =
    aniso(r2) + 0.6 (-min r1) + 0.5 (-min r2) + 0.7 aniso(r3) (weights: a
    logistic fit on the calibration set and its extras, rounded).
    (scale is accepted for symmetry with estimate_blur and not used.)"""
    lum, gx, gy, win = _gradients(lum)
    T = TILE
    P = 0.0
    for e, y, x in _tiles(gx * gx + gy * gy, T, T, 0.5):
        t = lum[y:y + T, x:x + T]
        F = np.fft.rfft2((t - t.mean()) * win)
        P = P + (F.real ** 2 + F.imag ** 2) / e
    if isinstance(P, float):
        return {"evidence_db": 0.0}
    fy = np.fft.fftfreq(T)[:, None]
    fx = np.fft.rfftfreq(T)[None, :]
    rad = np.sqrt(fx * fx + fy * fy)
    sec = np.minimum((np.mod(np.arctan2(fy, fx), np.pi) / np.pi * SECTORS).astype(int), SECTORS - 1)
    band = np.digitize(rad, BANDS) - 1          # 0..3 inside
    ok = (band >= 0) & (band <= 3)
    E = np.zeros((SECTORS, 4))
    np.add.at(E, (sec[ok], band[ok]), P[ok])
    E = 10 * np.log10(np.maximum(E, 1e-20))
    r = E[:, 1:] - E[:, :-1]                     # [sector, r1 r2 r3]
    mn = r.min(0)
    an = r.mean(0) - mn
    ev = an[1] + 0.6 * (-mn[0]) + 0.5 * (-mn[1]) + 0.7 * an[2]
    return {"evidence_db": round(float(ev), 2),
            "min_db": [round(float(v), 2) for v in mn], "aniso_db": [round(float(v), 2) for v in an]}


def estimate_file(src):
    """Blur extent and sharpness of one image (path or file object); px are
    at the image's own size. Returns a dict with timings."""
    t0 = time.perf_counter()
    lum6, f6, (W, H) = load_luminance(src, SHARP_MP)
    t1 = time.perf_counter()
    lum2, f2 = area_down(lum6, EXTENT_MP)
    blur = estimate_blur(lum2, f6 * f2)
    t2 = time.perf_counter()
    sh = sharpness(lum6, f6)
    t3 = time.perf_counter()
    # sharpness score: higher = sharper; the spectral evidence plus the blur
    # dip's confidence (a clear single dip is blur, content rarely makes one)
    score = -(sh["evidence_db"] + CONF_WEIGHT * blur["confidence"])
    return {"width": W, "height": H, **blur, "sharpness": round(score, 2), "sharp_detail": sh,
            "lum_sizes": [list(lum6.shape[::-1]), list(lum2.shape[::-1])],
            "seconds": {"decode": round(t1 - t0, 3), "extent": round(t2 - t1, 3),
                        "sharpness": round(t3 - t2, 3), "total": round(t3 - t0, 3)}}


def cmd_estimate(args):
    rows = []
    for p in args.images:
        r = estimate_file(p)
        r["path"] = p
        rows.append(r)
        print(f"{p}: {r['width']}x{r['height']}  extent {r['extent_px']:.1f} px "
              f"(angle {r['angle_deg']}, confidence {r['confidence']:.2f}, depth {r['depth']}, "
              f"floor {r['floor_px']} px)  sharpness {r['sharpness']:+.2f} "
              f"(spectral evidence {r['sharp_detail']['evidence_db']:.1f} dB)  "
              f"{r['seconds']['total']:.2f} s", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


# --------------------------------------------------------------- calibrate --

MAX_NET_EXTENT = 32.0   # px the network should see at most (GoPro training: up to ~50 px total, 6-7 px/frame)
MIN_CONFIDENCE = 0.2    # below: the extent is not trusted and the photo is deblurred at scale 1
SCALES = (1, 2, 3, 4)


def suggest_scale(extent_px, confidence=1.0, ratio=1.0, max_extent=MAX_NET_EXTENT,
                  min_confidence=MIN_CONFIDENCE):
    """Smallest S in 1..4 that brings the (bias-corrected) estimated extent
    down to max_extent px, S = clamp(ceil(extent / ratio / max_extent), 1, 4);
    1 when the estimate's confidence is under min_confidence (a low-confidence
    extent is usually a content feature, and the trick hurts short blur)."""
    if confidence < min_confidence:
        return 1
    true_est = extent_px / max(ratio, 1e-6)
    return int(min(4, max(1, math.ceil(true_est / max_extent - 1e-9))))


def _extra_inputs(out, man, n_extra, seed, cache=None):
    """Yields (row, jpeg bytes): n_extra further degradations per set photo
    (other paths and noise than the set's) and per unused >= 6 MP wallpaper
    (held out in content too); rendered in memory, nothing written unless
    `cache` names a folder (then rendered JPEGs are kept there and reused)."""
    if cache:
        os.makedirs(cache, exist_ok=True)
        idx = os.path.join(cache, f"extra-set{man.get('seed')}-{seed}-{n_extra}.json")
        if os.path.exists(idx):
            with open(idx) as fh:
                for row in json.load(fh):
                    with open(os.path.join(cache, row["file"]), "rb") as fh2:
                        yield row, fh2.read()
            return
        rows = []
        for j, (row, data) in enumerate(_extra_inputs(out, man, n_extra, seed)):
            row["file"] = f"extra-{seed}-{j:03d}.jpg"
            with open(os.path.join(cache, row["file"]), "wb") as fh:
                fh.write(data)
            rows.append(row)
            yield row, data
        with open(idx, "w") as fh:
            json.dump(rows, fh, indent=1)
        return
    kinds = ("blurred", "light", "blurred", "sharp", "blurred")
    refs = {}
    for it in man["items"]:
        if it["kind"] == "sharp":
            refs[it["source"]] = it
    used = set(refs)
    jobs = [("set", src, it) for src, it in sorted(refs.items())]
    for _, f, w0, h0 in candidate_photos():
        src = f"photos/debian_wallpapers/{f}"
        if src not in used:
            jobs.append(("unused", src, (f, w0, h0)))
    for j, (origin, src, ref) in enumerate(jobs):
        prng = np.random.default_rng([seed, j])
        if origin == "set":
            im = load_rgb(os.path.join(out, ref["reference"]))
        else:
            im = sized_photo(*ref, prng)
        w, h = im.size
        lin = srgb_to_linear(np.asarray(im, np.float32) / np.float32(255.0))
        del im
        mp = w * h / 1e6
        for v in range(n_extra):
            kind = kinds[v % len(kinds)]
            if kind == "blurred":
                ext = float(10.0 * 8.0 ** prng.uniform(0, 1) * math.sqrt(mp / 24.0))
            elif kind == "light":
                ext = float(prng.uniform(1.0, 3.0))
            else:
                ext = 0.0
            data, info, _ = degrade(lin, ext, prng)
            row = {"id": f"extra-{origin}/{os.path.basename(src)}#{v}", "kind": kind,
                   "extent_px": round(ext, 2), "width": w, "height": h, "origin": "extra-" + origin,
                   "extent_px_at_24mp": round(ext * math.sqrt(24.0 / mp), 2)}
            yield row, data
        del lin


def _pearson(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return None
    return round(float(np.corrcoef(a, b)[0, 1]), 3)


def _extent_stats(rows):
    rows = [r for r in rows if r["kind"] in ("blurred", "gopro_up")]
    if not rows:
        return None
    t = np.array([r["extent_px"] for r in rows])
    e = np.array([r["est"]["extent_px"] for r in rows])
    q = e / t
    lq = np.log(q)
    c = np.array([r["est"]["confidence"] for r in rows]) >= MIN_CONFIDENCE
    hi = {"n": int(c.sum()), "within_x1.5": round(float(np.mean(np.abs(lq[c]) <= math.log(1.5))), 3) if c.any() else None,
          "pearson_log": _pearson(np.log(t[c]), np.log(e[c])),
          "median_ratio_est_over_true": round(float(np.median(q[c])), 3) if c.any() else None}
    lo = {"n": int((~c).sum()), "within_x1.5": round(float(np.mean(np.abs(lq[~c]) <= math.log(1.5))), 3) if (~c).any() else None}
    return {"n": len(rows), "pearson_log": _pearson(np.log(t), np.log(e)), "pearson": _pearson(t, e),
            f"confidence>={MIN_CONFIDENCE}": hi, f"confidence<{MIN_CONFIDENCE}": lo,
            "spearman": _pearson(np.argsort(np.argsort(t)), np.argsort(np.argsort(e))),
            "median_ratio_est_over_true": round(float(np.median(q)), 3),
            "ratio_p10_p90": [round(float(np.quantile(q, 0.1)), 2), round(float(np.quantile(q, 0.9)), 2)],
            "median_abs_log2_error": round(float(np.median(np.abs(lq)) / math.log(2)), 3),
            "within_x1.5": round(float(np.mean(np.abs(lq) <= math.log(1.5))), 3),
            "within_x2": round(float(np.mean(np.abs(lq) <= math.log(2))), 3)}


def _threshold(rows):
    """Skip (leave alone) when sharpness > t. Negatives: sharp + light (should
    skip); positives: blurred + gopro_up (should be deblurred)."""
    pos = np.array([r["est"]["sharpness"] for r in rows if r["kind"] in ("blurred", "gopro_up")])
    neg = np.array([r["est"]["sharpness"] for r in rows if r["kind"] in ("sharp", "light")])
    if len(pos) == 0 or len(neg) == 0:
        return None
    cand = np.unique(np.concatenate([pos, neg]))
    cand = np.concatenate([[cand[0] - 0.01], (cand[1:] + cand[:-1]) / 2, [cand[-1] + 0.01]])
    best = None
    for t in cand:
        fs = float(np.mean(pos > t))         # blurred photos wrongly left alone
        sk = float(np.mean(neg > t))         # sharp photos rightly left alone
        key = (sk - fs, -fs)
        if best is None or key > best[0]:
            best = (key, float(t), fs, sk)
    auc = float(np.mean([(p < n) + 0.5 * (p == n) for p in pos for n in neg]))
    alts = []
    for target in (0.0, 0.05, 0.1, 0.2):   # the lowest t (most skips) with false-skip <= target
        ok = [t for t in cand if np.mean(pos > t) <= target]
        if ok:
            ta = min(ok)
            alts.append({"false_skip_at_most": target, "threshold": round(float(ta), 2),
                         "false_skip_rate_blurred": round(float(np.mean(pos > ta)), 3),
                         "skip_rate_sharp_or_light": round(float(np.mean(neg > ta)), 3)})
    _, t, fs, sk = best
    return {"threshold": round(t, 2), "false_skip_rate_blurred": round(fs, 3),
            "skip_rate_sharp_or_light": round(sk, 3),
            "skip_rate_sharp": round(float(np.mean([r["est"]["sharpness"] > t for r in rows if r["kind"] == "sharp"])), 3),
            "skip_rate_light": round(float(np.mean([r["est"]["sharpness"] > t for r in rows if r["kind"] == "light"])), 3),
            "auc": round(auc, 3), "n_blurred": int(len(pos)), "n_sharp_or_light": int(len(neg)),
            "alternatives": alts,
            "blurred_range": [round(float(pos.min()), 2), round(float(pos.max()), 2)],
            "sharp_light_range": [round(float(neg.min()), 2), round(float(neg.max()), 2)]}


def _rule_stats(rows, ratio, max_extent):
    rows = [r for r in rows if r["kind"] in ("blurred", "gopro_up")]
    if not rows:
        return None
    exact = ok = under = 0
    for r in rows:
        s_est = suggest_scale(r["est"]["extent_px"], r["est"]["confidence"], ratio, max_extent)
        s_true = suggest_scale(r["extent_px"], 1.0, 1.0, max_extent)
        r["scale_suggested"], r["scale_oracle"] = s_est, s_true
        exact += s_est == s_true
        ok += r["extent_px"] / s_est <= 1.25 * max_extent
        under += s_est < s_true
    n = len(rows)
    return {"n": n, "same_as_oracle": round(exact / n, 3),
            "downscaled_true_extent_within_1.25x_max": round(ok / n, 3),
            "scale_too_small": round(under / n, 3), "scale_too_large": round((n - exact - under) / n, 3)}


def calibrate(args):
    out = os.path.abspath(args.out_dir)
    with open(os.path.join(out, "manifest.json")) as fh:
        man = json.load(fh)
    import io
    rows = []
    times = []
    for it in man["items"]:
        est = estimate_file(os.path.join(out, it["input"]))
        times.append((it["width"] * it["height"], est["seconds"]["total"]))
        rows.append({"id": it["id"], "kind": it["kind"], "extent_px": it["extent_px"],
                     "width": it["width"], "height": it["height"], "origin": "set", "est": est})
        print(f"{it['kind']:9s} true {it['extent_px']:6.1f}  est {est['extent_px']:6.1f} "
              f"(conf {est['confidence']:.2f})  sharpness {est['sharpness']:+6.2f}  "
              f"{est['seconds']['total']:.2f} s  {it['id']}", flush=True)
    if args.extra:
        for row, data in _extra_inputs(out, man, args.extra, args.extra_seed, args.extra_cache):
            est = estimate_file(io.BytesIO(data))
            if not row["origin"].startswith("extra"):
                row["origin"] = "extra-" + row["origin"]
            row.pop("file", None)
            row["est"] = est
            rows.append(row)
            print(f"{row['kind']:9s} true {row['extent_px']:6.1f}  est {est['extent_px']:6.1f} "
                  f"(conf {est['confidence']:.2f})  sharpness {est['sharpness']:+6.2f}  {row['id']}", flush=True)
    groups = {"set": [r for r in rows if r["origin"] == "set"],
              "set_synthetic": [r for r in rows if r["origin"] == "set" and r["kind"] != "gopro_up"],
              "set_gopro_up": [r for r in rows if r["kind"] == "gopro_up"]}
    if args.extra:
        groups["extra"] = [r for r in rows if r["origin"] != "set"]
        groups["extra_unused_photos"] = [r for r in rows if r["origin"] == "extra-unused"]
        groups["all"] = rows
    res = {"manifest": os.path.join(out, "manifest.json"), "extra_per_photo": args.extra,
           "extra_seed": args.extra_seed, "max_net_extent_px": args.max_extent,
           "estimator": {"extent_mp": EXTENT_MP, "sharp_mp": SHARP_MP, "tile": TILE,
                         "r_min_px_at_extent_mp": R_MIN, "w_cepstrum": W_CEPSTRUM},
           "extent": {}, "sharpness": {}, "rule": {}}
    for g, rs in groups.items():
        res["extent"][g] = _extent_stats(rs)
        res["sharpness"][g] = _threshold(rs)
    ref = groups["all" if args.extra else "set"]
    ratio = res["extent"]["all" if args.extra else "set"][f"confidence>={MIN_CONFIDENCE}"]["median_ratio_est_over_true"]
    # the rule ignores the estimator's bias unless it is large
    ratio_used = ratio if abs(math.log(ratio)) > math.log(1.15) else 1.0
    lim = [round(args.max_extent * s * ratio_used, 1) for s in SCALES[:-1]]
    res["rule"] = {"ratio_used": ratio_used, "min_confidence": MIN_CONFIDENCE,
                   "text": (f"sharpness > threshold -> leave alone; else confidence < {MIN_CONFIDENCE} -> scale 1; "
                            f"else estimated extent <= {lim[0]} px -> scale 1; <= {lim[1]} -> 2; "
                            f"<= {lim[2]} -> 3; else 4 (downscaled extent <= {args.max_extent:g} px)"),
                   "upper_bounds_px": lim}
    for g, rs in groups.items():
        res["rule"][g] = _rule_stats(rs, ratio_used, args.max_extent)
    mp = np.array([t[0] for t in times]) / 1e6
    sec = np.array([t[1] for t in times])
    big = sec[mp >= 20] if np.any(mp >= 20) else sec[mp >= mp.max() - 1]
    res["seconds_per_estimate"] = {"median": round(float(np.median(sec)), 3), "max": round(float(sec.max()), 3),
                                   "at_20mp_plus_median": round(float(np.median(big)), 3),
                                   "note": "decode (JPEG DCT-scaled, luminance) + extent + sharpness, this machine, niced"}
    res["rows"] = [{k: v for k, v in r.items()} for r in rows]
    path = args.json or os.path.join(out, "calibration.json")
    with open(path, "w") as fh:
        json.dump(res, fh, indent=1)
    print()
    for g in groups:
        print(f"[{g}] extent: {res['extent'][g]}")
        print(f"[{g}] sharpness: {res['sharpness'][g]}")
        print(f"[{g}] rule: {res['rule'][g]}")
    print(f"rule: {res['rule']['text']}")
    print(f"time per estimate: {res['seconds_per_estimate']}")
    print(f"-> {path}")


# --------------------------------------------------------------------- run --

def psnr(a, b):
    """PSNR (dB) of two uint8 arrays of the same shape, over all samples;
    computed in row chunks to keep memory bounded."""
    if a.shape != b.shape:
        raise ValueError(f"shape {a.shape} != {b.shape}")
    se = 0.0
    step = max(1, (1 << 22) // max(1, a[0].size))
    for y in range(0, a.shape[0], step):
        d = a[y:y + step].astype(np.float32) - b[y:y + step].astype(np.float32)
        d = d.ravel()
        se += float(np.einsum("i,i->", d, d, dtype=np.float64))
    mse = se / a.size
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def engine_has_scale(engine):
    try:
        p = subprocess.run([engine, "deblur", "--help"], capture_output=True, text=True, timeout=60)
        return "--scale" in (p.stdout + p.stderr)
    except Exception:
        return False


ENGINE_ARGS = []   # set by run from --engine-args


def _engine(engine, inp, outp, iterations, extra, quality):
    cmd = [engine, "deblur", "--sharp-photos", "process", inp, "-o", outp, "--iterations", str(iterations), "--overwrite"] + extra + ENGINE_ARGS
    if outp.lower().endswith((".jpg", ".jpeg")):
        cmd += ["--quality", str(quality)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {(p.stderr or p.stdout).strip()[-500:]}")
    return cmd


def upsample_add(full, small_in, small_out):
    """full uint8 [H,W,3] + bicubic upsampling of (small_out - small_in) -> uint8."""
    H, W = full.shape[:2]
    out = np.empty_like(full)
    for c in range(full.shape[2]):
        d = small_out[:, :, c].astype(np.float32) - small_in[:, :, c].astype(np.float32)
        up = np.asarray(Image.fromarray(d).resize((W, H), Image.BICUBIC), np.float32)
        out[:, :, c] = np.clip(np.rint(full[:, :, c].astype(np.float32) + up), 0, 255).astype(np.uint8)
    return out


def deblur_scaled(engine, inp_path, full, S, iterations, tmp, quality):
    """The scale trick emulated: area-average down by S, the engine on the
    small image (PNG), bicubic upsampling of the correction, added."""
    H, W = full.shape[:2]
    small = Image.fromarray(full).resize((max(1, round(W / S)), max(1, round(H / S))), Image.BOX)
    sp, so = os.path.join(tmp, "small.png"), os.path.join(tmp, "small-out.png")
    small.save(sp, compress_level=1)
    cmd = _engine(engine, sp, so, iterations, [], quality)
    return upsample_add(full, np.asarray(small), np.asarray(load_rgb(so))), cmd


def run(args):
    out = os.path.abspath(args.out_dir)
    with open(os.path.join(out, "manifest.json")) as fh:
        items = json.load(fh)["items"]
    if args.only:
        items = [it for it in items if it["kind"] in args.only.split(",")]
    if args.limit:
        items = items[: args.limit]
    auto = str(args.scale) == "auto"
    cal = None
    if auto:
        with open(args.calibration or os.path.join(out, "calibration.json")) as fh:
            cal = json.load(fh)
        g = "all" if cal["sharpness"].get("all") else "set"
        thr = cal["sharpness"][g]["threshold"]
        ratio = cal["rule"]["ratio_used"]
        max_ext = cal["max_net_extent_px"]
    else:
        S0 = float(args.scale)
        S0 = int(S0) if S0 == int(S0) else S0
    import shlex
    ENGINE_ARGS[:] = shlex.split(args.engine_args or "")
    native = engine_has_scale(args.engine) and not args.emulate
    print(f"engine {args.engine}: --scale "
          f"{'passed to the engine' if native else 'emulated here (--emulate, or not in deblur --help)'}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="large_eval_") as tmp:
        for it in items:
            inp = os.path.join(out, it["input"])
            ref = np.asarray(load_rgb(os.path.join(out, it["reference"])))
            full = np.asarray(load_rgb(inp))
            if args.crop:
                H, W = full.shape[:2]
                c = min(args.crop, H, W)
                y, x = (H - c) // 2, (W - c) // 2
                full, ref = full[y:y + c, x:x + c].copy(), ref[y:y + c, x:x + c].copy()
                inp = os.path.join(tmp, "crop.png")
                Image.fromarray(full).save(inp)
            row = {"id": it["id"], "kind": it["kind"], "extent_px": it["extent_px"],
                   "width": int(full.shape[1]), "height": int(full.shape[0]),
                   "iterations": args.iterations, "crop": args.crop or None}
            t0 = time.perf_counter()
            try:
                if auto:
                    est = estimate_file(inp)
                    row["estimate"] = {k: est[k] for k in ("extent_px", "confidence", "sharpness")}
                    if est["sharpness"] > thr:
                        S = 0   # left alone
                    else:
                        S = suggest_scale(est["extent_px"], est["confidence"], ratio, max_ext)
                else:
                    S = S0
                row["scale"] = S
                if S == 0:
                    res, row["mode"] = full, "skipped (sharp)"
                elif S == 1 or native:
                    ext = os.path.splitext(inp)[1].lower() or ".png"
                    op = os.path.join(tmp, "out" + ext)
                    row["command"] = " ".join(_engine(args.engine, inp, op, args.iterations,
                                                      [] if S == 1 else ["--scale", str(S)], args.quality))
                    res = np.asarray(load_rgb(op))
                    row["mode"] = "engine" if S == 1 else "engine --scale"
                else:
                    res, cmd = deblur_scaled(args.engine, inp, full, S, args.iterations, tmp, args.quality)
                    row["command"] = " ".join(cmd)
                    row["mode"] = "emulated (area down, engine, bicubic correction up)"
                row["seconds"] = round(time.perf_counter() - t0, 2)
                row["psnr_input"] = round(psnr(full, ref), 3)
                row["psnr_output"] = round(psnr(res, ref), 3)
                row["gain_db"] = round(row["psnr_output"] - row["psnr_input"], 3)
                print(f"{it['id']}: S={S} {row['seconds']:.1f} s  {row['psnr_input']:.2f} -> "
                      f"{row['psnr_output']:.2f} dB ({row['gain_db']:+.2f})", flush=True)
            except Exception as e:  # noqa: BLE001
                row["error"] = str(e)
                row["seconds"] = round(time.perf_counter() - t0, 2)
                print(f"{it['id']}: FAILED {e}", flush=True)
            rows.append(row)
    summary = {}
    for k in sorted({r["kind"] for r in rows}):
        rs = [r for r in rows if r["kind"] == k and "gain_db" in r]
        if rs:
            summary[k] = {"n": len(rs), "mean_gain_db": round(float(np.mean([r["gain_db"] for r in rs])), 3),
                          "mean_seconds": round(float(np.mean([r["seconds"] for r in rs])), 2)}
    res = {"engine": args.engine, "engine_scale_flag": native, "engine_args": ENGINE_ARGS, "scale": args.scale,
           "iterations": args.iterations, "only": args.only, "limit": args.limit, "crop": args.crop,
           "summary": summary, "items": rows}
    with open(args.json, "w") as fh:
        json.dump(res, fh, indent=1)
    print(f"summary: {summary}\n-> {args.json}")
    return 1 if any("error" in r for r in rows) else 0


# -------------------------------------------------------------------- main --

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make", help="make the large-photo validation set")
    p.add_argument("out_dir")
    p.add_argument("--seed", type=int, default=18)
    p.add_argument("--photos", type=int, default=8)
    p.set_defaults(func=make)
    p = sub.add_parser("estimate", help="no-reference blur extent and sharpness of images")
    p.add_argument("images", nargs="+")
    p.add_argument("--json")
    p.set_defaults(func=cmd_estimate)
    p = sub.add_parser("calibrate", help="estimators against the set's truth")
    p.add_argument("out_dir")
    p.add_argument("--extra", type=int, default=0,
                   help="further in-memory degradations per photo (set photos and unused wallpapers)")
    p.add_argument("--extra-seed", type=int, default=1018)
    p.add_argument("--extra-cache", help="folder to keep (and reuse) the extra JPEGs")
    p.add_argument("--max-extent", type=float, default=MAX_NET_EXTENT)
    p.add_argument("--json")
    p.set_defaults(func=calibrate)
    p = sub.add_parser("run", help="run the engine over the set and measure")
    p.add_argument("out_dir")
    p.add_argument("--engine", required=True, help="path to mtrnnctl")
    p.add_argument("--scale", default="1", help="1, 2, 3, 4 (or any > 1), or auto (estimator + calibration)")
    p.add_argument("--iterations", type=int, default=6)
    p.add_argument("--only", help="kinds, comma-separated: blurred, gopro_up, sharp, light")
    p.add_argument("--limit", type=int)
    p.add_argument("--crop", type=int, help="centred PX x PX crop of input and reference (quick tests)")
    p.add_argument("--quality", type=int, default=100, help="JPEG quality of the engine's JPEG outputs")
    p.add_argument("--engine-args", help='further deblur options for every engine call, as one string: '
                   '--engine-args="--stop-below 0"')
    p.add_argument("--emulate", action="store_true",
                   help="emulate --scale here even if the engine has it (to compare)")
    p.add_argument("--calibration", help="calibration.json for --scale auto (default OUT_DIR/calibration.json)")
    p.add_argument("--json", required=True)
    p.set_defaults(func=run)
    args = ap.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
