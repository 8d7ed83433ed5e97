#!/usr/bin/env python3
"""Make the upload fixtures in crates/trigapi/tests/fixtures/photos (run once; the files are committed).

Every picture is 300x200 as stored, with a red block in its top-left quarter and a blue ground,
so a test can tell which way up the server stored it. Needs Pillow (pip install Pillow).
"""
import struct
import zlib
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "crates/trigapi/tests/fixtures/photos"


def picture(mode="RGB"):
    img = Image.new(mode, (300, 200), (40, 90, 200) + ((255,) if mode == "RGBA" else ()))
    d = ImageDraw.Draw(img)
    # A little landscape: a hill and a white pillar, and the red marker block top-left.
    d.ellipse((-60, 120, 360, 330), fill=(70, 130, 60) + ((255,) if mode == "RGBA" else ()))
    d.rectangle((190, 90, 205, 140), fill=(235, 235, 230) + ((255,) if mode == "RGBA" else ()))
    d.rectangle((0, 0, 100, 70), fill=(220, 20, 20) + ((255,) if mode == "RGBA" else ()))
    return img


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb(width, height):
    """A 1-bit greyscale PNG of width x height zero pixels: tiny on disk, huge when decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def rgba_bomb(width, height):
    """An 8-bit RGBA PNG of width x height transparent pixels: within the pixel limit, over the
    memory one (4 bytes a pixel)."""
    row = b"\x00" * (1 + 4 * width)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    picture().save(OUT / "landscape.jpg", quality=90)
    # The same pixels, marked "rotate 90 degrees clockwise to display" (EXIF orientation 6).
    exif = Image.Exif()
    exif[0x0112] = 6
    picture().save(OUT / "exif-rotated.jpg", quality=90, exif=exif.tobytes())
    # A PNG with a transparent corner (bottom-right 50x50), which must come out white.
    png = picture("RGBA")
    ImageDraw.Draw(png).rectangle((250, 150, 299, 199), fill=(0, 0, 0, 0))
    png.save(OUT / "transparent.png")
    picture().save(OUT / "landscape.webp", quality=85)
    (OUT / "bomb.png").write_bytes(bomb(30000, 30000))
    (OUT / "rgba-bomb.png").write_bytes(rgba_bomb(8200, 8200))
    (OUT / "not-an-image.txt").write_text("This is a text file, not a photo of a trig pillar.\n")


if __name__ == "__main__":
    main()
