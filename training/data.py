"""Temporal-level (TL) ladders for incremental temporal training.

A ladder is (TL 13, TL 11, ..., TL 3, TL 1) of one scene: TL N is the mean of N
consecutive sub-frames around a centre frame, TL 1 the centre frame itself.

* GoPro frames (`../shared/data/gopro_frames`, 240 fps): real sub-frames.
* Still photos: a crop window moved along a random smooth camera path
  (translation with acceleration, small rotation and zoom, and sometimes a
  second layer moving on its own for a dynamic scene) renders the sub-frames.

Averaging is done in linear light (GOPRO `blur_gamma`) or on sRGB values
(GOPRO `blur`), chosen per sample. Ladders are quantised to 8 bits, as the
photos the daemon sees are.

Split (fixed, never trained on): GoPro frames 260..299 and ten Kodak photos
(VAL_PHOTOS). Everything here works on CPU tensors in 0..255.
"""
from __future__ import annotations

import glob
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

DATA = os.environ.get("MTRNN_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
GOPRO_DIR = "gopro_frames/GOPR0477_11_00"
CROSS_SCENE_DIR = "gopro_cross_scene"  # real blur/sharp pairs of another scene: validation only, never trained on
GOPRO_VAL_FIRST = 260          # frames 260..299 (1-based) are validation only
VAL_PHOTOS = [f"photos/kodak24/kodim{i:02d}.jpg" for i in (1, 3, 5, 7, 9, 11, 13, 15, 17, 19)]
LEVELS = (13, 11, 9, 7, 5, 3, 1)
HALF = 6                        # sub-frames each side of the centre for TL 13


def srgb_to_linear(x):  # x in 0..1
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x):
    x = x.clamp(0, 1)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(1e-12) ** (1 / 2.4) - 0.055)


def ladder_from_subframes(sub, linear: bool, q: int = 1):
    """sub: [2*HALF*q+1, 3, H, W] in 0..1 (sRGB): the sub-frames, q per frame
    interval. Returns {N: [3,H,W] 0..255, 8-bit quantised}."""
    src = srgb_to_linear(sub) if linear else sub
    c = (sub.shape[0] - 1) // 2
    out = {}
    for n in LEVELS:
        k = (n - 1) // 2 * q
        m = src[c - k:c + k + 1].mean(0)
        if linear:
            m = linear_to_srgb(m)
        out[n] = (m * 255).round().clamp(0, 255)
    return out


def load_rgb(path, max_side=None):
    im = Image.open(path).convert("RGB")
    if max_side and max(im.size) > max_side:
        s = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
    return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).contiguous()  # uint8 [3,H,W]


class GoProFrames:
    """`device`: where the frames live and ladders are made (a GPU makes them
    itself instead of waiting on the CPU)."""

    def __init__(self, root=DATA, split="train", device="cpu"):
        files = sorted(glob.glob(os.path.join(root, GOPRO_DIR, "*.jpg")) + glob.glob(os.path.join(root, GOPRO_DIR, "*.png")))
        if not files:
            raise FileNotFoundError(f"no GoPro frames under {os.path.join(root, GOPRO_DIR)}")
        first = GOPRO_VAL_FIRST - 1
        files = files[:first] if split == "train" else files[first:]
        self.frames = torch.stack([load_rgb(f) for f in files]).to(device)  # [T,3,H,W] uint8
        self.centres = list(range(HALF, len(files) - HALF))

    def ladder(self, c, y, x, size, linear):
        sub = self.frames[c - HALF:c + HALF + 1, :, y:y + size, x:x + size].float() / 255
        return ladder_from_subframes(sub, linear)

    def random_ladder(self, rng, size, linear):
        c = self.centres[rng.integers(len(self.centres))]
        _, _, H, W = self.frames.shape
        return self.ladder(c, int(rng.integers(H - size + 1)), int(rng.integers(W - size + 1)), size, linear)


class Photos:
    """Still photos (long side capped at `max_side`, roughly 720p-like scale)."""

    def __init__(self, root=DATA, split="train", max_side=1280, device="cpu"):
        all_files = sorted(f for f in glob.glob(os.path.join(root, "photos", "*", "*"))
                           if f.lower().endswith((".jpg", ".jpeg", ".png")))
        val = {os.path.normpath(os.path.join(root, p)) for p in VAL_PHOTOS}
        keep = [f for f in all_files if (os.path.normpath(f) in val) == (split == "val")]
        self.files = keep
        self.images = []
        for f in keep:
            img = load_rgb(f, max_side)
            if "urban100" in f:  # a few carry photo borders: trim a margin
                img = img[:, 16:-16, 16:-16]
            self.images.append(img.contiguous().to(device))

    def random_ladder(self, rng, size, linear, dynamic_p=0.3, max_speed=3.0, index=None, smooth=False,
                      log_speed=False):
        img = self.images[rng.integers(len(self.images)) if index is None else index]
        return synth_ladder(img, rng, size, linear, dynamic_p, max_speed, smooth, log_speed)


