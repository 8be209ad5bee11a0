"""PyTorch running the same tiled job as `mtrnnctl deblur`, for the
side-by-side benchmark of issue 6 (scripts/bench.sh).

Identical work to the Swift pipeline (Sources/Deblur/TilePlan.swift and
TiledRunner.swift): the same tile grid as DeblurPipeline's
TilePlan(fitToImage: true) (--no-fit: the plain TilePlan): first tile at 0,
last ending at the image edge, the ones between spread evenly so that every
overlap is at least --overlap; a dimension smaller than a tile reflect-padded
up to a multiple of 4; each tile run through MT-RNN for --iterations; the
outputs blended with the same separable raised-cosine weights and normalised
by their sum, then rounded and clamped to 8 bits and encoded in the input's
format. Decoding and encoding use Pillow (libjpeg-turbo, the same default
IDCT as ours).

Tiles run one after another with every core inside each layer
(torch.set_num_threads), PyTorch's own way to use the cores; channels_last,
inference_mode; --precision bf16 wraps the network in CPU autocast.

    python3 training/bench_torch_tiled.py IN -o OUT [--weights W] [--iterations 6]
        [--tile 256] [--overlap 16] [--threads N] [--precision f32|bf16] [--quality 95] [--json]

Prints the seconds from decode to the written file (the span `mtrnnctl deblur`
reports), without loading the weights; --json prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from PIL import Image, JpegImagePlugin

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evaluate import load_model  # noqa: E402

FLOPS_PER_PIXEL_PER_ITERATION = 736_320


# --- TilePlan.swift, line for line -------------------------------------------

def count(length, tile, overlap):
    if length <= tile:
        return 1
    stride = tile - overlap
    return (length - overlap + stride - 1) // stride


def starts(length, tile, overlap):
    return spread(length, tile, count(length, tile, overlap))


def spread(length, ext, n):
    if length <= ext or n <= 1:
        return [0]
    last = length - ext
    return [(i * last) // (n - 1) for i in range(n)]


def extent(length, tile, alignment=4):
    return tile if length >= tile else (length + alignment - 1) // alignment * alignment


def fitted_extent(length, tile, overlap, alignment=4, fit=True):
    """TilePlan(fitToImage: true): same count, smallest aligned extent keeping the overlap."""
    n = count(length, tile, overlap)
    if not fit or n <= 1:
        return extent(length, tile, alignment)
    needed = (length + (n - 1) * overlap + n - 1) // n
    return min(tile, (needed + alignment - 1) // alignment * alignment)


def raised_cosine(i, band):
    # Computed in double, stored as float, as the Swift code does.
    return np.float32(0.5 - 0.5 * math.cos(math.pi * (i + 0.5) / band))


def ramp(st, index, ext):
    w = np.ones(ext, dtype=np.float32)
    if index > 0:
        band = st[index - 1] + ext - st[index]
        for i in range(min(band, ext)):
            w[i] *= raised_cosine(i, band)
    if index + 1 < len(st):
        band = st[index] + ext - st[index + 1]
        for i in range(min(band, ext)):
            w[ext - 1 - i] *= raised_cosine(i, band)
    return w


def axis_weights(st, ext, length):
    weights = [ramp(st, i, ext) for i in range(len(st))]
    total = np.zeros(length, dtype=np.float32)
    for s, w in zip(st, weights):
        n = min(ext, length - s)
        total[s:s + n] += w[:n]
    return weights, total


def reflect(i, length):
    """numpy 'reflect' (edge not repeated), periodic: TilePlan.swift's reflect()."""
    i = np.asarray(i)
    if length == 1:
        return np.zeros_like(i)
    period = 2 * (length - 1)
    m = np.mod(i, period)
    return np.where(m < length, m, period - m)


class Plan:
    def __init__(self, width, height, tile=256, overlap=32, alignment=4, fit=True):
        self.width, self.height = width, height
        self.tw = fitted_extent(width, tile, overlap, alignment, fit)
        self.th = fitted_extent(height, tile, overlap, alignment, fit)
        self.cols = spread(width, self.tw, count(width, tile, overlap))
        self.rows = spread(height, self.th, count(height, tile, overlap))
        self.wx, self.sum_x = axis_weights(self.cols, self.tw, width)
        self.wy, self.sum_y = axis_weights(self.rows, self.th, height)

    @property
    def tiles(self):
        # Row-major, as TilePlan.tiles.
        return [(r, c) for r in range(len(self.rows)) for c in range(len(self.cols))]


