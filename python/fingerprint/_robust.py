"""Copy detection that survives crops, borders, overlays, flips and rotations (issue 8).

`RobustImageIndex` stores at most 16 codes per image: the PDQ code of the whole picture after
border removal, and up to 15 local codes, each the 64-bit DCT code of a patch around a
difference-of-Gaussian keypoint, with the keypoint's position and scale. A query looks up its
8 dihedral PDQ codes and up to 48 local codes; local matches count only when at least two of
them agree on one similarity transform (a crop and a resize), found from the keypoints' own
positions and scales, so a crop taken anywhere in the picture is found. Everything per image
runs in one Rust call (`_core.robust_features`). `calibrate` picks the distance threshold for a
target false-match rate. See docs/robust-matching.md for the measurements behind the choices.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _core
from ._image import ImageSource, _source
from ._index import HammingIndex

__all__ = ["RobustImageIndex", "RobustMatch", "calibrate", "trim_borders", "robust_codes"]

# Working resolution of the border trim: the short side stays >= 256 px (PDQ box-filters every
# input to 64x64). The Rust core (rust/src/image/trim.rs) does the same arithmetic.
WORK_SIDE = 256
# Default distance threshold (of 256 bits): the 1e-4 false-match threshold calibrated on the
# 120 unrelated images of the shared set (benches/robustness_robust.py); use `calibrate` on
# your own sample.
DEFAULT_THRESHOLD = 69
# Added to the distance of the 7 rotated/mirrored whole-picture codes: 7 more chances to meet
# an unrelated image lower the 1e-4 threshold of PDQ from 85 to 71 on the shared set (14).
DIHEDRAL_PENALTY = 14
# Local codes stored per image (with the whole-picture code: 16) and computed per query (queries
# are not stored, and more keypoints make it likelier that the stored ones are among them).
INDEX_KEYPOINTS = 15
QUERY_KEYPOINTS = 48
# Stored keypoints closer than this (fraction of the short side) to a stronger one are skipped:
# one blob found at two neighbouring scales would spend two of the 15 codes on one place.
# Larger values (0.2-0.3) spread the codes but leave weaker, less repeatable keypoints: measured
# worse on 60% crops.
MIN_SEPARATION = 0.05
# Largest Hamming distance (of 64 bits) at which two local codes are a candidate match. On the
# shared set, 8 finds as many agreeing pairs as 12 (the geometry, not the code distance, rejects
# chance pairs), and with 3 multi-index tables of ~21 bits the search enumerates only the
# buckets within 2 bits of each table: fast on millions of codes.
LOCAL_RADIUS = 8
LOCAL_TABLES = 3
# Geometric agreement with a hypothesis q = s * p + t: |log(scale ratio) - log s| below this...
SCALE_TOLERANCE = 0.25
# ...and the position error below this many query keypoint scales (the patch is 6 wide).
POSITION_TOLERANCE = 0.5
# Fewest agreeing local matches that count as evidence.
MIN_LOCAL_MATCHES = 2
# Local score in the PDQ distance scale: LOCAL_BASE (chance: half of 256 bits) minus LOCAL_STEP
# per unit of evidence, where each agreeing match adds 1 - distance / (LOCAL_RADIUS + 1): two
# exact matches score 0, two at distance 4 score 57, two at distance 8 score 114.
LOCAL_BASE = 128
LOCAL_STEP = 64
# Version of the `save` file layout.
_FORMAT = 1


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


def _core_source(source: ImageSource) -> Union[str, bytes, npt.NDArray[np.uint8]]:
    """A path, bytes or C-contiguous array, as `_core.robust_features` takes them."""
    src = _source(source)
    if isinstance(src, np.ndarray):
        return np.ascontiguousarray(src)
    return src


# Per image: dihedral PDQ codes (8, 32), quality, local codes (k, 8), keypoints (k, 4) as
# x, y, scale, response, and the trim bounds.
Features = Tuple[np.ndarray, int, np.ndarray, np.ndarray, Tuple[int, int, int, int]]


def _features(
    sources: Sequence[ImageSource], keypoints: int, separation: float, threads: Optional[int]
) -> List[Features]:
    """Trim, PDQ and local codes of every source in one Rust call (GIL released)."""
    return _core.robust_features([_core_source(s) for s in sources], keypoints, separation, threads)


def robust_codes(
    source: ImageSource, *, threads: Optional[int] = 1
) -> Tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """The index-side codes of one image: whole-picture PDQ (32,), local codes (k, 8) and their
    keypoints (k, 3) as x, y, scale in units of the trimmed picture's short side; k <= 15."""
    dihedral, _, codes, points, _ = _features([source], INDEX_KEYPOINTS, MIN_SEPARATION, threads)[0]
    return dihedral[0], codes, points[:, :3]


