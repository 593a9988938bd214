"""Near-duplicate pairs to groups: SIMD pair search, union-find, and the best original per group."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

import fingerprint

from ._common import TRANSFORMS, Hashed, dimensions, file_size


def image_pairs(hashed: Hashed, threshold: int, threads: Optional[int] = None) -> Dict[Tuple[int, int], Tuple[int, str]]:
    """Every pair (i, j), i < j, within `threshold`, mapped to (distance, transform of j onto i).

    With dihedral variants, a pair also counts when some rotation or mirror of one is within
    `threshold` of the other; the smallest distance over the 8 orientations is kept.
    """
    n = len(hashed.paths)
    pairs: Dict[Tuple[int, int], Tuple[int, str]] = {}
    if n < 2:
        return pairs
    ii, jj, dd = fingerprint.find_duplicates(hashed.codes, threshold, threads=threads)
    for i, j, d in zip(ii.tolist(), jj.tolist(), dd.tolist()):
        pairs[(i, j)] = (d, TRANSFORMS[0])
    if hashed.variants is not None:
        # Rotations/mirrors of file i (variant row 7 i + t) against the upright hashes of every
        # file, as one exact join of the two sets (7n range queries cost 2x more at radius 48).
        variants = np.ascontiguousarray(hashed.variants.reshape(n * 7, -1))
        jj, qq, dd = fingerprint.find_duplicates_between(hashed.codes, variants, threshold, threads=threads)
        order = np.lexsort((jj, qq))  # variant by variant, as the queries ran before
        for q, j, d in zip(qq[order].tolist(), jj[order].tolist(), dd[order].tolist()):
            i, t = divmod(q, 7)
            if i == j:
                continue
            key = (i, j) if i < j else (j, i)
            if key not in pairs or d < pairs[key][0]:
                pairs[key] = (d, TRANSFORMS[t + 1])
    return pairs


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving and union by size."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        """The set representative of `x`."""
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        """Join the sets of `a` and `b`."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]


def components(n: int, edges: Sequence[Tuple[int, int]]) -> List[List[int]]:
    """Connected components with at least two members, each sorted, in order of first member."""
    uf = UnionFind(n)
    for a, b in edges:
        uf.union(a, b)
    groups: Dict[int, List[int]] = {}
    for a, b in edges:
        for x in (a, b):
            groups.setdefault(uf.find(x), [])
    for x in range(n):
        r = uf.find(x)
        if r in groups:
            groups[r].append(x)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


@dataclass
class Member:
    """One file in a group, with what the report shows about it."""

    path: str
    width: int = 0
    height: int = 0
    bytes: int = 0
    quality: Optional[int] = None
    duration: Optional[float] = None
    distance: Optional[float] = None  # to the group's best original
    transform: str = "none"  # of this file onto the best original
    offset: Optional[float] = None  # audio: seconds into the best original


@dataclass
class Pair:
    """A matched pair inside a group."""

    a: str
    b: str
    distance: float
    transform: str = "none"
    offset: Optional[float] = None


@dataclass
class Group:
    """Near-duplicates: `members[0]` is the best original."""

    kind: str  # "image" or "audio"
    members: List[Member]
    pairs: List[Pair] = field(default_factory=list)

    @property
    def best(self) -> Member:
        """The member to keep."""
        return self.members[0]


def _best_key(m: Member) -> Tuple[int, int, int, str]:
    """Sort key, best first: largest resolution, then highest quality, then largest file."""
    return (-(m.width * m.height), -(m.quality if m.quality is not None else -1), -m.bytes, m.path)


# Set bits per byte value.
_POPCOUNT = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1).astype(np.int32)


def _orientations(hashed: Hashed, idx: Sequence[int]) -> npt.NDArray[np.uint8]:
    """(len(idx), 8 or 1, bytes): each file's upright code, then its 7 variants when known."""
    upright = hashed.codes[list(idx)][:, None, :]
    if hashed.variants is None:
        return upright
    return np.concatenate([upright, hashed.variants[list(idx)]], axis=1)


def _oriented_distances(
    hashed: Hashed, rows: Sequence[int], cols: Sequence[int]
) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.intp]]:
    """For every (row file i, column file j): the smallest distance between i and the
    orientations of j, and which orientation (the first on ties, upright before variants)."""
    a = hashed.codes[list(rows)]
    b = _orientations(hashed, cols)
    d = _POPCOUNT[a[:, None, None, :] ^ b[None, :, :, :]].sum(-1)
    t = d.argmin(-1)
    return np.take_along_axis(d, t[..., None], -1)[..., 0], t


MAX_PAIRS_SHOWN = 12  # members per group whose pairwise distances are all listed