# --- the tiled run -----------------------------------------------------------

def run_tiled(model, planar, plan, iterations, precision):
    """planar: float32 [3, H, W] on 0..255; returns the blended [3, H, W]."""
    H, W = plan.height, plan.width
    acc = np.zeros_like(planar)
    for r, c in plan.tiles:
        y, x = plan.rows[r], plan.cols[c]
        ys = reflect(np.arange(y, y + plan.th), H)
        xs = reflect(np.arange(x, x + plan.tw), W)
        if y + plan.th <= H and x + plan.tw <= W:
            tile = planar[:, y:y + plan.th, x:x + plan.tw]
        else:
            tile = planar[:, ys][:, :, xs]
        inp = torch.from_numpy(np.ascontiguousarray(tile)).unsqueeze(0).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            if precision == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    out = model.run(inp, iterations)
            else:
                out = model.run(inp, iterations)
        out = out.float()[0].numpy()
        rows, cols = min(plan.th, H - y), min(plan.tw, W - x)
        weight = plan.wy[r][:rows, None] * plan.wx[c][None, :cols]
        acc[:, y:y + rows, x:x + cols] += out[:, :rows, :cols] * weight
    acc /= plan.sum_y[None, :, None] * plan.sum_x[None, None, :]
    return acc


def decode(path):
    """The photo as float32 planar RGB 0..255, and the Pillow image (for its format)."""
    im = Image.open(path)
    im.load()
    rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)), im


def encode(planar, like, path, quality):
    # Swift rounds half away from zero; numpy half to even: only exact .5 differ.
    u8 = np.clip(np.floor(planar + 0.5), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    out = Image.fromarray(np.ascontiguousarray(u8), "RGB")
    if (like.format or "").upper() == "JPEG":
        # The input's chroma subsampling, as the Swift encoder keeps it.
        sampling = JpegImagePlugin.get_sampling(like)
        out.save(path, "JPEG", quality=quality, subsampling=sampling if sampling >= 0 else 0,
                 optimize=True, exif=like.info.get("exif", b""), icc_profile=like.info.get("icc_profile"))
    else:
        out.save(path, like.format or "PNG")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("-o", "--output", required=True)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--weights", default=os.path.join(here, "..", "Models", "mtrnn.safetensors"))
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--overlap", type=int, default=16)  # TilePlan.defaultOverlap
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--precision", default="f32", choices=["f32", "bf16"])
    ap.add_argument("--quality", type=int, default=95)
    ap.add_argument("--no-fit", action="store_true",
                    help="tiles of exactly --tile (TilePlan without fitToImage; the pipeline fits)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    model = load_model(args.weights)
    start = time.perf_counter()
    cpu_start = time.process_time()
    planar, like = decode(args.input)
    _, H, W = planar.shape
    plan = Plan(W, H, args.tile, args.overlap, fit=not args.no_fit)
    result = run_tiled(model, planar, plan, args.iterations, args.precision)
    encode(result, like, args.output, args.quality)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    flop = FLOPS_PER_PIXEL_PER_ITERATION * W * H * args.iterations
    record = {"engine": "pytorch-tiled", "precision": args.precision, "width": W, "height": H,
              "tiles": len(plan.tiles), "tile": args.tile, "tile_extent": [plan.tw, plan.th], "overlap": args.overlap,
              "iterations": args.iterations, "threads": args.threads, "seconds": seconds,
              "cpu_seconds": cpu, "gflops": flop / seconds / 1e9, "torch": torch.__version__}
    if args.json:
        print(json.dumps(record, sort_keys=True))
    else:
        print(f"{args.input} -> {args.output}: {W * H / 1e6:.1f} MP, {len(plan.tiles)} tiles, {seconds:.1f} s "
              f"({record['gflops']:.1f} GFLOP/s counting image pixels only)")


if __name__ == "__main__":
    main()
