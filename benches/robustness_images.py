"""Recall of each image hash under common edits, against its false-match rate on unrelated images.

For every original in ../shared/data/images/originals the script makes the usual edits (seeded),
hashes original and edit from encoded PNG/JPEG bytes the way users hash files, and counts the
edit as found when the Hamming distance is at most the hash's usual threshold (10 of 64 bits
for aHash/dHash/pHash/wHash, 31 of 256 for PDQ). The false-match rate is over all pairs of
distinct images among originals + distractors. Prints a markdown table.

    python benches/robustness_images.py            # all images
    python benches/robustness_images.py --limit 3  # a quick check (used by the test suite)
"""

from __future__ import annotations

import argparse
import io
import itertools
import sys
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

import fingerprint as fp

IMAGES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "images"
HASHES = ("ahash", "dhash", "phash", "whash", "pdq")
THRESHOLD = {"ahash": 10, "dhash": 10, "phash": 10, "whash": 10, "pdq": 31}
BITS = {"ahash": 64, "dhash": 64, "phash": 64, "whash": 64, "pdq": 256}


def jpeg(im: Image.Image, quality: int = 95) -> bytes:
    out = io.BytesIO()
    im.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def scaled(im: Image.Image, f: float) -> Image.Image:
    return im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.Resampling.LANCZOS)


def crop90(im: Image.Image) -> Image.Image:
    dx, dy = round(im.width * 0.05), round(im.height * 0.05)
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def text(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    out = im.copy()
    draw = ImageDraw.Draw(out)
    size = max(10, im.height // 12)
    x = int(rng.integers(0, max(1, im.width // 3)))
    y = int(rng.integers(0, max(1, im.height - size)))
    draw.text((x, y), "COPYRIGHT 2024 example.com", fill=(255, 255, 255), font_size=size,
              stroke_width=max(1, size // 12), stroke_fill=(0, 0, 0))
    return out


def border(im: Image.Image) -> Image.Image:
    pad = max(2, round(min(im.size) * 0.05))
    return ImageOps.expand(im, border=pad, fill=(0, 0, 0))


# name -> edit(image, rng) -> encoded bytes
EDITS: Dict[str, Callable[[Image.Image, np.random.Generator], bytes]] = {
    "jpeg q30": lambda im, r: jpeg(im, 30),
    "resize 50%": lambda im, r: png(scaled(im, 0.5)),
    "resize 25%": lambda im, r: png(scaled(im, 0.25)),
    "crop 90%": lambda im, r: png(crop90(im)),
    "rotate 3°": lambda im, r: png(im.rotate(3, resample=Image.Resampling.BICUBIC, expand=False)),
    "rotate 90°": lambda im, r: png(im.transpose(Image.Transpose.ROTATE_90)),
    "flip": lambda im, r: png(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    "grayscale": lambda im, r: png(im.convert("L")),
    "brightness +30%": lambda im, r: png(ImageEnhance.Brightness(im).enhance(1.3)),
    "contrast -30%": lambda im, r: png(ImageEnhance.Contrast(im).enhance(0.7)),
    "blur r=2": lambda im, r: png(im.filter(ImageFilter.GaussianBlur(2))),
    "text overlay": lambda im, r: png(text(im, r)),
    "border 5%": lambda im, r: png(border(im)),
}


def hashes_of(sources: List[bytes]) -> Dict[str, np.ndarray]:
    """codes per hash (n, bytes); fails loudly if any item does not decode."""
    out = {}
    for name in HASHES:
        batch = fp.hash_images(sources, name)
        if not batch.ok.all():
            bad = [e for e in batch.errors if e]
            raise RuntimeError(f"{name}: {len(bad)} items failed, e.g. {bad[0]}")
        out[name] = batch.codes
    return out


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.unpackbits(np.bitwise_xor(a, b), axis=-1).sum(axis=-1)


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=IMAGES, help="folder with originals/ and distractors/")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N originals and N distractors")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    originals = sorted((args.images / "originals").iterdir())[: args.limit]
    distractors = sorted((args.images / "distractors").iterdir())[: args.limit]
    if not originals:
        print(f"no images in {args.images / 'originals'}", file=sys.stderr)
        return 1
    rng = np.random.default_rng(args.seed)

    base = [p.read_bytes() for p in originals]
    pil = []
    for p in originals:
        with Image.open(p) as im:
            pil.append(ImageOps.exif_transpose(im).convert("RGB"))
    base_codes = hashes_of(base)

    recall: Dict[str, Dict[str, float]] = {}
    for edit, fn in EDITS.items():
        edited = [fn(im, rng) for im in pil]
        codes = hashes_of(edited)
        recall[edit] = {
            h: float((distance(base_codes[h], codes[h]) <= THRESHOLD[h]).mean()) for h in HASHES
        }

    unrelated = base + [p.read_bytes() for p in distractors]
    all_codes = hashes_of(unrelated)
    pairs = list(itertools.combinations(range(len(unrelated)), 2))
    i, j = (np.array(x) for x in zip(*pairs))
    false_match = {
        h: float((distance(all_codes[h][i], all_codes[h][j]) <= THRESHOLD[h]).mean()) for h in HASHES
    }

    head = " | ".join(f"{h} (≤{THRESHOLD[h]}/{BITS[h]})" for h in HASHES)
    print(f"Recall on {len(originals)} originals (seed {args.seed}); false matches over "
          f"{len(pairs)} pairs of {len(unrelated)} unrelated images.\n")
    print(f"| edit | {head} |")
    print("|---" * (len(HASHES) + 1) + "|")
    for edit, row in recall.items():
        print(f"| {edit} | " + " | ".join(f"{100 * row[h]:.0f}%" for h in HASHES) + " |")
    mean = {h: np.mean([row[h] for row in recall.values()]) for h in HASHES}
    print("| **mean recall** | " + " | ".join(f"**{100 * mean[h]:.0f}%**" for h in HASHES) + " |")
    print("| false-match rate | " + " | ".join(f"{100 * false_match[h]:.2f}%" for h in HASHES) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