def image_groups(hashed: Hashed, threshold: int, threads: Optional[int] = None) -> List[Group]:
    """Group the hashed files and choose each group's best original."""
    pairs = image_pairs(hashed, threshold, threads)
    comps = components(len(hashed.paths), list(pairs))
    # Resolutions come from headers (or a decode): read them in parallel, they are mostly I/O.
    wanted = [i for comp in comps for i in comp]
    with ThreadPoolExecutor(max_workers=min(8, 2 * (threads or os.cpu_count() or 1))) as pool:
        sizes = dict(zip(wanted, pool.map(
            lambda i: dimensions(hashed.paths[i], (int(hashed.sizes[i, 0]), int(hashed.sizes[i, 1]))),
            wanted, chunksize=64)))
    groups: List[Group] = []
    for comp in comps:
        members = []
        for i in comp:
            w, h = sizes[i]
            q = int(hashed.quality[i])
            members.append(
                (Member(hashed.paths[i], w, h, file_size(hashed.paths[i]), q if q >= 0 else None), i)
            )
        members.sort(key=lambda m: _best_key(m[0]))
        order = [i for _, i in members]
        d, t = _oriented_distances(hashed, order[:1], order)
        for k, (m, _) in enumerate(members):
            m.distance, m.transform = int(d[0, k]), TRANSFORMS[int(t[0, k])]
        members[0][0].distance, members[0][0].transform = 0, TRANSFORMS[0]
        shown = order[:MAX_PAIRS_SHOWN]
        d, t = _oriented_distances(hashed, shown, shown)
        group_pairs = [
            Pair(hashed.paths[shown[x]], hashed.paths[shown[y]], int(d[x, y]), TRANSFORMS[int(t[x, y])])
            for x in range(len(shown))
            for y in range(x + 1, len(shown))
        ]
        groups.append(Group("image", [m for m, _ in members], group_pairs))
    return groups


# Up to this many recordings every pair is aligned (exact); above it an AudioIndex proposes
# the candidate pairs, which keeps the grouping near-linear in the number of recordings.
ALL_PAIRS_MAX = 200
# Candidates an index query proposes per recording.
CANDIDATES_PER_ITEM = 10


def audio_pairs(n: int, fingerprints: Sequence[object]) -> Iterator[Tuple[int, int]]:
    """Pairs (i < j) worth aligning: all of them for small sets, else the index's candidates.

    Each recording is queried against an `AudioIndex` of all of them, so a clip finds the track
    it was cut from and two copies of a track find each other, whichever is longer.
    """
    if n <= ALL_PAIRS_MAX:
        for i in range(n):
            for j in range(i + 1, n):
                yield i, j
        return
    index = fingerprint.AudioIndex()
    for k, fp in enumerate(fingerprints):
        index.add(k, fp)  # type: ignore[arg-type]
    seen = set()
    for k, fp in enumerate(fingerprints):
        for m in index.query(fp, top=CANDIDATES_PER_ITEM):  # type: ignore[arg-type]
            pair = (min(k, m.track_id), max(k, m.track_id))
            if m.track_id != k and pair not in seen:
                seen.add(pair)
                yield pair


def audio_groups(items: Sequence[object], min_score: float) -> List[Group]:
    """Recordings aligned pair by pair (Chromaprint bit error rate), joined into groups.

    Pairs come from `audio_pairs`; a pair joins when `compare_audio` scores it at least
    `min_score`. The best original is the longest recording, then the larger file.
    """
    from ._common import AudioItem

    its: List[AudioItem] = list(items)  # type: ignore[arg-type]
    matches: Dict[Tuple[int, int], Any] = {}
    for i, j in sorted(audio_pairs(len(its), [it.fingerprint for it in its])):
        m = fingerprint.compare_audio(its[i].fingerprint, its[j].fingerprint)  # type: ignore[arg-type]
        if m.score >= min_score:
            matches[(i, j)] = m
    groups: List[Group] = []
    for comp in components(len(its), list(matches)):
        order = sorted(comp, key=lambda k: (-its[k].duration, -file_size(its[k].path), its[k].path))
        best = order[0]
        members = []
        for k in order:
            mem = Member(its[k].path, bytes=file_size(its[k].path), duration=its[k].duration)
            if k == best:
                mem.distance, mem.offset = 1.0, 0.0
            else:
                am = fingerprint.compare_audio(its[best].fingerprint, its[k].fingerprint)  # type: ignore[arg-type]
                mem.distance, mem.offset = float(am.score), float(am.offset)
            members.append(mem)
        pairs = []
        for (i, j), match in sorted(matches.items()):
            if i in comp:
                pairs.append(Pair(its[i].path, its[j].path, float(match.score),
                                  offset=float(match.offset)))
        groups.append(Group("audio", members, pairs))
    return groups


@dataclass
class BankMatch:
    """A file within the threshold of an item of a bank."""

    path: str
    bank_id: int
    bank_path: Optional[str]
    distance: int
    transform: str = "none"


def bank_matches(
    hashed: Hashed,
    index: "fingerprint.HammingIndex",
    bank_paths: Dict[int, str],
    threshold: int,
    threads: Optional[int] = None,
) -> List[BankMatch]:
    """Every (file, bank item) pair within `threshold`, over all orientations when known."""
    n = len(hashed.paths)
    if n == 0 or len(index) == 0:
        return []
    nb = hashed.codes.shape[1]
    if hashed.variants is not None:
        queries = np.concatenate([hashed.codes[:, None, :], hashed.variants], axis=1).reshape(-1, nb)
        per = 8
    else:
        queries, per = hashed.codes, 1
    offsets, ids, dists = index.range_search(np.ascontiguousarray(queries), threshold, threads=threads)
    best: Dict[Tuple[int, int], Tuple[int, str]] = {}
    rows = np.repeat(np.arange(queries.shape[0]), np.diff(offsets))
    for q, bid, d in zip(rows.tolist(), ids.tolist(), dists.tolist()):
        i, t = divmod(q, per)
        key = (i, bid)
        if key not in best or d < best[key][0]:
            best[key] = (d, TRANSFORMS[t])
    return [
        BankMatch(hashed.paths[i], bid, bank_paths.get(bid), d, t)
        for (i, bid), (d, t) in sorted(best.items(), key=lambda kv: (kv[0][0], kv[1][0], kv[0][1]))
    ]
