"""Helpers for tests on the shared photos: upright RGB images and PNG bytes of them."""

from __future__ import annotations

import io
from pathlib import Path
from typing import List

from PIL import Image, ImageOps


def load(paths: List[Path]) -> List[Image.Image]:
    """The images at `paths`, EXIF orientation applied, as RGB."""
    out = []
    for p in paths:
        with Image.open(p) as im:
            out.append(ImageOps.exif_transpose(im).convert("RGB"))
    return out


def png(im: Image.Image) -> bytes:
    """`im` encoded as PNG (lossless, so an edit is the only change)."""
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()
