#!/usr/bin/env python3
"""Writes fuzz/corpus/{jpeg,png,tiff}/: tiny valid files that reach the
interesting paths (EXIF/XMP/COM/ICC segments, progressive and 4:4:4 JPEG,
palette/tRNS/16-bit/alpha/interlaced PNG with text chunks after IDAT, LZW/
Deflate/PackBits/big-endian/planar/EXIF TIFF). Each stays under 2 KB so the
fuzzer mutates structure, not pixels; except the structure seeds at the end
(issue 16: many segments, chunks, tags and scans, tags sharing one value),
each built just past or under a limit of codecs.h (4096 metadata segments,
500 scans) and at most 50 KB, within scripts/fuzz.sh's -max_len.
Run: python3 fuzz/make_seeds.py (Pillow)."""
import io, os, struct, zlib
from PIL import Image, PngImagePlugin, TiffImagePlugin

here = os.path.dirname(os.path.abspath(__file__))
def put(kind, name, data):
    d = os.path.join(here, "corpus", kind); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)
def saved(im, fmt, **kw):
    b = io.BytesIO(); im.save(b, fmt, **kw); return b.getvalue()

rgb = Image.linear_gradient("L").resize((8, 6)).convert("RGB")
exif = Image.Exif(); exif[0x0112] = 6; exif[0x010F] = "Fuzz"; exif[0x8769] = {0x9003: "2024:01:01 00:00:00"}
put("jpeg", "baseline_exif.jpg", saved(rgb, "JPEG", quality=50, exif=exif.tobytes(), comment=b"seed"))
put("jpeg", "progressive.jpg", saved(rgb, "JPEG", quality=50, progressive=True))
put("jpeg", "444.jpg", saved(rgb, "JPEG", quality=50, subsampling=0))
put("jpeg", "grey.jpg", saved(rgb.convert("L"), "JPEG", quality=50))
put("jpeg", "cmyk.jpg", saved(Image.new("CMYK", (4, 4), (1, 2, 3, 4)), "JPEG", quality=50))
j = saved(rgb, "JPEG", quality=50)
xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>"
put("jpeg", "xmp_app1.jpg", j[:2] + b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp + j[2:])

pi = PngImagePlugin.PngInfo(); pi.add_text("Comment", "seed"); pi.add_itxt("XML", "<x/>", zip=True)
put("png", "rgb_text.png", saved(rgb, "PNG", pnginfo=pi))
put("png", "rgba16.png", saved(Image.new("RGBA", (3, 3), (1, 2, 3, 4)), "PNG"))
p = Image.new("P", (4, 4)); p.putpalette([255, 0, 0, 0, 255, 0] + [0] * 254 * 3); p.putdata([0, 1] * 8)
put("png", "palette_trns.png", saved(p, "PNG", transparency=bytes([128, 255])))
put("png", "grey.png", saved(rgb.convert("L"), "PNG"))
put("png", "bilevel.png", saved(Image.new("1", (9, 3)), "PNG"))
# 16-bit grey+alpha by hand (Pillow cannot write it), with an eXIf chunk after IDAT.
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
raw = b"".join(b"\x00" + bytes(range(8)) for _ in range(2))
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 16, 4, 0, 0, 1))
       + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"eXIf", b"MM\x00\x2a\x00\x00\x00\x08\x00\x00") + chunk(b"IEND", b""))
put("png", "ga16_interlaced_exif_after.png", png)

tiffexif = Image.Exif(); tiffexif[0x010F] = "Fuzz"; tiffexif[0x0131] = "seed"
put("tiff", "lzw_le.tif", saved(rgb, "TIFF", compression="tiff_lzw", exif=tiffexif))
put("tiff", "deflate_grey.tif", saved(rgb.convert("L"), "TIFF", compression="tiff_adobe_deflate"))
put("tiff", "packbits_rgba.tif", saved(Image.new("RGBA", (3, 3), (1, 2, 3, 4)), "TIFF", compression="packbits"))
put("tiff", "raw_i16.tif", saved(Image.new("I;16", (3, 3), 300), "TIFF"))
# Big-endian 2x2 8-bit RGB, uncompressed, with an EXIF pointer to a one-entry directory.
def be_tiff():
    entries = [(256, 3, 1, 2), (257, 3, 1, 2), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, 0), (277, 3, 1, 3), (278, 3, 1, 2), (279, 4, 1, 12), (34665, 4, 1, 0)]
    ifd_at = 8; ifd_len = 2 + 12 * len(entries) + 4
    exif_at = ifd_at + ifd_len; exif = struct.pack(">HHHII", 1, 0x9000, 7, 4, 0x30323330) + struct.pack(">I", 0)
    strip_at = exif_at + len(exif)
    out = b"MM\x00\x2a" + struct.pack(">I", ifd_at) + struct.pack(">H", len(entries))
    for tag, typ, n, v in entries:
        if tag == 273: v = strip_at
        if tag == 34665: v = exif_at
        out += struct.pack(">HHI", tag, typ, n) + (struct.pack(">HH", v, 0) if typ == 3 else struct.pack(">I", v))
    return out + struct.pack(">I", 0) + exif + bytes(range(12))
