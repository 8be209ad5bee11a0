#!/usr/bin/env python3
"""Writes fuzz/corpus/{jpeg,png,tiff}/: tiny valid files that reach the
interesting paths (EXIF/XMP/COM/ICC segments, progressive and 4:4:4 JPEG,
palette/tRNS/16-bit/alpha/interlaced PNG with text chunks after IDAT, LZW/
Deflate/PackBits/big-endian/planar/EXIF TIFF). Each stays under 2 KB so the
fuzzer mutates structure, not pixels. Run: python3 fuzz/make_seeds.py (Pillow)."""
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