def _affine_grid(n, size, src, tx, ty, rot, zoom):
    """Sampling grid for n sub-frames: output pixel p maps to the source centre
    + R(rot) * p / zoom + t, all in source pixels, normalised for grid_sample.
    Made on the device of `tx`."""
    dev = tx.device
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32, device=dev) - (size - 1) / 2,
                            torch.arange(size, dtype=torch.float32, device=dev) - (size - 1) / 2, indexing="ij")
    c, s = torch.cos(rot)[:, None, None], torch.sin(rot)[:, None, None]
    z = zoom[:, None, None]
    sx = (c * xs - s * ys) / z + tx[:, None, None] + (src - 1) / 2
    sy = (s * xs + c * ys) / z + ty[:, None, None] + (src - 1) / 2
    return torch.stack([sx / (src - 1) * 2 - 1, sy / (src - 1) * 2 - 1], -1)


def _path(rng, n, max_speed, device="cpu", log_speed=False):
    """A smooth random camera path over n sub-frames centred on 0. `log_speed`:
    draw the speed log-uniformly, so that short blur (most real photos) stays
    as common as with a small `max_speed` while long blur is still seen."""
    k = torch.arange(n, dtype=torch.float32) - (n - 1) / 2
    speed = math.exp(rng.uniform(math.log(0.2), math.log(max_speed))) if log_speed else rng.uniform(0.2, max_speed)
    ang = rng.uniform(0, 2 * math.pi)
    acc = rng.normal(0, 0.08, 2)
    jit = rng.normal(0, 0.15, (n, 2)).cumsum(0) * 0.3  # a little hand shake
    jit -= jit[(n - 1) // 2]
    tx = speed * math.cos(ang) * k + 0.5 * acc[0] * k ** 2 + torch.from_numpy(jit[:, 0]).float()
    ty = speed * math.sin(ang) * k + 0.5 * acc[1] * k ** 2 + torch.from_numpy(jit[:, 1]).float()
    rot = torch.tensor(rng.normal(0, 0.0015)) * k          # radians per frame
    zoom = 1 + torch.tensor(rng.normal(0, 0.002)) * k
    return tuple(t.float().to(device) for t in (tx, ty, rot, zoom))


def _fine(path, q):
    """A per-frame path, linearly interpolated to q positions per frame interval."""
    if q == 1:
        return path
    return tuple(F.interpolate(t.float()[None, None], size=(t.shape[0] - 1) * q + 1, mode="linear",
                               align_corners=True)[0, 0] for t in path)


def synth_ladder(img, rng, size, linear, dynamic_p=0.3, max_speed=3.0, smooth=False, log_speed=False):
    """`smooth`: render enough sub-frames between frames that consecutive ones
    are at most about 1 px apart, so that long blur is a smooth streak, not
    13 ghost copies (needed above about 2 px per frame; the validation sets
    keep the original 13 sub-frames, for comparability)."""
    n = 2 * HALF + 1
    margin = int(math.ceil(HALF * (max_speed + 1.5))) + 8
    src = size + 2 * margin
    _, H, W = img.shape
    if H < src or W < src:  # small photo: upscale just enough
        s = src / min(H, W) + 1e-3
        img = F.interpolate(img[None].float(), scale_factor=s, mode="bicubic", align_corners=False)[0].clamp(0, 255)
        _, H, W = img.shape
    y, x = int(rng.integers(H - src + 1)), int(rng.integers(W - src + 1))
    crop = img[:, y:y + src, x:x + src].float() / 255
    cam = _path(rng, n, max_speed, img.device, log_speed)
    obj_path = None
    if rng.random() < dynamic_p:  # a second layer (an object) moving on its own
        obj_path = _path(rng, n, max_speed * 1.5, img.device, log_speed)
        # the object: another region of the photo, under a soft elliptical mask that moves with it
        y2, x2 = int(rng.integers(H - src + 1)), int(rng.integers(W - src + 1))
        a, b = rng.uniform(0.15, 0.45, 2)
        ox, oy = rng.uniform(-0.3, 0.3, 2)
    q = 1
    if smooth:
        step = max(float(torch.hypot(p[0].diff(), p[1].diff()).max()) for p in (cam, obj_path) if p is not None)
        q = int(min(8, max(1, math.ceil(step))))
    cam = _fine(cam, q)
    m = cam[0].shape[0]
    grid = _affine_grid(m, size, src, *cam)
    # many close sub-frames are averaged anyway: bilinear is enough there, and cheaper
    sub = F.grid_sample(crop[None].expand(m, -1, -1, -1), grid, mode="bicubic" if q == 1 else "bilinear",
                        padding_mode="reflection", align_corners=True).clamp(0, 1)
    if obj_path is not None:
        g2 = _affine_grid(m, size, src, *_fine(obj_path, q))
        obj = img[:, y2:y2 + src, x2:x2 + src].float() / 255
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, src, device=img.device),
                                torch.linspace(-1, 1, src, device=img.device), indexing="ij")
        mask = (1 - (((xx - ox) / a) ** 2 + ((yy - oy) / b) ** 2)).clamp(0, 0.15) / 0.15
        layer = torch.cat([obj, mask[None]], 0)
        lw = F.grid_sample(layer[None].expand(m, -1, -1, -1), g2, mode="bilinear",
                           padding_mode="zeros", align_corners=True)
        al = lw[:, 3:4]
        sub = sub * (1 - al) + lw[:, :3].clamp(0, 1) * al
    return ladder_from_subframes(sub, linear, q)


