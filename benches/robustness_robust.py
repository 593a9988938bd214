"""Recall at a false-match rate of 1e-4 per pair: pHash, PDQ, PDQ+dihedral and RobustImageIndex.

For every original in ../shared/data/images/originals the script makes the issue-8 edits
(seeded), and for each method finds the distance between each edit and its original. The
threshold of each method is calibrated on unrelated pairs (every ordered pair of distinct
images among originals + distractors, the unedited files): the largest distance whose
false-match rate is at most --rate. Recall is the share of edits within that threshold.
Prints a markdown table plus index size and timings: indexing per image against plain PDQ
(both from the encoded files, one thread), and the query time (hashing + search, one thread)
with the index padded to --pad synthetic images (random balanced codes; 0 skips it).

    python benches/robustness_robust.py                  # all images, queries timed at 1M
    python benches/robustness_robust.py --limit 4 --pad 0  # a quick check (used by the tests)
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

import fingerprint as fp

IMAGES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "images"
METHODS = ("phash", "pdq", "pdq+dihedral", "robust")
NO_MATCH = 10_000  # distance recorded for a pair the robust index did not return
SEARCH_RADIUS = 80  # robust scores above this are not collected (far above any calibrated threshold)


def jpeg(im: Image.Image, quality: int = 95) -> bytes:
    out = io.BytesIO()
    im.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def scaled(im: Image.Image, fx: float, fy: Optional[float] = None) -> Image.Image:
    fy = fx if fy is None else fy
    size = (max(1, round(im.width * fx)), max(1, round(im.height * fy)))
    return im.resize(size, Image.Resampling.LANCZOS)


def crop(im: Image.Image, keep: float, rng: Optional[np.random.Generator]) -> Image.Image:
    """Keep `keep` of each side: centred without rng, else at a uniform random position."""
    w, h = round(im.width * keep), round(im.height * keep)
    if rng is None:
        x, y = (im.width - w) // 2, (im.height - h) // 2
    else:
        x, y = int(rng.integers(0, im.width - w + 1)), int(rng.integers(0, im.height - h + 1))
    return im.crop((x, y, x + w, y + h))


def overlay(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A caption bar with text along the bottom and a logo box in a random top corner."""
    out = im.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    bar = max(8, im.height // 9)
    draw.rectangle((0, im.height - bar, im.width, im.height), fill=(20, 20, 20))
    draw.text((im.width // 20, im.height - bar + bar // 6), "Shared via example.com - funny pics",
              fill=(255, 255, 255), font_size=max(8, bar * 2 // 3))
    logo = max(8, min(im.size) // 7)
    x = int(rng.choice([logo // 3, im.width - logo - logo // 3]))
    draw.ellipse((x, logo // 3, x + logo, logo // 3 + logo), fill=(230, 40, 40), outline=(255, 255, 255),
                 width=max(1, logo // 12))
    return out


def border(im: Image.Image, fraction: float = 0.10, fill=(255, 255, 255)) -> Image.Image:
    pad = max(2, round(min(im.size) * fraction))
    return ImageOps.expand(im.convert("RGB"), border=pad, fill=fill)


def screenshot(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Resized, overlaid and letterboxed on a dark canvas, like a phone screenshot."""
    small = scaled(im, 0.6)
    small = overlay(small, rng)
    canvas_w = small.width + 2 * max(4, small.width // 20)
    canvas_h = round(small.height * 1.5)
    canvas = Image.new("RGB", (canvas_w, canvas_h), (18, 18, 18))
    canvas.paste(small, ((canvas_w - small.width) // 2, (canvas_h - small.height) // 2))
    return canvas


# name -> edit(image, rng) -> encoded bytes
EDITS: Dict[str, Callable[[Image.Image, np.random.Generator], bytes]] = {
    "jpeg q30": lambda im, r: jpeg(im, 30),
    "resize 50%": lambda im, r: png(scaled(im, 0.5)),
    "resize 25%": lambda im, r: png(scaled(im, 0.25)),
    "crop 90% centre": lambda im, r: png(crop(im, 0.9, None)),
    "crop 75% centre": lambda im, r: png(crop(im, 0.75, None)),
    "crop 80% random": lambda im, r: png(crop(im, 0.8, r)),
    "crop 60% random": lambda im, r: png(crop(im, 0.6, r)),
    "rotate 3°": lambda im, r: png(im.rotate(3, resample=Image.Resampling.BICUBIC, expand=False)),
    "rotate 90°": lambda im, r: png(im.transpose(Image.Transpose.ROTATE_90)),
    "hflip": lambda im, r: png(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    "grayscale": lambda im, r: png(im.convert("L")),
    "brightness +30%": lambda im, r: png(ImageEnhance.Brightness(im).enhance(1.3)),
    "contrast -30%": lambda im, r: png(ImageEnhance.Contrast(im).enhance(0.7)),
    "blur r=2": lambda im, r: png(im.filter(ImageFilter.GaussianBlur(2))),
    "caption+logo": lambda im, r: png(overlay(im, r)),
    "border 10%": lambda im, r: png(border(im)),
    "aspect squash": lambda im, r: png(scaled(im, 1.0, 0.7)),
    "png re-encode": lambda im, r: png(im),
    "screenshot mix": lambda im, r: png(screenshot(im, r)),
}


def popcount_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between rows of a (n, B) and b (m, B) as (n, m)."""
    table = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1)
    return table[a[:, None, :] ^ b[None, :, :]].sum(-1)


def plain(sources: List[bytes], algorithm: str, threads: Optional[int] = None) -> np.ndarray:
    batch = fp.hash_images(sources, algorithm, threads=threads)
    if not batch.ok.all():
        raise RuntimeError(next(e for e in batch.errors if e))
    return batch.codes


def dihedral(sources: List[bytes]) -> np.ndarray:
    """(n, 8, 32) PDQ codes of each image's 8 orientations."""
    return np.array([[np.frombuffer(bytes(h), np.uint8) for h in fp.pdq_dihedral(s)] for s in sources])


class Evaluator:
    """Distance matrices (queries x indexed) per method, indexed set = unrelated images."""

    def __init__(self, indexed: List[bytes]) -> None:
        self.indexed = indexed
        self.codes = {a: plain(indexed, a) for a in ("phash", "pdq")}
        t = time.perf_counter()
        self.robust = fp.RobustImageIndex(threshold=SEARCH_RADIUS)
        self.robust.add_many(list(range(len(indexed))), indexed)
        self.index_s = (time.perf_counter() - t) / len(indexed)
        t = time.perf_counter()
        plain(indexed, "pdq", threads=1)
        self.pdq_s = (time.perf_counter() - t) / len(indexed)
        self.query_s: List[float] = []

    def distances(self, queries: List[bytes]) -> Dict[str, np.ndarray]:
        out = {a: popcount_dist(plain(queries, a), self.codes[a]) for a in ("phash", "pdq")}
        dih = dihedral(queries)  # (q, 8, 32)
        out["pdq+dihedral"] = popcount_dist(dih.reshape(-1, 32), self.codes["pdq"]).reshape(
            len(queries), 8, -1).min(axis=1)
        rob = np.full((len(queries), len(self.indexed)), NO_MATCH, dtype=np.int64)
        for qi, src in enumerate(queries):
            t = time.perf_counter()
            matches = self.robust.scores(src)
            self.query_s.append(time.perf_counter() - t)
            for m in matches:
                rob[qi, m.id] = m.distance
        out["robust"] = rob
        return out


def padded_query_ms(robust: fp.RobustImageIndex, queries: List[bytes], pad: int, seed: int) -> float:
    """Median query time (ms, one thread) with `pad` synthetic images added to the index.

    Synthetic images get a random 256-bit whole-picture code and 15 uniformly random 64-bit
    local codes at random positions and scales. Real codes cluster more than random ones, so
    this is a lower bound on the candidates a real index of that size yields.
    """
    rng = np.random.default_rng(seed)
    per = 15
    whole = rng.integers(0, 256, (pad, 32), dtype=np.uint8)
    local = rng.integers(0, 256, (pad * per, 8), dtype=np.uint8)
    points = np.column_stack([rng.random(pad * per), rng.random(pad * per),
                              rng.uniform(0.01, 0.08, pad * per)]).astype(np.float32)
    robust._append(list(range(-pad, 0)), whole, local, points, np.full(pad, per))
    times = []
    for src in queries:
        t = time.perf_counter()
        robust.scores(src)
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--images", type=Path, default=IMAGES, help="folder with originals/ and distractors/")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N originals and N distractors")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rate", type=float, default=1e-4, help="target false-match rate per pair")
    ap.add_argument("--pad", type=int, default=1_000_000, help="synthetic images to time queries against")
    args = ap.parse_args(argv)

    originals = sorted((args.images / "originals").iterdir())[: args.limit]
    distractors = sorted((args.images / "distractors").iterdir())[: args.limit]
    if not originals:
        print(f"no images in {args.images / 'originals'}", file=sys.stderr)
        return 1
    rng = np.random.default_rng(args.seed)
    unrelated = [p.read_bytes() for p in originals + distractors]
    n = len(originals)
    ev = Evaluator(unrelated)

    # Calibration: every ordered pair (query i, indexed j), i != j, of the unedited images.
    base = ev.distances(unrelated)
    off_diag = ~np.eye(len(unrelated), dtype=bool)
    threshold = {m: fp.calibrate(np.minimum(base[m][off_diag], NO_MATCH), args.rate) for m in METHODS}
    pairs = int(off_diag.sum())

    pil = []
    for p in originals:
        with Image.open(p) as im:
            pil.append(ImageOps.exif_transpose(im).convert("RGB"))
    recall: Dict[str, Dict[str, float]] = {}
    timed: List[bytes] = []
    for edit, fn in EDITS.items():
        edited = [fn(im, rng) for im in pil]
        timed += edited[:2]
        d = ev.distances(edited)
        recall[edit] = {m: float((d[m][np.arange(n), np.arange(n)] <= threshold[m]).mean()) for m in METHODS}

    head = " | ".join(f"{m} (≤{threshold[m]})" for m in METHODS)
    print(f"Recall on {n} originals (seed {args.seed}) at a false-match rate of {args.rate:g} per pair; "
          f"thresholds calibrated on {pairs} ordered pairs of {len(unrelated)} unrelated images.\n")
    print(f"| edit | {head} |")
    print("|---" * (len(METHODS) + 1) + "|")
    for edit, row in recall.items():
        print(f"| {edit} | " + " | ".join(f"{100 * row[m]:.0f}%" for m in METHODS) + " |")
    mean = {m: np.mean([row[m] for row in recall.values()]) for m in METHODS}
    print("| **mean recall** | " + " | ".join(f"**{100 * mean[m]:.1f}%**" for m in METHODS) + " |")
    fmr = {m: float((base[m][off_diag] <= threshold[m]).mean()) for m in METHODS}
    print("| false-match rate | " + " | ".join(f"{fmr[m]:.1e}" for m in METHODS) + " |")
    print(f"\nrobust index: {ev.robust.codes_per_image:.1f} codes per image; indexing "
          f"{1e3 * ev.index_s:.1f} ms per image vs plain PDQ {1e3 * ev.pdq_s:.1f} ms "
          f"({ev.pdq_s / ev.index_s:.2f} of PDQ's throughput, one thread, from the files); "
          f"query {1e3 * float(np.median(ev.query_s)):.1f} ms median (hashing + search, "
          f"{len(unrelated)} images indexed).")
    if args.pad > 0:
        t = time.perf_counter()
        ev.robust.threshold = threshold["robust"]
        ms = padded_query_ms(ev.robust, timed, args.pad, args.seed)
        print(f"query with {args.pad:,} synthetic images added ({ev.robust.codes_per_image:.1f} codes per "
              f"image): {ms:.1f} ms median over {len(timed)} edited queries at threshold "
              f"{threshold['robust']} "
              f"(padding built in {time.perf_counter() - t:.0f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
