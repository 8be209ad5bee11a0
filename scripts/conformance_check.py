#!/usr/bin/env python3
"""Conformance run over the public test suites in Tests/Conformance/<set>/.

Each set folder holds test files, SOURCE.md (where they come from, licence)
and expected.tsv (header "file<TAB>outcome<TAB>note"; outcome "ok" or
"refuse"; for "refuse" the note is text the error message must contain).

For every set: one `mtrnnctl deblur --iterations 1 --output-dir` run per
folder, then per file:
  ok     -> exit status 0 for its run, the output exists, same format, same
            width/height, the same transparent set (alpha == 0, or the tRNS
            key), and every metadata tag exiftool reads from the input
            (EXIF, IPTC, XMP, ICC, PNG text, JPEG trailers) still there with
            the same value, except tags that legitimately change.
  refuse -> non-zero exit status, no output, and a line on stderr that names
            the file and contains the note.
A file in a set folder that expected.tsv does not list is a failure.
Prints one line per file and "N passed, N failed"; exits 1 on any failure.
Needs numpy, Pillow and the exiftool command; no PyTorch.

A new set: a folder under Tests/Conformance with the files (subfolders are
fine), SOURCE.md and expected.tsv; tags that legitimately change for a new
format go in IGNORED_TAGS below.

Usage: conformance_check.py MTRNNCTL WEIGHTS [SET ...]
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib
from collections import defaultdict

import numpy as np
from PIL import Image

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CONFORMANCE = os.path.join(ROOT, "Tests", "Conformance")
BOOKKEEPING = {"SOURCE.md", "expected.tsv"}

# Tags that describe the file or the pixel encoding, which we rewrite.
IGNORED_TAGS = {
    "SourceFile",
    "File:FileName", "File:Directory", "File:FileSize", "File:FileModifyDate", "File:FileAccessDate",
    "File:FileInodeChangeDate", "File:FilePermissions", "File:FileType", "File:FileTypeExtension",
    "File:MIMEType", "File:EncodingProcess", "File:BitsPerSample", "File:ColorComponents",
    "File:YCbCrSubSampling", "File:ImageWidth", "File:ImageHeight",
    # An Adobe APP14's transform flag follows what is written (always YCbCr for colour).
    "Adobe:ColorTransform",
    # Bit depth and colour type: palette and 1/2/4-bit PNGs come out as 8-bit,
    # a tRNS key as an alpha channel (documented in mtrnnctl(1)).
    "PNG:BitDepth", "PNG:ColorType", "PNG:Compression", "PNG:Filter", "PNG:Transparency",
    "PNG:Palette",
    # TIFF: where and how the pixels are stored, which our encoder decides.
    "IFD0:StripOffsets", "IFD0:StripByteCounts", "IFD0:RowsPerStrip", "IFD0:TileOffsets",
    "IFD0:TileByteCounts", "IFD0:PlanarConfiguration",
}
IGNORED_GROUPS = ("System:", "Composite:", "ExifTool:", "MPF", "MPImage")
# Our processing note is appended to these: the input's values must remain.
NOTE_TAGS = {"File:Comment", "PNG:Software", "PNG:Comment", "IFD0:Software"}


def read_expected(set_dir):
    rows = {}
    with open(os.path.join(set_dir, "expected.tsv"), encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header != ["file", "outcome", "note"]:
            raise SystemExit(f"{set_dir}/expected.tsv: header must be file<TAB>outcome<TAB>note, not {header}")
        for number, line in enumerate(f, 2):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 3 or fields[1] not in ("ok", "refuse") or (fields[1] == "refuse" and not fields[2]):
                raise SystemExit(f"{set_dir}/expected.tsv:{number}: bad line {line!r}")
            rows[fields[0]] = (fields[1], fields[2])
    return rows


def set_files(set_dir):
    found = []
    for folder, _, names in os.walk(set_dir):
        for name in names:
            rel = os.path.relpath(os.path.join(folder, name), set_dir)
            if rel not in BOOKKEEPING:
                found.append(rel)
    return sorted(found)


def sniff(path):
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:4] in (b"II*\0", b"MM\0*"):
        return "tiff"
    return "unknown"


# ---------------------------------------------------------------- PNG pixels

def png_chunks(data):
    i, out = 8, []
    while i + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[i:i + 8])
        out.append((kind.decode("latin-1"), data[i + 8:i + 8 + length]))
        i += 12 + length
        if kind == b"IEND":
            break
    return out


def unfilter(raw, width, height, bits_per_pixel):
    """Rows of bytes of one (sub)image, PNG filters undone."""
    bpp = max(1, bits_per_pixel // 8)
    stride = (width * bits_per_pixel + 7) // 8
    rows, previous, i = [], np.zeros(stride, dtype=np.int32), 0
    for _ in range(height):
        kind = raw[i]
        line = np.frombuffer(raw[i + 1:i + 1 + stride], dtype=np.uint8).astype(np.int32)
        i += 1 + stride
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + previous) & 0xFF
        else:
            cur = line.copy()
            for x in range(stride):
                a = cur[x - bpp] if x >= bpp else 0
                b = previous[x]
                c = previous[x - bpp] if x >= bpp else 0
                if kind == 1:
                    p = a
                elif kind == 3:
                    p = (a + b) >> 1
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (cur[x] + p) & 0xFF
        rows.append(cur)
        previous = cur
    return rows, i


def unpack(rows, width, depth, samples):
    """Samples (height, width, samples) as integers in the stored depth."""
    out = np.zeros((len(rows), width, samples), dtype=np.int64)
    for y, row in enumerate(rows):
        row = row.astype(np.uint8)
        if depth == 16:
            values = row.view(">u2").astype(np.int64)
        elif depth == 8:
            values = row.astype(np.int64)
        else:
            values = np.unpackbits(row).reshape(-1, depth)
            values = values.dot(1 << np.arange(depth - 1, -1, -1)).astype(np.int64)
        out[y] = values[:width * samples].reshape(width, samples)
    return out


def png_transparent_set(path):
    """The set of transparent pixels as a boolean array, from the file's own
    bytes (Pillow narrows 16-bit alpha and keys, so it cannot tell)."""
    data = open(path, "rb").read()
    chunks = png_chunks(data)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    trns = next((d for k, d in chunks if k == "tRNS"), None)
    if colour in (0, 2) and trns is None:
        return np.zeros((height, width), dtype=bool)
    if colour == 3 and trns is None:
        return np.zeros((height, width), dtype=bool)
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    raw = zlib.decompress(b"".join(d for k, d in chunks if k == "IDAT"))
    pixels = np.zeros((height, width, samples), dtype=np.int64)
    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        offset = 0
        for x0, y0, dx, dy in passes:
            w, h = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
            if w <= 0 or h <= 0:
                continue
            rows, used = unfilter(raw[offset:], w, h, depth * samples)
            offset += used
            pixels[y0::dy, x0::dx] = unpack(rows, w, depth, samples)
    else:
        rows, _ = unfilter(raw, width, height, depth * samples)
        pixels = unpack(rows, width, depth, samples)
    if colour in (4, 6):
        return pixels[:, :, -1] == 0
    if colour == 3:
        alpha = np.frombuffer(trns, dtype=np.uint8)
        index = pixels[:, :, 0]
        return np.where(index < len(alpha), alpha[np.minimum(index, max(len(alpha) - 1, 0))] if len(alpha) else 255, 255) == 0
    key = struct.unpack(">%dH" % samples, trns[:2 * samples])
    return np.all(pixels == np.array(key).reshape(1, 1, samples), axis=2)


def transparent_set(path, fmt):
    if fmt == "png":
        return png_transparent_set(path)
    try:
        with Image.open(path) as im:
            if im.mode in ("LA", "La", "RGBA", "RGBa", "PA"):
                return np.asarray(im.getchannel("A")) == 0
            width, height = im.size
    except Exception:  # a layout Pillow cannot read: no alpha check
        return np.zeros((0, 0), dtype=bool)
    return np.zeros((height, width), dtype=bool)


def png_header(path):
    with open(path, "rb") as f:
        data = f.read(33)
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour


def dimensions(path, fmt, tags):
    if fmt == "png":
        return png_header(path)[:2]
    try:
        with Image.open(path) as im:
            return im.size
    except Exception:  # a layout Pillow cannot read (e.g. 16-bit RGB TIFF): ask exiftool
        for group in ("IFD0", "File"):
            if f"{group}:ImageWidth" in tags and f"{group}:ImageHeight" in tags:
                return int(tags[f"{group}:ImageWidth"][0]), int(tags[f"{group}:ImageHeight"][0])
        return None


# ---------------------------------------------------------------- metadata

def exiftool(paths):
    """exiftool -j -G1 -a: every tag, duplicates kept (as lists, in file order)."""
    if not paths:
        return {}
    # -G1:4 names duplicates "Group:CopyN:Tag" (plain -j would drop them).
    out = subprocess.run(["exiftool", "-j", "-G1:4", "-a", "-n"] + paths, capture_output=True, check=False).stdout
    pairs = json.loads(out.decode("utf-8", "replace"), object_pairs_hook=lambda items: items)
    result = {}
    for items in pairs:
        tags = defaultdict(list)
        for key, value in items:
            # exiftool names a language-tagged iTXt "Licensing" in the first
            # file it reads and "Licensing-en" in later ones: compare without.
            key = re.sub(r":Copy\d+:", ":", key)
            key = re.sub(r"^(PNG:[A-Za-z]+)-[a-z]{2}(-[A-Za-z]{2})?$", r"\1", key)
            tags[key].append(json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else str(value))
        result[os.path.realpath(tags["SourceFile"][0])] = tags
    return result


def metadata_problems(before, after, source_png):
    problems = []
    for key, values in before.items():
        if key in IGNORED_TAGS or key.startswith(IGNORED_GROUPS):
            continue
        now = after.get(key, [])
        if key in NOTE_TAGS:
            missing = [v for v in values if v not in now]
            if missing:
                problems.append(f"{key} lost {missing[0][:60]!r}")
            continue
        if source_png:
            depth, colour = source_png
            if colour == 3 and key in ("PNG:BackgroundColor", "PNG:PaletteHistogram", "PNG:SignificantBits"):
                continue  # they index the palette, which is not written
            if key == "PNG:BackgroundColor" and colour == 0 and depth < 8 and values and now:
                scaled = [str(int(v) * 255 // ((1 << depth) - 1)) for v in values]
                if scaled == now:
                    continue
            if len(values) > 1 and now == values[:1]:
                continue  # a chunk allowed once (gAMA, iCCP, pHYs, ...) is written once, the first
            if key == "PNG:SignificantBits" and now and all(n.startswith(v) for v, n in zip(values, now)):
                continue  # an alpha channel's bits were added
        if now != values:
            problems.append(f"{key} was {values[0][:60]!r}, now {now[0][:60] if now else 'missing'!r}")
    if any(key.startswith("MPF") for key in before) and not any(
            "not carried: MPF" in value for value in after.get("File:Comment", [])):
        problems.append("MPF was dropped without saying so in the processing note")
    new_warnings = [w for w in after.get("ExifTool:Warning", []) if w not in before.get("ExifTool:Warning", [])]
    if new_warnings:
        problems.append(f"exiftool warns about the output: {new_warnings[0]}")
    return problems


# ---------------------------------------------------------------- the run

def run_set(name, mtrnnctl, weights, work):
    set_dir = os.path.join(CONFORMANCE, name)
    expected = read_expected(set_dir)
    files = set_files(set_dir)
    results = []
    for rel in files:
        if rel not in expected:
            results.append((rel, False, "not listed in expected.tsv"))
    for rel in expected:
        if rel not in files:
            results.append((rel, False, "listed in expected.tsv but missing"))
    listed = [rel for rel in files if rel in expected]
    by_folder = defaultdict(list)
    for rel in listed:
        by_folder[os.path.dirname(rel)].append(rel)
    runs = {}
    for folder, rels in sorted(by_folder.items()):
        out_dir = os.path.join(work, name, folder)
        os.makedirs(out_dir, exist_ok=True)
        command = [mtrnnctl, "deblur", "--iterations", "1", "--weights", weights, "--output-dir", out_dir]
        command += [os.path.join(set_dir, rel) for rel in rels]
        proc = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False)
        for rel in rels:
            runs[rel] = (proc.returncode, proc.stderr, os.path.join(out_dir, os.path.basename(rel)))
    inputs = [os.path.join(set_dir, rel) for rel in listed if expected[rel][0] == "ok"]
    outputs = [runs[rel][2] for rel in listed if expected[rel][0] == "ok" and os.path.exists(runs[rel][2])]
    tags = exiftool(inputs + outputs)
    for rel in listed:
        outcome, note = expected[rel]
        status, stderr, output = runs[rel]
        path = os.path.join(set_dir, rel)
        lines = [line for line in stderr.splitlines() if path + ":" in line]
        if outcome == "refuse":
            if status == 0:
                results.append((rel, False, "expected a refusal, but the run exited 0"))
            elif os.path.exists(output):
                results.append((rel, False, "expected a refusal, but an output was written"))
            elif not any(note in line for line in lines):
                results.append((rel, False, f"no error line naming it with {note!r}: {lines[:1] or stderr[-200:]}"))
            else:
                results.append((rel, True, "refused: " + lines[0][:100]))
            continue
        if lines or not os.path.exists(output):
            results.append((rel, False, "failed: " + (lines[0] if lines else f"no output (exit {status})")))
            continue
        problems = []
        fmt_in, fmt_out = sniff(path), sniff(output)
        if fmt_in != fmt_out:
            problems.append(f"format {fmt_in} became {fmt_out}")
        else:
            size_in = dimensions(path, fmt_in, tags.get(os.path.realpath(path), {}))
            size_out = dimensions(output, fmt_out, tags.get(os.path.realpath(output), {}))
            if size_in is None or size_in != size_out:
                problems.append(f"size {size_in} became {size_out}")
            else:
                a, b = transparent_set(path, fmt_in), transparent_set(output, fmt_out)
                if not np.array_equal(a, b):
                    problems.append(f"transparent set: {int((a & ~b).sum())} lost, {int((b & ~a).sum())} gained"
                                    f" (of {int(a.sum())})")
        source_png = png_header(path)[2:] if fmt_in == "png" else None
        problems += metadata_problems(tags.get(os.path.realpath(path), {}), tags.get(os.path.realpath(output), {}),
                                      source_png)
        if problems:
            results.append((rel, False, "; ".join(problems[:3])))
        else:
            results.append((rel, True, "ok"))
    return results


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    mtrnnctl, weights = sys.argv[1], sys.argv[2]
    sets = sys.argv[3:] or sorted(d for d in os.listdir(CONFORMANCE)
                                  if os.path.isfile(os.path.join(CONFORMANCE, d, "expected.tsv")))
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="conformance-") as work:
        for name in sets:
            for rel, good, detail in sorted(run_set(name, mtrnnctl, weights, work)):
                print(f"{'PASS' if good else 'FAIL'} {name}/{rel}: {detail}", flush=True)
                passed += good
                failed += not good
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