def _agreement(
    qp: np.ndarray, ip: np.ndarray, qi: np.ndarray, ii: np.ndarray, dist: np.ndarray
) -> Tuple[int, float]:
    """Largest set of local matches agreeing on one transform q = s * p + t: (matches, evidence).

    qp, ip: (., 3) query and indexed keypoints (x, y, scale); qi, ii, dist: the candidate
    matches. Every match proposes s (its scale ratio) and t; the others agree when their scale
    ratio and position fit. Each query and each indexed keypoint counts once.
    """
    ls = np.log(qp[qi, 2] / ip[ii, 2])
    best = (0, 0.0)
    for h in range(len(qi)):
        s = math.exp(ls[h])
        tx = qp[qi[h], 0] - s * ip[ii[h], 0]
        ty = qp[qi[h], 1] - s * ip[ii[h], 1]
        ex = qp[qi, 0] - (s * ip[ii, 0] + tx)
        ey = qp[qi, 1] - (s * ip[ii, 1] + ty)
        ok = (np.abs(ls - ls[h]) < SCALE_TOLERANCE) & (np.hypot(ex, ey) < POSITION_TOLERANCE * qp[qi, 2])
        n = min(len(np.unique(qi[ok])), len(np.unique(ii[ok])))
        if n < max(2, best[0]):
            continue
        # Evidence: the closest match per query keypoint, then per indexed keypoint.
        order = np.argsort(dist[ok], kind="stable")
        seen_q: set = set()
        seen_i: set = set()
        evidence = 0.0
        for q, i, d in zip(qi[ok][order], ii[ok][order], dist[ok][order]):
            if q in seen_q or i in seen_i:
                continue
            seen_q.add(q)
            seen_i.add(i)
            evidence += 1.0 - float(d) / (LOCAL_RADIUS + 1)
        if (n, evidence) > best:
            best = (n, evidence)
    return best


def local_score(matches: int, evidence: float) -> Optional[int]:
    """The local evidence in the PDQ distance scale, or None below MIN_LOCAL_MATCHES matches:
    LOCAL_BASE - LOCAL_STEP * evidence, at least 0."""
    if matches < MIN_LOCAL_MATCHES:
        return None
    return max(0, int(round(LOCAL_BASE - LOCAL_STEP * evidence)))