put("tiff", "be_exif.tif", be_tiff())
# The kinds read through libtiff's RGBA reader and the JPEG codec.
pal = Image.new("P", (3, 3)); pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 253 * 3)
pal.putdata([0, 1, 2] * 3)
put("tiff", "palette.tif", saved(pal, "TIFF"))
put("tiff", "bilevel_g4.tif", saved(Image.new("1", (9, 3), 1), "TIFF", compression="group4"))
put("tiff", "jpeg_rgb.tif", saved(Image.new("RGB", (8, 8), (10, 200, 30)), "TIFF", compression="jpeg"))

# ---- Structure seeds (issue 16): the limits of codecs.h, from both sides.
SEGMENTS, SCANS = 4096, 500
tiny = saved(Image.new("RGB", (8, 8), (90, 120, 200)), "JPEG", quality=50)
com = b"\xff\xfe\x00\x02"
put("jpeg", "com_over_limit.jpg", tiny[:2] + com * (SEGMENTS + 1) + tiny[2:])
put("jpeg", "com_under_limit.jpg", tiny[:2] + (b"\xff\xfe\x00\x03A") * 2000 + tiny[2:])
# Segments the header probe does not see: between SOF and SOS, and between scans.
sos = tiny.index(b"\xff\xda")
put("jpeg", "com_after_frame.jpg", tiny[:sos] + com * (SEGMENTS + 1) + tiny[sos:])
prog = saved(Image.new("RGB", (8, 8), (90, 120, 200)), "JPEG", quality=50, progressive=True)
def scans(j):  # (start, end) of each SOS segment with its entropy-coded data
    out, i = [], 2
    while i + 4 <= len(j) and j[i + 1] != 0xD9:
        n = j[i + 2] << 8 | j[i + 3]
        if j[i + 1] == 0xDA:
            start = i; i += 2 + n
            while i + 1 < len(j) and not (j[i] == 0xFF and j[i + 1] != 0 and not 0xD0 <= j[i + 1] <= 0xD7): i += 1
            out.append((start, i))
        else:
            i += 2 + n
    return out
ranges = scans(prog)
second, end = ranges[1][0], ranges[-1][1]
put("jpeg", "com_between_scans.jpg", prog[:second] + com * 50 + prog[second:])
last = prog[ranges[-1][0]:end]
put("jpeg", "scans_over_limit.jpg", prog[:end] + last * (SCANS + 1 - len(ranges)) + prog[end:])
# FotoStation trailer records after EOI (2-byte tag, 4-byte size, 0xA1B2C3D4), 10 bytes each.
put("jpeg", "trailer_records.jpg", tiny + (b"\x00\x01" + struct.pack(">I", 10) + b"\xa1\xb2\xc3\xd4") * (SEGMENTS + 1))

grey8 = saved(Image.new("L", (4, 4), 7), "PNG")
idat = grey8.index(b"IDAT") - 4
put("png", "chunks_over_limit.png", grey8[:idat] + chunk(b"prVt", b"") * (SEGMENTS + 1) + grey8[idat:])
put("png", "chunks_under_limit.png", grey8[:idat] + chunk(b"tEXt", b"k\x00v") * 1000 + grey8[idat:])
raw4 = b"".join(b"\x00" + bytes([y * 4 + x for x in range(4)]) for y in range(4))
z = zlib.compress(raw4)
put("png", "idat_split.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0))
    + b"".join(chunk(b"IDAT", z[k:k + 1]) for k in range(len(z))) + chunk(b"IEND", b""))

def le_tiff(extra, blob=b""):
    """8x8 8-bit grey, uncompressed, little-endian: header, blob at 8, pixels, IFD0 (baseline + extra)."""
    if len(blob) % 2: blob += b"\x00"
    pix = 8 + len(blob); ifd = pix + 64
    entries = sorted([(256, 3, 1, 8), (257, 3, 1, 8), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
                      (273, 4, 1, pix), (277, 3, 1, 1), (278, 3, 1, 8), (279, 4, 1, 64)] + extra)
    out = b"II*\x00" + struct.pack("<I", ifd) + blob + bytes(range(0, 256, 4)) + struct.pack("<H", len(entries))
    for tag, typ, n, v in entries:
        out += struct.pack("<HHI", tag, typ, n) + (struct.pack("<HH", v, 0) if typ == 3 and n == 1 else struct.pack("<I", v))
    return out + struct.pack("<I", 0)
blob = bytes(range(256)) * 4
put("tiff", "shared_value.tif", le_tiff([(65000 + k, 7, len(blob), 8) for k in range(500)], blob))
put("tiff", "overlapping_values.tif", le_tiff([(65000, 7, 512, 8), (65001, 7, 512, 264), (282, 5, 1, 8), (283, 5, 1, 8)], blob))
put("tiff", "tags_over_limit.tif", le_tiff([(60000 - SEGMENTS + k, 3, 1, k) for k in range(SEGMENTS)]))
# An EXIF pointer back to IFD0 (a loop), with a value the loop would read again each time.
loop_ifd = 8 + len(blob) + 64
put("tiff", "exif_loop.tif", le_tiff([(34665, 4, 1, loop_ifd), (65000, 7, len(blob), 8)], blob))
