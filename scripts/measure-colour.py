#!/usr/bin/env python3
"""What converting a photo's colour profile to sRGB and back changes (issue 19).

    python3 scripts/measure-colour.py [--mtrnnctl .build/release/mtrnnctl] [--size 1536x1024]

Makes an sRGB test photo (scripts/make-test-photo.py, then a 9 px horizontal
blur), converts it with Little CMS (float) to Adobe RGB (1998) in 8 bits,
ProPhoto in 16 bits and linear sRGB in 16 bits, each with its profile
embedded (PNG iCCP), and deblurs every one with Models/mtrnn.safetensors
twice: `--colour-profile convert` (the default) and `ignore` (the values
taken as sRGB, as before issue 19). Each result is brought back to sRGB
through its embedded profile and compared with the result of the sRGB photo
itself, both rounded to 8-bit sRGB as a display shows them: CIEDE2000 mean,
95th percentile and maximum, and PSNR. The rows "the photo itself" are the
floor: the test photo converted and back, without the network. Then the time: the same with a 24 MP Adobe RGB photo at --scale 4 and
1 iteration, where the network costs least, convert against ignore.

Needs numpy and Pillow (to read the test photo) and liblcms2 (ctypes); it
reads the results with its own PNG decoder (16-bit samples included).
"""
import argparse
import ctypes
import ctypes.util
import os
import resource
import subprocess
import sys
import tempfile
import time
import zlib
import struct

import numpy as np
from PIL import Image

lcms = ctypes.CDLL(ctypes.util.find_library("lcms2") or "liblcms2.so.2")
lcms.cmsCreate_sRGBProfile.restype = ctypes.c_void_p
lcms.cmsCreateRGBProfile.restype = ctypes.c_void_p
lcms.cmsCreateRGBProfile.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
lcms.cmsBuildGamma.restype = ctypes.c_void_p
lcms.cmsBuildGamma.argtypes = [ctypes.c_void_p, ctypes.c_double]
lcms.cmsSaveProfileToMem.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
lcms.cmsOpenProfileFromMem.restype = ctypes.c_void_p
lcms.cmsOpenProfileFromMem.argtypes = [ctypes.c_char_p, ctypes.c_uint32]
lcms.cmsCreateTransform.restype = ctypes.c_void_p
lcms.cmsCreateTransform.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32]
lcms.cmsDoTransform.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32]
lcms.cmsDeleteTransform.argtypes = [ctypes.c_void_p]
lcms.cmsCloseProfile.argtypes = [ctypes.c_void_p]

TYPE_RGB_FLT = (1 << 22) | (4 << 16) | (3 << 3) | 4
FLAGS = 0x0040 | 0x0100   # NOCACHE | NOOPTIMIZE, as PhotoIO's ColourConversion


class xyY(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double), ("Y", ctypes.c_double)]


def save(profile):
    size = ctypes.c_uint32(0)
    lcms.cmsSaveProfileToMem(profile, None, ctypes.byref(size))
    buf = ctypes.create_string_buffer(size.value)
    lcms.cmsSaveProfileToMem(profile, buf, ctypes.byref(size))
    return buf.raw[:size.value]


def rgb_profile(r, g, b, white, gamma):
    wp = xyY(white[0], white[1], 1.0)
    prim = (xyY * 3)(xyY(r[0], r[1], 1.0), xyY(g[0], g[1], 1.0), xyY(b[0], b[1], 1.0))
    curve = lcms.cmsBuildGamma(None, gamma)
    curves = (ctypes.c_void_p * 3)(curve, curve, curve)
    p = lcms.cmsCreateRGBProfile(ctypes.byref(wp), prim, curves)
    data = save(p)
    lcms.cmsCloseProfile(p)
    return data


