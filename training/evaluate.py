"""Validation table for the model card: PSNR and SSIM of the blurred input and
of iterations 1..8, on the cross-scene GoPro pairs (whole frames: the headline,
what a user's photo of an unseen scene gets), and for each start TL 7, 9, 11,
13 on the GoPro validation frames and on the photo validation set.

    python3 training/evaluate.py WEIGHTS(.pt|.safetensors) [--json OUT] [--no-cross-scene]
        [--engine .build/release/mtrnnctl]

--engine also runs the cross-scene pairs through the Swift engine the daemon
uses (`mtrnnctl deblur`, tiled, 5 and 6 iterations) and records its PSNR next
to PyTorch's; the two agree to about 0.01 dB when the engine is right.

Validation data (never trained on): the four GOPR0374 cross-scene pairs
(1280x720, real 8- or 10-frame blur, whole frames); GoPro frames 260..299 (centres every 4th
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


@torch.no_grad()
def evaluate_cross_scene(model, max_iter=8, pairs=None):
    """Whole-frame PSNR/SSIM of each cross-scene pair at iterations 0..max_iter,
    and their mean under the key "cross_scene/mean"."""
    out = {}
    for name, blur, sharp in pairs or data.cross_scene_pairs():
        x = blur[None].contiguous(memory_format=torch.channels_last)
        tgt = sharp[None]
        ps, ss = [data.psnr(x, tgt).item()], [ssim(x, tgt).item()]
        x_d, f1, f2 = x, None, None
        for _ in range(max_iter):
            x_d, f1, f2 = model(x, x_d, f1, f2)
            ps.append(data.psnr(x_d, tgt).item())
            ss.append(ssim(x_d, tgt).item())
        out[f"cross_scene/{name}"] = {"psnr": np.round(ps, 3).tolist(), "ssim": np.round(ss, 4).tolist(), "n": 1}
    keys = list(out)
    out["cross_scene/mean"] = {m: np.round(np.mean([out[k][m] for k in keys], 0), 4).tolist() for m in ("psnr", "ssim")}
    out["cross_scene/mean"]["n"] = len(keys)
    return out


def engine_psnr(mtrnnctl, weights, iterations=(5, 6), pairs=None):
    """PSNR of the cross-scene pairs deblurred by the Swift engine (`mtrnnctl
    deblur`, the daemon's code path, default tiling), per iteration count."""
    import subprocess
    import tempfile
    from PIL import Image
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, blur, sharp in pairs or data.cross_scene_pairs():
            src = os.path.join(data.DATA, data.CROSS_SCENE_DIR, name + "_blur.png")
            row = {"0": round(data.psnr(blur[None], sharp[None]).item(), 3)}  # the blurred input
            for it in iterations:
                dst = os.path.join(tmp, f"{name}-{it}.png")
                # exactly `it` iterations: the weights are measured, not the early stop
                subprocess.run([mtrnnctl, "deblur", "--sharp-photos", "process", "--weights", weights, "--iterations", str(it), "--stop-below", "0",
                                "-o", dst, src],
                               check=True, stdout=subprocess.DEVNULL)
                got = torch.from_numpy(np.asarray(Image.open(dst).convert("RGB")).copy()).permute(2, 0, 1).float()
                row[str(it)] = round(data.psnr(got[None], sharp[None]).item(), 3)
            out[name] = row
    out["mean"] = {str(it): round(float(np.mean([out[k][str(it)] for k in out])), 3) for it in (0, *iterations)}
    return out


def mean_gains(res):
    """Mean PSNR gain at 6 iterations, per set in `res`: over the start TLs for
    the GoPro frames and the photos, over the pairs for the cross-scene set."""
    g = {}
    if "cross_scene/mean" in res:
        p = res["cross_scene/mean"]["psnr"]
        g["cross_scene"] = float(p[6] - p[0])
    elif "engine" in res:  # only the Swift engine's figures (the learning curve of older weights)
        e = res["engine"]["mean"]
        g["cross_scene"] = float(e["6"] - e["0"])
    g.update({name: float(np.mean([res[f"{name}/TL{s}"]["psnr"][6] - res[f"{name}/TL{s}"]["psnr"][0] for s in LEVELS]))
              for name in ("gopro", "photos") if f"{name}/TL7" in res})
    return g


def markdown(res, max_iter=8):
    head = "| set | start TL or pair | metric | blurred | " + " | ".join(f"it {i}" for i in range(1, max_iter + 1)) + " |"
    lines = [head, "|" + "---|" * (max_iter + 4)]
    for key, r in res.items():
        if key == "engine":
            continue
        name, tl = key.split("/")
        tl = tl[2:] if tl.startswith("TL") else tl
        for metric, fmt in (("psnr", "{:.2f}"), ("ssim", "{:.4f}")):
            lines.append(f"| {name} | {tl} | {metric.upper()} | " + " | ".join(fmt.format(v) for v in r[metric]) + " |")
    gains = mean_gains(res)
    lines.append("")
    lines.append("Mean PSNR gain at 6 iterations (cross-scene: over the pairs, whole frames; others: over TL 7-13): " +
                 ", ".join(f"{k} {v:+.2f} dB" for k, v in gains.items()))
    if "engine" in res and "cross_scene/mean" in res:
        e, p = res["engine"]["mean"], res["cross_scene/mean"]["psnr"]
        lines.append("")
        lines.append("Cross-scene through the Swift engine (`mtrnnctl deblur`, tiled): " +
                     ", ".join(f"{it} iterations {e[it]:.2f} dB (PyTorch {p[int(it)]:.2f}, gain {e[it] - e['0']:+.2f})"
                               for it in e if it != "0"))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights")
    ap.add_argument("--json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-iter", type=int, default=8)
    ap.add_argument("--no-cross-scene", action="store_true", help="skip the whole-frame cross-scene pairs (slow on CPU)")
    ap.add_argument("--engine", metavar="MTRNNCTL",
                    help="also deblur the cross-scene pairs with this mtrnnctl (5 and 6 iterations)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model = load_model(a.weights)
    res = {} if a.no_cross_scene else evaluate_cross_scene(model, a.max_iter)
    res.update(evaluate(model, eval_sets(), a.max_iter))
    if a.engine:
        w = a.weights
        if not w.endswith(".safetensors"):
            import tempfile
            from export import export
            w = os.path.join(tempfile.mkdtemp(), "w.safetensors")
            export(load_weights(a.weights), w)
        res["engine"] = engine_psnr(a.engine, w)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    print(markdown(res, a.max_iter))


if __name__ == "__main__":
    main()
