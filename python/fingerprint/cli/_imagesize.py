"""Image dimensions from file headers (JPEG, PNG, GIF, BMP, WebP) without decoding pixels.

Used for the few files that end up in a group; anything unusual returns None and the caller
decodes the file instead, so a wrong answer is never guessed.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Optional, Tuple

Size = Tuple[int, int]


def image_size(path: str) -> Optional[Size]:
    """(width, height) as displayed (JPEG EXIF orientations 5-8 swap them), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                w, h = struct.unpack(">II", head[16:24])
                return int(w), int(h)
            if head[:6] in (b"GIF87a", b"GIF89a"):
                w, h = struct.unpack("<HH", head[6:10])
                return int(w), int(h)
            if head.startswith(b"BM") and len(head) >= 26:
                w, h = struct.unpack("<ii", head[18:26])
                return abs(int(w)), abs(int(h))
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return _webp(head, f)
            if head.startswith(b"\xff\xd8"):
                f.seek(2)
                return _jpeg(f)
    except (OSError, struct.error):
        return None
    return None


def _webp(head: bytes, f: BinaryIO) -> Optional[Size]:
    """VP8 (lossy), VP8L (lossless) and VP8X (extended) headers."""
    chunk = head[12:16]
    f.seek(20)
    data = f.read(10)
    if chunk == b"VP8 " and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return int(w & 0x3FFF), int(h & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 5:
        b = data[1:5]
        w = 1 + (((b[1] & 0x3F) << 8) | b[0])
        h = 1 + (((b[3] & 0x0F) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
        return w, h
    if chunk == b"VP8X" and len(data) >= 10:
        w = 1 + int.from_bytes(data[4:7], "little")
        h = 1 + int.from_bytes(data[7:10], "little")
        return w, h
    return None


def _jpeg(f: BinaryIO) -> Optional[Size]:
    """Walk the JPEG markers to the first SOFn; note the EXIF orientation on the way."""
    orientation = 1
    while True:
        marker = f.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        code = marker[1]
        while code == 0xFF:  # fill bytes
            code = f.read(1)[0]
        if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7:
            continue
        length = struct.unpack(">H", f.read(2))[0]
        if length < 2:
            return None
        if code == 0xE1:
            orientation = _exif_orientation(f.read(length - 2)) or orientation
            continue
        if code in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            data = f.read(5)
            h, w = struct.unpack(">HH", data[1:5])
            return (int(h), int(w)) if orientation in (5, 6, 7, 8) else (int(w), int(h))
        if code == 0xDA:  # start of scan before any frame header
            return None
        f.seek(length - 2, 1)


def _exif_orientation(app1: bytes) -> Optional[int]:
    """The Orientation tag (0x0112) of IFD0 in an APP1 Exif segment."""
    if not app1.startswith(b"Exif\x00\x00"):
        return None
    tiff = app1[6:]
    if tiff[:2] == b"II":
        e = "<"
    elif tiff[:2] == b"MM":
        e = ">"
    else:
        return None
    (ifd,) = struct.unpack(e + "I", tiff[4:8])
    (count,) = struct.unpack(e + "H", tiff[ifd : ifd + 2])
    for k in range(count):
        entry = tiff[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
        if len(entry) < 12:
            return None
        tag, typ = struct.unpack(e + "HH", entry[:4])
        if tag == 0x0112 and typ == 3:
            return int(struct.unpack(e + "H", entry[8:10])[0])
    return None
