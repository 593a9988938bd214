"""Copy detection that survives crops, borders, overlays, flips and rotations (issue 8).

`RobustImageIndex` stores at most 16 PDQ codes per image: the whole picture after border
removal plus overlapping regions at several scales, one `HammingIndex(method="mih")` per
region. A query hashes its own picture in the 8 dihedral orientations and, for each centred
crop hypothesis (kept fraction of each side), the windows that line up with the indexed
regions; half the regions seen under one hypothesis must match for region evidence to count. `calibrate` picks the distance threshold for a target false-match rate.
See docs/robust-matching.md for the measurements behind the choices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from ._image import ImageSource, _source, decode_image, hash_images
from ._index import HammingIndex

__all__ = ["RobustImageIndex", "RobustMatch", "calibrate", "trim_borders", "robust_codes"]

# Working resolution: PDQ box-filters every input down to 64x64, so 256 px leaves each region
# more than 64 px; shrinking first makes the 16 region hashes cheap.
WORK_SIDE = 256
# Index regions in fractions of the trimmed picture: (x, y, w, h). Whole picture first, then a
# 3x3 grid of half-size regions (overlays and caption bars spoil some, not all), then centred
# regions at 0.8 and 0.65 and four 0.35 regions around the centre, so that a centred crop
# keeping 60-100% of each side still contains five or more indexed regions.
_GRID = [(g, h, 0.5, 0.5) for h in (0.0, 0.25, 0.5) for g in (0.0, 0.25, 0.5)]
_CENTRE = [(0.1, 0.1, 0.8, 0.8), (0.175, 0.175, 0.65, 0.65)]
_SMALL = [(g, h, 0.35, 0.35) for h in (0.25, 0.4) for g in (0.25, 0.4)]
REGIONS: List[Tuple[float, float, float, float]] = [(0.0, 0.0, 1.0, 1.0)] + _GRID + _CENTRE + _SMALL
# Crop hypotheses (kept fraction c of each side, offset px, py) a query is tried under. PDQ of a
# region flips ~20% of its bits when the window is misplaced by 3% of its size, so a window
# must line up with the indexed region almost exactly: hypotheses are centred crops on a fine
# grid of c (a centred scale error is far milder than a shift).
CROP_HYPOTHESES: List[Tuple[float, float, float]] = [
    (c, (1.0 - c) / 2, (1.0 - c) / 2) for c in (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6)
]
# Fewest region hits that count as evidence under one hypothesis.
VOTES = 2
# A window may stick out of the query by this fraction of its size (then it is clipped).
OVERHANG = 0.03
# Default distance threshold (of 256 bits): the 1e-4 false-match threshold calibrated on the
# 120 unrelated images of the shared set (benches/robustness_robust.py); use `calibrate` on
# your own sample.
DEFAULT_THRESHOLD = 69
# Added to the distance of the 7 rotated/mirrored whole-picture codes: 7 more chances to meet
# an unrelated image lower the 1e-4 threshold of PDQ from 85 to 71 on the shared set (14).
DIHEDRAL_PENALTY = 14
# A region whose PDQ quality is below this is flat (sky, wall) and matches everything.
MIN_QUALITY = 50


def _luma(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Rec.601 luma (PDQ's weights, in 8-bit fixed point), box-shrunk so the short side stays
    >= WORK_SIDE: shrinking first keeps the float work on a small picture."""
    f = max(1, min(pixels.shape[:2]) // WORK_SIDE)
    h, w = (pixels.shape[0] // f) * f, (pixels.shape[1] // f) * f
    p = pixels[:h, :w]
    if p.ndim == 3 and p.shape[2] >= 3:
        y = p[:, :, 0] * np.uint16(77) + p[:, :, 1] * np.uint16(150) + p[:, :, 2] * np.uint16(29)
    else:
        y = (p if p.ndim == 2 else p[:, :, 0]).astype(np.uint16) << np.uint16(8)
    if f > 1:
        y = y.reshape(h // f, f, w // f, f).sum(axis=(1, 3), dtype=np.uint32)
    return y.astype(np.float32) * np.float32(1.0 / (256 * f * f))


def trim_borders(
    luma: npt.NDArray[np.floating],
    *,
    tolerance: float = 8.0,
    edge: float = 24.0,
    max_fraction: float = 0.35,
) -> Tuple[int, int, int, int]:
    """Bounds (top, bottom, left, right) of the picture inside near-uniform bands on any side.

    A band is a run of edge rows/columns whose pixels stay within `tolerance` grey levels of
    the edge colour (median of the outermost line) and that ends at a sharp edge (the next two
    lines differ by `edge` grey levels on average); at most `max_fraction` of a side is cut.
    """
    h, w = luma.shape

    def run(lines: npt.NDArray[np.floating], limit: int) -> int:
        # lines: (n, L) ordered from the edge inwards. A line is border when nearly all of it
        # is close to the edge colour (JPEG ringing or a stray dot may leave a few outliers).
        if limit <= 0 or lines.shape[1] == 0:
            return 0
        ref = float(np.median(lines[0]))
        ok = np.mean(np.abs(lines[:limit] - ref) <= tolerance, axis=1) >= 0.98
        bad = np.flatnonzero(~ok)
        n = int(bad[0]) if bad.size else limit
        # Bands under 1% of the side are edge noise, not borders.
        if n < max(2, lines.shape[0] // 100) or n + 2 > lines.shape[0]:
            return 0
        # A frame ends at a sharp edge; a sky or a dark background fades into the picture, and
        # cutting there would depend on brightness, contrast or JPEG noise.
        step = float(np.mean(np.abs(lines[n : n + 2] - ref)))
        return n if step >= edge else 0

    t, b, l, r = 0, h, 0, w
    # Repeat: a border cut from one side can reveal that another side's band is uniform, and
    # a picture whose own edge is flat ends up cut the same way with or without a frame.
    for _ in range(4):
        inner = luma[t:b, l:r]
        ih, iw = inner.shape
        if ih < 8 or iw < 8:
            break
        dt = run(inner, int(h * max_fraction) - t)
        db = run(inner[::-1], int(h * max_fraction) - (h - b))
        cols = inner[dt : ih - db] if ih - dt - db >= 8 else inner
        dl = run(cols.T, int(w * max_fraction) - l)
        dr = run(cols.T[::-1], int(w * max_fraction) - (w - r))
        if not (dt or db or dl or dr) or ih - dt - db < 8 or iw - dl - dr < 8:
            break
        t, b, l, r = t + dt, b - db, l + dl, r - dr
    inner = luma[t:b, l:r]
    # A flat picture has no frame to find: keep it whole.
    if float(inner.max()) - float(inner.min()) <= 2 * tolerance:
        return 0, h, 0, w
    return t, b, l, r


def _prepare(source: ImageSource) -> npt.NDArray[np.float32]:
    """Decode, grey and shrink, cut borders: the picture every code is taken from."""
    src = _source(source)
    pixels = src if isinstance(src, np.ndarray) else decode_image(src)
    luma = _luma(pixels)
    t, b, l, r = trim_borders(luma)
    return luma[t:b, l:r]


def _windows(
    picture: npt.NDArray[np.float32], boxes: Sequence[Tuple[float, float, float, float]]
) -> List[npt.NDArray[np.uint8]]:
    h, w = picture.shape
    out = []
    for x, y, bw, bh in boxes:
        x0, y0 = max(0, int(round(x * w))), max(0, int(round(y * h)))
        x1 = min(w, max(x0 + 1, int(round((x + bw) * w))))
        y1 = min(h, max(y0 + 1, int(round((y + bh) * h))))
        out.append(np.ascontiguousarray(np.clip(picture[y0:y1, x0:x1] + 0.5, 0, 255).astype(np.uint8)))
    return out


def _pdq_many(images: List[npt.NDArray[np.uint8]], threads: Optional[int]) -> Tuple[np.ndarray, np.ndarray]:
    batch = hash_images(images, "pdq", threads)
    if not batch.ok.all():
        raise ValueError(next(e for e in batch.errors if e))
    return batch.codes, batch.quality


def robust_codes(
    source: ImageSource, *, threads: Optional[int] = 1
) -> Tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """The index-side codes of one image: (codes (k, 32), region numbers (k,)), k <= 16.

    Region 0 is the whole picture after border removal; flat regions are left out.
    """
    picture = _prepare(source)
    codes, quality = _pdq_many(_windows(picture, REGIONS), threads)
    keep = np.ones(len(REGIONS), dtype=bool)
    keep[1:] = quality[1:] >= MIN_QUALITY
    return codes[keep], np.flatnonzero(keep).astype(np.uint8)


def _query_plan() -> Tuple[List[Tuple[float, float, float, float]], List[Tuple[int, int]]]:
    """Query windows and, per window, (hypothesis number, region number).

    A query that keeps fraction c of each side of the original, at offset (px, py), shows the
    indexed region (x, y, s) as the query window ((x - px) / c, (y - py) / c, s / c); every
    region that fits in the query (up to OVERHANG) gives one window, compared with that region
    only.
    """
    boxes: List[Tuple[float, float, float, float]] = []
    meta: List[Tuple[int, int]] = []
    for hyp, (c, px, py) in enumerate(CROP_HYPOTHESES):
        for region, (x, y, w, h) in enumerate(REGIONS):
            if region == 0:
                continue
            u, v, bw, bh = (x - px) / c, (y - py) / c, w / c, h / c
            tol_w, tol_h = OVERHANG * bw, OVERHANG * bh
            if u < -tol_w or v < -tol_h or u + bw > 1 + tol_w or v + bh > 1 + tol_h:
                continue
            boxes.append((u, v, bw, bh))
            meta.append((hyp, region))
    return boxes, meta


_QUERY_BOXES, _QUERY_META = _query_plan()


@dataclass(frozen=True)
class RobustMatch:
    """One indexed image found by a query: smaller `distance` is a closer copy.

    `distance` is the best whole-picture distance (any orientation) or, when region evidence
    is stronger, the second-best region distance under one crop hypothesis. `regions` counts
    the region hits within the search radius; `transform` names the orientation or the crop.
    """

    id: int
    distance: int
    regions: int
    transform: str


_DIHEDRAL = ("original", "rotate90", "rotate180", "rotate270", "flipx", "flipy", "flip+1", "flip-1")


class RobustImageIndex:
    """An image index robust to borders, flips, rotations by 90 degrees, overlays and crops.

    >>> import numpy as np, fingerprint
    >>> img = (np.random.default_rng(0).random((200, 300)) * 255).astype(np.uint8)
    >>> index = fingerprint.RobustImageIndex()
    >>> index.add(7, img)
    >>> index.query(img[:, ::-1].copy())[0].id
    7
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, *, threads: Optional[int] = 1) -> None:
        """`threshold`: largest distance (of 256 bits) reported; see `calibrate`."""
        self.threshold = float(threshold)
        self.threads = threads
        # One index per region number (0: the whole picture): a query window is compared with
        # the codes of its own region only, 1/15 of the region codes.
        self._by_region = [HammingIndex(256, method="mih") for _ in REGIONS]
        self._next_key = 0
        self._key_image: List[int] = []
        self._ids: Dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, id: object) -> bool:
        return id in self._ids

    @property
    def codes_per_image(self) -> float:
        """Mean number of stored codes per image (at most 16)."""
        return sum(len(ix) for ix in self._by_region) / max(1, len(self._ids))

    def add(self, id: int, source: ImageSource) -> None:
        """Index one image under integer `id`."""
        self.add_many([id], [source])

    def add_many(self, ids: Sequence[int], sources: Sequence[ImageSource]) -> None:
        """Index several images; raises ValueError (adding nothing) on a repeated id."""
        if len(ids) != len(sources):
            raise ValueError(f"got {len(ids)} ids but {len(sources)} sources")
        ids = [int(i) for i in ids]
        if len(set(ids)) != len(ids) or any(i in self._ids for i in ids):
            raise ValueError("ids must be unique and not already indexed")
        prepared = [robust_codes(s, threads=self.threads) for s in sources]
        per_region: List[Tuple[List[np.ndarray], List[int]]] = [([], []) for _ in REGIONS]
        for image_id, (codes, regions) in zip(ids, prepared):
            self._ids[image_id] = len(self._ids)
            for code, region in zip(codes, regions):
                key = self._next_key
                self._next_key += 1
                self._key_image.append(image_id)
                per_region[int(region)][0].append(code)
                per_region[int(region)][1].append(key)
        for index, (codes_r, keys_r) in zip(self._by_region, per_region):
            if codes_r:
                index.add(np.stack(codes_r), np.array(keys_r, dtype=np.uint64))

    def _query_codes(self, source: ImageSource) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Whole-picture dihedral codes (8, 32), window codes (n, 32) and their qualities."""
        picture = _prepare(source)
        grey = np.ascontiguousarray(np.clip(picture + 0.5, 0, 255).astype(np.uint8))
        from . import _core

        whole = np.array([np.frombuffer(d, dtype=np.uint8) for d, _ in _core.pdq_dihedral(grey)])
        codes, quality = _pdq_many(_windows(picture, _QUERY_BOXES), self.threads)
        return whole, codes, quality

    def scores(self, source: ImageSource, max_distance: Optional[float] = None) -> List[RobustMatch]:
        """Every indexed image within `max_distance` (default: the threshold), best first."""
        limit = self.threshold if max_distance is None else float(max_distance)
        radius = int(math.floor(limit))
        if radius < 0:
            return []
        whole, windows, quality = self._query_codes(source)
        best: Dict[int, Tuple[int, int, str]] = {}
        whole_index = self._by_region[0]
        if len(whole_index):
            off, keys, dist = whole_index.range_search(whole, radius, threads=self.threads)
            for q in range(len(whole)):
                for k, d in zip(keys[off[q] : off[q + 1]], dist[off[q] : off[q + 1]]):
                    img = self._key_image[int(k)]
                    score = int(d) + (DIHEDRAL_PENALTY if q else 0)
                    if img not in best or score < best[img][0]:
                        best[img] = (score, 1, _DIHEDRAL[q])
        if any(len(ix) for ix in self._by_region[1:]):
            keep = [q for q in range(len(windows)) if quality[q] >= MIN_QUALITY]
            votes: Dict[Tuple[int, int], List[int]] = {}
            windows_per_hyp = np.bincount(
                [_QUERY_META[q][0] for q in keep], minlength=len(CROP_HYPOTHESES)
            )
            for region in range(1, len(REGIONS)):
                rows = [q for q in keep if _QUERY_META[q][1] == region]
                if not rows or not len(self._by_region[region]):
                    continue
                off, keys, dist = self._by_region[region].range_search(
                    windows[rows], radius, threads=self.threads
                )
                for row, q in enumerate(rows):
                    hyp = _QUERY_META[q][0]
                    for k, d in zip(keys[off[row] : off[row + 1]], dist[off[row] : off[row + 1]]):
                        votes.setdefault((self._key_image[int(k)], hyp), []).append(int(d))
            for (img, hyp), ds in votes.items():
                # Half the regions seen under the hypothesis (at least VOTES) must lie within
                # the distance: the median-like region distance is the score. Overlays spoil
                # a few regions; unrelated pictures of one kind (planets on white) share a few.
                need = max(VOTES, (int(windows_per_hyp[hyp]) + 1) // 2)
                if len(ds) < need:
                    continue
                score = sorted(ds)[need - 1]
                if img not in best or score < best[img][0]:
                    c = CROP_HYPOTHESES[hyp][0]
                    best[img] = (score, len(ds), "regions" if c == 1.0 else f"crop {c:g}")
        out = [RobustMatch(i, d, n, t) for i, (d, n, t) in best.items() if d <= limit]
        out.sort(key=lambda m: (m.distance, m.id))
        return out

    def calibrate(
        self, sources: Sequence[ImageSource], target_rate: float = 1e-4, *, max_distance: int = 96
    ) -> int:
        """Set (and return) the threshold for `target_rate` false matches per pair of images,
        measured on `sources`, a sample of unrelated images (every ordered pair is a trial)."""
        sample = RobustImageIndex(max_distance, threads=self.threads)
        sample.add_many(list(range(len(sources))), sources)
        n = len(sources)
        d = np.full((n, n), max_distance + 1, dtype=np.int64)
        for i, src in enumerate(sources):
            for m in sample.scores(src):
                d[i, m.id] = m.distance
        threshold = calibrate(d[~np.eye(n, dtype=bool)], target_rate)
        self.threshold = float(min(threshold, max_distance))
        return int(self.threshold)

    def query(self, source: ImageSource, top: int = 5) -> List[RobustMatch]:
        """The `top` best matches within the threshold, best first."""
        return self.scores(source)[: max(0, int(top))]


def calibrate(
    distances: Optional[npt.ArrayLike] = None,
    target_rate: float = 1e-4,
    *,
    codes: Optional[npt.ArrayLike] = None,
    max_pairs: int = 20_000_000,
    seed: int = 0,
) -> int:
    """The largest threshold t with (unrelated pairs at distance <= t) / pairs <= `target_rate`.

    Give the integer distances of unrelated pairs, or `codes` (n, bytes) uint8 of unrelated
    images to use every pair of them (a seeded sample of `max_pairs` when there are more).
    Returns -1 when even distance 0 happens too often.

    >>> calibrate([5, 9, 9, 12], target_rate=0.25)
    8
    """
    if not 0.0 <= float(target_rate) <= 1.0:
        raise ValueError(f"target_rate must be within [0, 1], got {target_rate}")
    if (distances is None) == (codes is None):
        raise ValueError("give exactly one of distances or codes")
    if codes is not None:
        d = _pair_distances(np.asarray(codes), max_pairs, seed)
    else:
        d = np.asarray(distances).ravel()
        if d.dtype.kind not in "iu":
            raise TypeError(f"distances must be integers, got dtype {d.dtype}")
    if d.size == 0:
        raise ValueError("need at least one unrelated pair")
    allowed = int(math.floor(float(target_rate) * d.size + 1e-9))
    if allowed >= d.size:
        return int(d.max())
    # The (allowed+1)-th smallest distance must not match; everything below it may.
    return int(np.partition(d, allowed)[allowed]) - 1


def _pair_distances(codes: npt.NDArray[np.uint8], max_pairs: int, seed: int) -> npt.NDArray[np.int64]:
    """Hamming distances of all pairs i < j of `codes`, or of a seeded sample of pairs."""
    if codes.dtype != np.uint8 or codes.ndim != 2:
        raise TypeError(f"codes must be a uint8 array (n, bytes), got {codes.dtype} {codes.shape}")
    n = codes.shape[0]
    total = n * (n - 1) // 2
    table = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1)
    if total <= max_pairs:
        out = []
        for row in range(n - 1):
            out.append(table[codes[row] ^ codes[row + 1 :]].sum(axis=1))
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, max_pairs)
    j = rng.integers(0, n - 1, max_pairs)
    j = j + (j >= i)  # j != i, uniform over the other rows
    return table[codes[i] ^ codes[j]].sum(axis=1).astype(np.int64)
