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

For a TIFF, the tags that legitimately change (storage and encoding, defaults
no longer written, palette and 1/2/4-bit samples expanded; see
Tests/Conformance/libtiff/SOURCE.md) are judged by tiff_change_allowed(), and
IFD0:Software must be the input's value with "; mtrnn-watch: ..." appended.
The transparent set of a TIFF Pillow cannot decode is read another way where
that is cheap (WebP strips, planar alpha); where it cannot be read, the file's
line says "alpha check skipped" and why.

A new set: a folder under Tests/Conformance with the files (subfolders are
fine), SOURCE.md and expected.tsv; tags that legitimately change for a new
format go in IGNORED_TAGS below.

Usage: conformance_check.py MTRNNCTL WEIGHTS [SET ...]
"""
import io
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


def tiff_webp_transparent_set(im, path):
    """The transparent set of a WebP-compressed TIFF (compression 50001,
    always contiguous), which Pillow's TIFF reader cannot decode: each strip
    or tile is a whole WebP image, which Pillow's WebP reader can."""
    tags = im.tag_v2
    width, height = im.size
    if 322 in tags:  # tiles
        step_x, step_y = int(tags[322]), int(tags[323])
        offsets, counts = tags[324], tags[325]
    else:
        step_x, step_y = width, int(tags.get(278, height))
        offsets, counts = tags[273], tags[279]
    alpha = np.zeros((height, width), dtype=np.uint8)
    with open(path, "rb") as f:
        data = f.read()
    across = (width + step_x - 1) // step_x
    for index, (offset, count) in enumerate(zip(offsets, counts)):
        y, x = index // across * step_y, index % across * step_x
        if y >= height:
            break
        with Image.open(io.BytesIO(data[offset:offset + count])) as piece:
            piece.load()
            # No alpha in the WebP stream means opaque (libtiff fills 255).
            values = np.asarray(piece.getchannel("A")) if "A" in piece.getbands() else \
                np.full((piece.size[1], piece.size[0]), 255, dtype=np.uint8)
        h, w = min(step_y, height - y, values.shape[0]), min(step_x, width - x, values.shape[1])
        alpha[y:y + h, x:x + w] = values[:h, :w]
    return alpha == 0


def tiff_planar_transparent_set(im, path):
    """The transparent set of a planar TIFF (PlanarConfiguration 2) whose last
    sample is alpha, which Pillow decodes with the planes mixed up: the alpha
    plane's strips or tiles are put in a TIFF of their own, one grey sample,
    and decoded by Pillow from there. None where that does not apply."""
    tags = im.tag_v2
    extra = tags.get(338)
    extra = (extra,) if isinstance(extra, int) else tuple(extra or ())
    samples = int(tags.get(277, 1))
    bits = tags.get(258, (8,))
    bits = int(bits if isinstance(bits, int) else bits[-1])
    if tags.get(284, 1) != 2 or not extra or extra[-1] not in (1, 2) or bits not in (8, 16) \
            or tags.get(259, 1) in (6, 7, 50001):
        return None
    width, height = im.size
    if 322 in tags:
        offsets, counts, layout = tags[324], tags[325], [(322, int(tags[322])), (323, int(tags[323]))]
    else:
        offsets, counts, layout = tags[273], tags[279], [(278, int(tags.get(278, height)))]
    per_plane = len(offsets) // samples
    offsets, counts = offsets[-per_plane:], counts[-per_plane:]
    with open(path, "rb") as f:
        data = f.read()
    order = "<" if data[:2] == b"II" else ">"
    body = bytearray(data[:2] + struct.pack(order + "HI", 42, 0))
    starts = []
    for offset, count in zip(offsets, counts):
        starts.append(len(body))
        body += data[offset:offset + count]
    entries = [(256, 4, [width]), (257, 4, [height]), (258, 3, [bits]), (259, 3, [int(tags.get(259, 1))]),
               (262, 3, [1]), (277, 3, [1]), (284, 3, [1])]
    entries += [(tag, 4, [value]) for tag, value in layout]
    entries += [(324 if 322 in tags else 273, 4, starts), (325 if 322 in tags else 279, 4, list(counts))]
    for tag in (266, 317):  # FillOrder, Predictor
        if tag in tags:
            entries.append((tag, 3, [int(tags[tag])]))
    entries.sort()
    if len(body) % 2:
        body += b"\0"
    ifd = len(body)
    extra_at = ifd + 2 + 12 * len(entries) + 4
    directory, out_of_line = bytearray(struct.pack(order + "H", len(entries))), bytearray()
    for tag, kind, values in entries:
        packed = struct.pack(order + ("H" if kind == 3 else "I") * len(values), *values)
        if len(packed) <= 4:
            field = packed.ljust(4, b"\0")
        else:
            field = struct.pack(order + "I", extra_at + len(out_of_line))
            out_of_line += packed
        directory += struct.pack(order + "HHI", tag, kind, len(values)) + field
    body += directory + b"\0\0\0\0" + out_of_line
    body[4:8] = struct.pack(order + "I", ifd)
    with Image.open(io.BytesIO(bytes(body))) as plane:
        plane.load()
        return np.asarray(plane).reshape(height, width) == 0