SRGB = save(lcms.cmsCreate_sRGBProfile())
PROFILES = {
    "Adobe RGB (1998)": rgb_profile((0.64, 0.33), (0.21, 0.71), (0.15, 0.06), (0.3127, 0.3290), 563 / 256),
    "ProPhoto (ROMM)": rgb_profile((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001), (0.3457, 0.3585), 1.8),
    "linear sRGB": rgb_profile((0.64, 0.33), (0.30, 0.60), (0.15, 0.06), (0.3127, 0.3290), 1.0),
}


def convert(rgb01, src, dst):
    """Float RGB (..., 3), 0..1, from the profile bytes src to dst (unbounded)."""
    a = lcms.cmsOpenProfileFromMem(src, len(src))
    b = lcms.cmsOpenProfileFromMem(dst, len(dst))
    t = lcms.cmsCreateTransform(a, TYPE_RGB_FLT, b, TYPE_RGB_FLT, 1, FLAGS)
    x = np.ascontiguousarray(rgb01, dtype=np.float32)
    out = np.empty_like(x)
    lcms.cmsDoTransform(t, x.ctypes.data, out.ctypes.data, x.size // 3)
    lcms.cmsDeleteTransform(t)
    lcms.cmsCloseProfile(a)
    lcms.cmsCloseProfile(b)
    return out


def write_png(path, samples, bits, icc):
    """RGB, 8 or 16 bits, with an iCCP chunk when icc is given."""
    h, w, _ = samples.shape
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = samples.astype(">u2" if bits == 16 else np.uint8).tobytes()
    stride = w * 3 * bits // 8
    rows = b"".join(b"\0" + raw[y * stride:(y + 1) * stride] for y in range(h))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, 2, 0, 0, 0))
    if icc is not None:
        out += chunk(b"iCCP", b"profile\0\0" + zlib.compress(icc))
    out += chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def read_png(path):
    """RGB or RGBA 8/16-bit, non-interlaced PNG -> (samples float array (h, w, 3) 0..1, icc bytes or None)."""
    data = open(path, "rb").read()
    pos, idat, icc = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, bits, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"iCCP":
            icc = zlib.decompress(body[body.index(b"\0") + 2:])
        pos += 12 + n
    assert interlace == 0 and ctype in (2, 6), (ctype, interlace)
    channels = 3 if ctype == 2 else 4
    bpp = channels * bits // 8
    stride = w * bpp
    raw = zlib.decompress(idat)
    out = bytearray(h * stride)
    prev = bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        cur = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for x in range(bpp, stride):
                cur[x] = (cur[x] + cur[x - bpp]) & 255
        elif f == 2:
            for x in range(stride):
                cur[x] = (cur[x] + prev[x]) & 255
        elif f == 3:
            for x in range(stride):
                cur[x] = (cur[x] + (((cur[x - bpp] if x >= bpp else 0) + prev[x]) >> 1)) & 255
        elif f == 4:
            for x in range(stride):
                a = cur[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                cur[x] = (cur[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out[y * stride:(y + 1) * stride] = cur
        prev = cur
    out = np.frombuffer(bytes(out), dtype=np.uint8).astype(np.int32).reshape(h, stride)
    if bits == 16:
        v = (out[:, 0::2] << 8 | out[:, 1::2]).reshape(h, w, channels) / 65535.0
    else:
        v = out.reshape(h, w, channels) / 255.0
    return v[..., :3], icc


def srgb_to_lab(rgb):
    rgb = np.clip(rgb, 0, 1).astype(np.float64)
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    d = 6 / 29
    f = np.where(xyz > d ** 3, np.cbrt(xyz), xyz / (3 * d * d) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def ciede2000(lab1, lab2):
    """CIEDE2000 (Sharma, Wu, Dalal 2005), kL = kC = kH = 1."""
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    C1, C2 = np.hypot(a1, b1), np.hypot(a2, b2)
    Cm = (C1 + C2) / 2
    G = 0.5 * (1 - np.sqrt(Cm ** 7 / (Cm ** 7 + 25.0 ** 7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p, C2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dLp = L2 - L1
    dCp = C2p - C1p
    dh = h2p - h1p
    dh = np.where(C1p * C2p == 0, 0, np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh)))
    dHp = 2 * np.sqrt(C1p * C2p) * np.sin(np.radians(dh) / 2)
    Lpm = (L1 + L2) / 2
    Cpm = (C1p + C2p) / 2
    hsum = h1p + h2p
    hpm = np.where(C1p * C2p == 0, hsum,
                   np.where(np.abs(h1p - h2p) <= 180, hsum / 2, np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2)))
    T = (1 - 0.17 * np.cos(np.radians(hpm - 30)) + 0.24 * np.cos(np.radians(2 * hpm))
         + 0.32 * np.cos(np.radians(3 * hpm + 6)) - 0.20 * np.cos(np.radians(4 * hpm - 63)))
    dtheta = 30 * np.exp(-((hpm - 275) / 25) ** 2)
    Rc = 2 * np.sqrt(Cpm ** 7 / (Cpm ** 7 + 25.0 ** 7))
    Sl = 1 + 0.015 * (Lpm - 50) ** 2 / np.sqrt(20 + (Lpm - 50) ** 2)
    Sc = 1 + 0.045 * Cpm
    Sh = 1 + 0.015 * Cpm * T
    Rt = -np.sin(np.radians(2 * dtheta)) * Rc
    return np.sqrt((dLp / Sl) ** 2 + (dCp / Sc) ** 2 + (dHp / Sh) ** 2 + Rt * (dCp / Sc) * (dHp / Sh))


def compare(srgb_a, srgb_b):
    """Both as an 8-bit sRGB display shows them (the sRGB photo's result is 8-bit)."""
    srgb_a, srgb_b = np.round(np.clip(srgb_a, 0, 1) * 255) / 255, np.round(np.clip(srgb_b, 0, 1) * 255) / 255
    de = ciede2000(srgb_to_lab(srgb_a), srgb_to_lab(srgb_b)).ravel()
    a8, b8 = np.clip(srgb_a, 0, 1) * 255, np.clip(srgb_b, 0, 1) * 255
    mse = np.mean((a8 - b8) ** 2)
    psnr = float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)
    return de.mean(), np.percentile(de, 95), de.max(), psnr


def deblur(mtrnnctl, src, out, extra, cpu=False):
    """Wall seconds of one `mtrnnctl deblur` (with cpu: its user + system CPU seconds too)."""
    t = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([mtrnnctl, "deblur", src, "-o", out, "--overwrite", "--weights", "Models/mtrnn.safetensors",
                    "--sharp-photos", "process"] + extra, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.monotonic() - t
    if cpu:
        return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mtrnnctl", default=".build/release/mtrnnctl")
    ap.add_argument("--size", default="1536x1024")
    ap.add_argument("--large", default="6000x4000", help="the timing photo (empty: no timing)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--timing-only", action="store_true", help="only the convert-against-ignore timing")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    work = tempfile.mkdtemp(prefix="measure-colour-")

    def test_photo(size, name):
        jpg = os.path.join(work, name + ".jpg")
        subprocess.run([sys.executable, os.path.join(here, "make-test-photo.py"), size, jpg, "--seed", "19"], check=True)
        rgb = np.asarray(Image.open(jpg).convert("RGB"), dtype=np.float32) / 255
        k = 9   # a horizontal shake of 9 px, in linear light
        lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        pad = np.pad(lin, ((0, 0), (k // 2, k // 2), (0, 0)), mode="edge")
        blurred = sum(pad[:, i:i + lin.shape[1]] for i in range(k)) / k
        enc = np.where(blurred <= 0.0031308, blurred * 12.92, 1.055 * blurred ** (1 / 2.4) - 0.055)
        return np.round(np.clip(enc, 0, 1) * 255) / 255

    if args.timing_only:
        args.size = "64x64"   # the comparison still runs, on a token photo
    srgb = test_photo(args.size, "photo")
    ref_in = os.path.join(work, "srgb.png")
    write_png(ref_in, np.round(srgb * 255), 8, None)
    common = ["--stop-below", "0"]
    t_ref = deblur(args.mtrnnctl, ref_in, os.path.join(work, "srgb-out.png"), common)
    ref_out, _ = read_png(os.path.join(work, "srgb-out.png"))
    h, w, _ = srgb.shape
    print(f"photo {w}x{h}, sRGB path {t_ref:.1f} s; results compared with the sRGB photo's, in sRGB (CIEDE2000; PSNR on 8-bit sRGB)")
    m, p95, mx, psnr = compare(srgb, ref_out)
    print(f"what the network changes on the sRGB photo (its result against it): mean dE00 {m:.3f}, 95th pct {p95:.3f}, max {mx:.2f}, PSNR {psnr:.1f} dB")
    print("| photo | colour_profile | mean dE00 | 95th pct | max | PSNR (dB) | seconds |")
    print("|---|---|---|---|---|---|---|")
    for (name, icc), bits in zip(PROFILES.items(), (8, 16, 16)):
        encoded = convert(srgb, SRGB, icc)
        top = 255 if bits == 8 else 65535
        q = np.round(np.clip(encoded, 0, 1) * top)
        path = os.path.join(work, f"{bits}-{name.split()[0]}.png")
        write_png(path, q, bits, icc)
        back = convert(q / top, icc, SRGB)
        m, p95, mx, psnr = compare(srgb, back)
        print(f"| {name} {bits}-bit, the photo itself | | {m:.3f} | {p95:.3f} | {mx:.2f} | {psnr:.1f} | |")
        for mode in ("convert", "ignore"):
            out = path[:-4] + f"-{mode}.png"
            seconds = deblur(args.mtrnnctl, path, out, common + ["--colour-profile", mode])
            result, kept = read_png(out)
            assert kept == icc, "the embedded profile changed"
            m, p95, mx, psnr = compare(ref_out, convert(result, icc, SRGB))
            print(f"| {name} {bits}-bit | {mode} | {m:.3f} | {p95:.3f} | {mx:.2f} | {psnr:.1f} | {seconds:.1f} |")

    if args.large:
        large = test_photo(args.large, "large")
        q = np.round(np.clip(convert(large, SRGB, PROFILES["Adobe RGB (1998)"]), 0, 1) * 255)
        path = os.path.join(work, "large-adobe.png")
        write_png(path, q, 8, PROFILES["Adobe RGB (1998)"])
        fast = ["--scale", "4", "--iterations", "1", "--stop-below", "0"]
        times = {"convert": [], "ignore": []}
        for _ in range(args.repeats):
            for mode in ("ignore", "convert"):
                times[mode].append(deblur(args.mtrnnctl, path, path[:-4] + "-out.png", fast + ["--colour-profile", mode], cpu=True))
        lw, lh = (int(v) for v in args.large.split("x"))
        mp = lw * lh / 1e6
        wall = {k: min(t[0] for t in v) for k, v in times.items()}
        cpu = {k: min(t[1] for t in v) for k, v in times.items()}
        print(f"\ntime, {lw}x{lh} Adobe RGB 8-bit PNG, --scale 4 --iterations 1 (best of {args.repeats}; load average {os.getloadavg()[0]:.1f}): "
              f"wall ignore {wall['ignore']:.1f} s, convert {wall['convert']:.1f} s (+{wall['convert'] - wall['ignore']:.1f} s); "
              f"CPU ignore {cpu['ignore']:.1f} s, convert {cpu['convert']:.1f} s (+{cpu['convert'] - cpu['ignore']:.1f} s, "
              f"{(cpu['convert'] - cpu['ignore']) / mp:.2f} CPU s per MP)")


if __name__ == "__main__":
    main()