@dataclass(frozen=True)
class RobustMatch:
    """One indexed image found by a query: smaller `distance` is a closer copy.

    `distance` is the best whole-picture distance (any orientation, rotated or mirrored codes
    with DIHEDRAL_PENALTY added) or, when stronger, the local score (`local_score`). `regions`
    counts the local matches that agree on one transform (1 for a whole-picture match);
    `transform` names the orientation, or "local" with the scale of the copy.
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
        self._whole = HammingIndex(256, method="mih")
        self._local = HammingIndex(64, method="mih", tables=LOCAL_TABLES)
        self._ids: List[int] = []  # image row -> id
        self._rows: Dict[int, int] = {}  # id -> image row
        self._local_image = np.zeros(0, dtype=np.int64)  # local key -> image row
        self._local_points = np.zeros((0, 3), dtype=np.float32)  # local key -> x, y, scale

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, id: object) -> bool:
        return id in self._rows

    @property
    def codes_per_image(self) -> float:
        """Mean number of stored codes per image (at most 16)."""
        return (len(self._whole) + len(self._local)) / max(1, len(self._ids))

    def add(self, id: int, source: ImageSource) -> None:
        """Index one image under integer `id`."""
        self.add_many([id], [source])

    def add_many(self, ids: Sequence[int], sources: Sequence[ImageSource]) -> None:
        """Index several images; raises ValueError (adding nothing) on a repeated id."""
        if len(ids) != len(sources):
            raise ValueError(f"got {len(ids)} ids but {len(sources)} sources")
        ids = [int(i) for i in ids]
        if len(set(ids)) != len(ids) or any(i in self._rows for i in ids):
            raise ValueError("ids must be unique and not already indexed")
        feats = _features(sources, INDEX_KEYPOINTS, MIN_SEPARATION, self.threads)
        if not feats:
            return
        whole = np.stack([f[0][0] for f in feats])
        codes = np.concatenate([f[2] for f in feats])
        points = np.concatenate([f[3][:, :3] for f in feats])
        self._append(ids, whole, codes, points, np.array([len(f[2]) for f in feats]))

    def _append(
        self, ids: List[int], whole: np.ndarray, codes: np.ndarray, points: np.ndarray, counts: np.ndarray
    ) -> None:
        """Store images: whole codes (n, 32), local codes (k, 8) and points (k, 3) of all of them
        concatenated, `counts[i]` of them image i's."""
        first = len(self._ids)
        rows = np.arange(first, first + len(ids), dtype=np.int64)
        self._whole.add(whole, rows.astype(np.uint64))
        total = int(np.sum(counts))
        if total:
            keys = np.arange(len(self._local), len(self._local) + total, dtype=np.uint64)
            self._local.add(codes, keys)
            self._local_image = np.concatenate([self._local_image, np.repeat(rows, counts)])
            self._local_points = np.concatenate([self._local_points, points]).astype(np.float32)
        for image_id, row in zip(ids, rows):
            self._ids.append(image_id)
            self._rows[image_id] = int(row)

    def scores(self, source: ImageSource, max_distance: Optional[float] = None) -> List[RobustMatch]:
        """Every indexed image within `max_distance` (default: the threshold), best first."""
        limit = self.threshold if max_distance is None else float(max_distance)
        radius = int(math.floor(limit))
        if radius < 0 or not self._ids:
            return []
        dihedral, _, codes, points, _ = _features([source], QUERY_KEYPOINTS, 0.0, self.threads)[0]
        best: Dict[int, Tuple[int, int, str]] = {}
        off, keys, dist = self._whole.range_search(dihedral, radius, threads=self.threads)
        for q in range(len(dihedral)):
            for k, d in zip(keys[off[q] : off[q + 1]], dist[off[q] : off[q + 1]]):
                row = int(k)
                score = int(d) + (DIHEDRAL_PENALTY if q else 0)
                if score <= limit and (row not in best or score < best[row][0]):
                    best[row] = (score, 1, _DIHEDRAL[q])
        if len(codes) and len(self._local):
            off, keys, dist = self._local.range_search(codes, LOCAL_RADIUS, threads=self.threads)
            qi = np.repeat(np.arange(len(codes)), np.diff(off))
            keys = keys.astype(np.int64)
            rows = self._local_image[keys]
            order = np.argsort(rows, kind="stable")
            rows, qi, keys, dist = rows[order], qi[order], keys[order], dist[order]
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) else np.zeros(0, int)
            ends = np.r_[starts[1:], len(rows)]
            qp = points[:, :3]
            for a, b in zip(starts, ends):
                if b - a < MIN_LOCAL_MATCHES:
                    continue
                n, evidence = _agreement(qp, self._local_points, qi[a:b], keys[a:b], dist[a:b])
                score = local_score(n, evidence)
                row = int(rows[a])
                if score is not None and score <= limit and (row not in best or score < best[row][0]):
                    best[row] = (score, n, "local")
        out = [RobustMatch(self._ids[r], d, n, t) for r, (d, n, t) in best.items()]
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

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write the index to `path` (a numpy .npz) atomically: temporary file, fsync, rename."""
        path = os.fspath(path)
        tmp = f"{path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    format=np.array([_FORMAT], dtype=np.int64),
                    threshold=np.array([self.threshold]),
                    ids=np.array(self._ids, dtype=np.int64),
                    whole=self._whole.codes(),
                    whole_rows=self._whole.ids().astype(np.int64),
                    local=self._local.codes(),
                    local_keys=self._local.ids().astype(np.int64),
                    local_image=self._local_image,
                    local_points=self._local_points,
                )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"], *, threads: Optional[int] = 1) -> "RobustImageIndex":
        """Read an index written by `save`; raises CorruptIndexError if it is not one."""
        from .errors import CorruptIndexError

        with open(os.fspath(path), "rb") as f:  # a missing file is FileNotFoundError
            raw = f.read()
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
            if int(data["format"][0]) != _FORMAT:
                raise ValueError(f"format {int(data['format'][0])}, expected {_FORMAT}")
            index = cls(float(data["threshold"][0]), threads=threads)
            ids = [int(i) for i in data["ids"]]
            n_local = len(data["local_keys"])
            if (
                len(set(ids)) != len(ids)
                or sorted(data["whole_rows"].tolist()) != list(range(len(ids)))
                or sorted(data["local_keys"].tolist()) != list(range(n_local))
                or data["local_image"].shape != (n_local,)
                or data["local_points"].shape != (n_local, 3)
                or (n_local and not 0 <= data["local_image"].min() <= data["local_image"].max() < len(ids))
            ):
                raise ValueError("inconsistent arrays")
            if len(ids):
                index._whole.add(data["whole"], data["whole_rows"].astype(np.uint64))
            if n_local:
                index._local.add(data["local"], data["local_keys"].astype(np.uint64))
        except (OSError, EOFError, KeyError, ValueError, IndexError, TypeError, zipfile.BadZipFile) as e:
            raise CorruptIndexError(f"{os.fspath(path)}: not a RobustImageIndex file ({e})") from e
        index._local_image = data["local_image"].astype(np.int64)
        index._local_points = data["local_points"].astype(np.float32)
        index._ids = ids
        index._rows = {image_id: row for row, image_id in enumerate(ids)}
        return index


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