def transparent_set(path, fmt):
    """(the transparent pixels as a boolean array, None), or (None, why they
    could not be read)."""
    if fmt == "png":
        return png_transparent_set(path), None
    try:
        with Image.open(path) as im:
            # Pillow names premultiplied alpha "a" (La, RGBa), straight alpha "A".
            alpha = next((name for name in ("A", "a") if name in im.getbands()), None)
            if alpha is None:
                width, height = im.size
                return np.zeros((height, width), dtype=bool), None
            if fmt == "tiff" and im.tag_v2.get(284, 1) == 2:
                found = tiff_planar_transparent_set(im, path)
                if found is None:
                    return None, f"Pillow mixes up the planes of planar {os.path.basename(path)}"
                return found, None
            if fmt == "tiff" and im.tag_v2.get(259) == 50001:
                return tiff_webp_transparent_set(im, path), None
            try:
                return np.asarray(im.getchannel(alpha)) == 0, None
            except Exception as error:  # a layout Pillow cannot decode
                return None, f"Pillow cannot decode {os.path.basename(path)} ({error})"
    except Exception as error:
        return None, f"Pillow cannot read {os.path.basename(path)} ({error})"


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


# TIFF (Tests/Conformance/libtiff/SOURCE.md, mtrnnctl(1)): tags that only say
# how the pixels are stored or encoded, which libtiff writes anew for the new
# data (the old-style JPEG tags, exiftool's OtherImage*, describe the input's
# JPEG stream). Compared only for TIFF inputs; a JPEG's EXIF IFD0 is compared.
TIFF_STORAGE_TAGS = {
    "IFD0:" + name for name in (
        "TileWidth", "TileLength", "Predictor", "FillOrder", "T4Options", "T6Options", "Thresholding",
        "JPEGTables", "JPEGProc", "OtherImageStart", "OtherImageLength", "OtherImage", "JPEGRestartInterval",
        "JPEGQTables", "JPEGDCTables", "JPEGACTables", "JPEGLosslessPredictors", "JPEGPointTransforms",
        "YCbCrPositioning", "YCbCrCoefficients")
}
# Codecs written as they are; old-style JPEG (6) is written as JPEG (7), LZW
# when it has alpha or 16 bits; the others (CCITT, ZSTD, WebP, ...) as LZW.
TIFF_WRITTEN_CODECS = {"1", "5", "8", "32946", "32773"}


def first(tags, key, default=None):
    values = tags.get(key)
    return values[0] if values else default


def tiff_change_allowed(key, values, now, before, after):
    """Whether a TIFF tag's difference is one SOURCE.md documents: storage
    and encoding, a default that is no longer written, or the expansion of
    palette and 1/2/4-bit samples to 8-bit RGB or grey."""
    if key in TIFF_STORAGE_TAGS:
        return True
    old_photometric = first(before, "IFD0:PhotometricInterpretation")
    new_photometric = first(after, "IFD0:PhotometricInterpretation")
    palette_to_rgb = old_photometric == "3" and new_photometric == "2"
    old_compression, new_compression = first(before, "IFD0:Compression", "1"), first(after, "IFD0:Compression", "1")
    if key == "IFD0:Compression":
        if old_compression in ("6", "7"):
            alpha = "IFD0:ExtraSamples" in after
            deep = any(b != "8" for b in first(after, "IFD0:BitsPerSample", "8").split())
            return now == ["5" if alpha or deep else "7"]
        return old_compression not in TIFF_WRITTEN_CODECS and now == ["5"]
    if key in ("IFD0:PreviewImage", "IFD0:PreviewImageStart", "IFD0:PreviewImageLength"):
        return "6" in (old_compression, new_compression) or "7" in (old_compression, new_compression)  # the strips
    if key == "IFD0:YCbCrSubSampling":
        if new_photometric != "6":
            return not now  # the output is not YCbCr (or the input was not: it described nothing)
        return new_compression == "7" and now == ["2 2"]  # JPEG TIFFs are written 4:2:0 (mc_tiff_encode)
    if key == "IFD0:ReferenceBlackWhite":
        return old_photometric == "6"  # the YCbCr coding range, written anew with the new JPEG data
    if key == "IFD0:PhotometricInterpretation":
        return (values, now) in ((["3"], ["2"]), (["6"], ["2"]))  # palette and YCbCr become RGB
    if key == "IFD0:BitsPerSample":
        old_bits, new_bits = values[0].split(), now[0].split() if now else []
        if palette_to_rgb:
            return new_bits == ["8"] * 3
        return set(old_bits) <= {"1", "2", "4"} and new_bits == ["8"] * len(old_bits)
    if key == "IFD0:SamplesPerPixel":
        return palette_to_rgb and values == ["1"] and now == ["3"]
    if key == "IFD0:ColorMap":
        return palette_to_rgb and not now
    if now:
        return False
    # Only an absence from here on: of a default, or of what no longer applies.
    if key == "IFD0:SubfileType":
        return values[0] in ("0", "2")  # a full image; 2 (a page) of a file that is one page
    if key == "File:PageCount":
        return values == ["1"]  # exiftool counts SubfileType 2 pages
    if key == "IFD0:SampleFormat":
        return set(values[0].split()) == {"1"}  # unsigned integers
    if key == "IFD0:MinSampleValue":
        return set(values[0].split()) == {"0"}
    if key == "IFD0:MaxSampleValue":
        bits = first(before, "IFD0:BitsPerSample", "1").split()
        return values[0].split() == [str((1 << int(b)) - 1) for b in bits][:len(values[0].split())]
    if key == "IFD0:Matteing":
        return values == ["0"]  # no alpha
    if key == "IFD0:InkSet":
        return old_photometric != "5"  # describes CMYK inks; the file is not CMYK
    return False