def augment(ladder, rng):
    """Same flip / 90-degree rotation for every level of a ladder."""
    k = int(rng.integers(4))
    flip = rng.random() < 0.5
    out = {}
    for n, t in ladder.items():
        t = torch.rot90(t, k, (1, 2))
        out[n] = torch.flip(t, (2,)) if flip else t
    return out


def stack(ladders):
    return {n: torch.stack([l[n] for l in ladders]) for n in LEVELS}


def psnr(a, b):
    mse = ((a.clamp(0, 255).round() - b) ** 2).mean(dim=(1, 2, 3))
    return 10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-10))


def cross_scene_pairs(root=DATA):
    """The real GoPro blur/sharp pairs of another scene (GOPR0374), whole
    frames: [(name, blur [3,H,W] float 0..255, sharp [3,H,W])]. Validation
    only: what a user's photo of a scene the net never saw looks like."""
    blurs = sorted(glob.glob(os.path.join(root, CROSS_SCENE_DIR, "*_blur.png")))
    if not blurs:
        raise FileNotFoundError(f"no *_blur.png pairs under {os.path.join(root, CROSS_SCENE_DIR)}")
    out = []
    for b in blurs:
        name = os.path.basename(b)[:-len("_blur.png")]
        out.append((name, load_rgb(b).float(), load_rgb(b[:-len("_blur.png")] + "_sharp.png").float()))
    return out


CROSS_SCENE_CROPS = "cross_scene_crops.npz"  # what pack_data.py keeps of the pairs (lossless crops)


def cross_scene_crops(size=256, root=DATA):
    """Fixed crops of the cross-scene pairs for the trainer's quick validation:
    two per pair (left and right of centre). Returns (blur [N,3,s,s], sharp),
    float 0..255. A packed data folder holds only these crops, losslessly."""
    packed = os.path.join(root, CROSS_SCENE_CROPS)
    if not os.path.isdir(os.path.join(root, CROSS_SCENE_DIR)) and os.path.exists(packed):
        z = np.load(packed)
        if z["blur"].shape[-1] != size:
            raise ValueError(f"{packed} holds {z['blur'].shape[-1]}-px crops, not {size}")
        return torch.from_numpy(z["blur"]).float(), torch.from_numpy(z["sharp"]).float()
    bl, sh = [], []
    for _, b, s in cross_scene_pairs(root):
        _, H, W = b.shape
        y = (H - size) // 2
        for x in (W // 4 - size // 2, 3 * W // 4 - size // 2):
            bl.append(b[:, y:y + size, x:x + size])
            sh.append(s[:, y:y + size, x:x + size])
    return torch.stack(bl), torch.stack(sh)


def fixed_val_batches(size=192, gopro=None, photos=None, seed=2020):
    """Deterministic validation ladders: GoPro val frames at fixed crops and the
    ten val photos with fixed camera paths. Returns {"gopro": stack, "photos": stack}."""
    rng = np.random.default_rng(seed)
    out = {}
    if gopro is not None:
        lad = []
        _, _, H, W = gopro.frames.shape
        for i, c in enumerate(gopro.centres[::max(1, len(gopro.centres) // 8)][:8]):
            lad.append(gopro.ladder(c, int(rng.integers(H - size)), int(rng.integers(W - size)), size, linear=i % 2 == 0))
        out["gopro"] = stack(lad)
    if photos is not None:
        lad = [synth_ladder(img, rng, size, linear=i % 2 == 0, dynamic_p=0.3) for i, img in enumerate(photos.images)]
        out["photos"] = stack(lad)
    return out