def metadata_problems(before, after, source_png, source_tiff=False):
    problems = []
    for key, values in before.items():
        if key in IGNORED_TAGS or key.startswith(IGNORED_GROUPS):
            continue
        now = after.get(key, [])
        if key in NOTE_TAGS:
            if source_tiff and key == "IFD0:Software":
                # Written as the input's value, "; " and our note.
                missing = [v for v in values if v not in now and not any(
                    n.startswith(v + "; mtrnn-watch: ") for n in now)]
            else:
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
        if source_tiff and now != values and tiff_change_allowed(key, values, now, before, after):
            continue
        if now != values:
            problems.append(f"{key} was {values[0][:60]!r}, now {now[0][:60] if now else 'missing'!r}")
    if source_tiff and not any("mtrnn-watch: " in value for value in after.get("IFD0:Software", [])):
        problems.append("no processing note in IFD0:Software")
    if any(key.startswith("MPF") for key in before) and not any(
            "not carried: MPF" in value for value in after.get("File:Comment", [])):
        problems.append("MPF was dropped without saying so in the processing note")
    new_warnings = [w for w in after.get("ExifTool:Warning", []) if w not in before.get("ExifTool:Warning", [])]
    if source_tiff and first(after, "IFD0:Compression") == "7":
        # exiftool takes the strips of a JPEG-compressed TIFF for a preview
        # image and, with more than one strip, warns that it cannot add up
        # their lengths; it does so for any multi-strip JPEG TIFF.
        new_warnings = [w for w in new_warnings
                        if not re.match(r"RawConv PreviewImage: Argument \"[\d .]+\" isn't numeric", w)]
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
        command = [mtrnnctl, "deblur", "--sharp-photos", "process", "--iterations", "1", "--weights", weights, "--output-dir", out_dir]
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
        problems, skipped = [], None
        fmt_in, fmt_out = sniff(path), sniff(output)
        if fmt_in != fmt_out:
            problems.append(f"format {fmt_in} became {fmt_out}")
        else:
            size_in = dimensions(path, fmt_in, tags.get(os.path.realpath(path), {}))
            size_out = dimensions(output, fmt_out, tags.get(os.path.realpath(output), {}))
            if size_in is None or size_in != size_out:
                problems.append(f"size {size_in} became {size_out}")
            else:
                (a, why_a), (b, why_b) = transparent_set(path, fmt_in), transparent_set(output, fmt_out)
                if a is None or b is None:
                    skipped = f"alpha check skipped: {why_a or why_b}"
                elif a.shape != b.shape:
                    problems.append(f"transparent set: shape {a.shape} became {b.shape}")
                elif not np.array_equal(a, b):
                    problems.append(f"transparent set: {int((a & ~b).sum())} lost, {int((b & ~a).sum())} gained"
                                    f" (of {int(a.sum())})")
        source_png = png_header(path)[2:] if fmt_in == "png" else None
        problems += metadata_problems(tags.get(os.path.realpath(path), {}), tags.get(os.path.realpath(output), {}),
                                      source_png, source_tiff=fmt_in == "tiff" and fmt_out == "tiff")
        if problems:
            results.append((rel, False, "; ".join(problems[:3]) + (f" ({skipped})" if skipped else "")))
        else:
            results.append((rel, True, f"ok ({skipped})" if skipped else "ok"))
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
