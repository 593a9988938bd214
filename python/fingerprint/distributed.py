"""Beyond one machine: bulk hashing with Ray Data and a bank sharded across Ray actors.

Install with ``pip install fingerprint[ray]``. Nothing here is imported by
``import fingerprint``: the core package works without Ray.

>>> import ray, numpy as np, fingerprint.distributed as fd   # doctest: +SKIP
>>> ray.init(num_cpus=2)                                      # doctest: +SKIP
>>> bank = fd.ShardedIndex(256, shards=4)                     # doctest: +SKIP
>>> bank.add(np.zeros((10, 32), np.uint8))                    # doctest: +SKIP
>>> bank.search(np.zeros((1, 32), np.uint8), k=3)            # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

try:
    import ray
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "fingerprint.distributed needs Ray: pip install 'fingerprint[ray]'"
    ) from e

from ._index import Codes, HammingIndex, _as_codes, _as_ids

__all__ = ["hash_dataset", "ShardedIndex"]


def _hash_batch(batch: Dict[str, Any], algorithm: str, hash_size: int) -> Dict[str, Any]:
    """Ray Data batch function: bytes -> codes, inside one worker, all its cores."""
    import fingerprint

    blobs = [bytes(b) for b in batch["bytes"]]
    result = fingerprint.hash_images(blobs, algorithm=algorithm, hash_size=hash_size)
    return {
        "path": list(batch["path"]),
        "algorithm": [algorithm] * len(blobs),
        "code": [bytes(c) if ok else b"" for c, ok in zip(result.codes, result.ok)],
        "quality": [int(q) for q in result.quality],
        "error": [e or "" for e in result.errors],
    }


def hash_dataset(
    paths: Union[str, Sequence[str], "ray.data.Dataset"],
    algorithm: str = "pdq",
    *,
    output: Optional[str] = None,
    hash_size: int = 8,
    batch_size: int = 256,
    filesystem: Any = None,
) -> "ray.data.Dataset":
    """Hash every image under `paths` (local paths or any filesystem Ray Data reads) with Ray Data.

    Returns a dataset of (path, algorithm, code, quality, error) rows; with `output`, also
    writes it as Parquet there. A bad file gets an `error` and an empty code, never a crash.
    """
    if isinstance(paths, ray.data.Dataset):
        ds = paths
    else:
        ds = ray.data.read_binary_files(paths, include_paths=True, filesystem=filesystem)
    out = ds.map_batches(
        _hash_batch,
        batch_size=batch_size,
        batch_format="numpy",
        fn_kwargs={"algorithm": algorithm, "hash_size": hash_size},
    )
    if output is not None:
        out = out.materialize()
        out.write_parquet(output)
    return out


@ray.remote
class _Shard:
    """One shard of a bank: a HammingIndex in an actor, persisted to its own file."""

    def __init__(self, bits: int, method: str, path: Optional[str]) -> None:
        self.path = path
        if path is not None and os.path.exists(path):
            self.index = HammingIndex.load(path)
        else:
            self.index = HammingIndex(bits, method=method)

    def add(self, codes: np.ndarray, ids: np.ndarray) -> int:
        self.index.add(codes, ids)
        return len(self.index)

    def remove(self, ids: np.ndarray) -> int:
        return self.index.remove(ids)

    def search(self, queries: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
        return self.index.search(queries, k)

    def range_search(self, queries: np.ndarray, r: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.index.range_search(queries, r)

    def contents(self) -> Tuple[np.ndarray, np.ndarray]:
        return self.index.codes(), self.index.ids()

    def self_pairs(self, r: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        codes, ids = self.index.codes(), self.index.ids().astype(np.int64)
        from . import find_duplicates

        i, j, d = find_duplicates(codes, r)
        return ids[i], ids[j], d

    def __len__(self) -> int:
        return len(self.index)

    def size(self) -> int:
        return len(self.index)

    def save(self) -> None:
        if self.path is None:
            raise ValueError("this sharded index has no directory to save to")
        self.index.save(self.path)


class ShardedIndex:
    """A bank split across Ray actors by id hash, searched scatter-gather.

    Results equal a single `HammingIndex` holding the same codes (same ordering rules:
    nearest first, ties by smaller id, -1 padding).
    """

    def __init__(
        self,
        bits: int,
        shards: int = 4,
        *,
        method: str = "auto",
        directory: Optional[str] = None,
    ) -> None:
        if shards < 1:
            raise ValueError(f"shards must be at least 1, got {shards}")
        self.bits = int(bits)
        self.directory = directory
        if directory is not None:
            os.makedirs(directory, exist_ok=True)
        paths: List[Optional[str]] = [
            None if directory is None else os.path.join(directory, f"shard-{s:04d}.fpi")
            for s in range(shards)
        ]
        self._shards = [_Shard.remote(self.bits, method, p) for p in paths]
        self._next_id = 0

    @classmethod
    def open(cls, directory: str, shards: int, bits: int, *, method: str = "auto") -> "ShardedIndex":
        """Reopen a sharded index saved with `save()` in `directory`."""
        index = cls(bits, shards, method=method, directory=directory)
        index._next_id = max(
            (int(ids.max()) + 1 for _, ids in ray.get([s.contents.remote() for s in index._shards]) if len(ids)),
            default=0,
        )
        return index

    @property
    def shards(self) -> int:
        """Number of shards (actors)."""
        return len(self._shards)

    def _shard_of(self, ids: np.ndarray) -> np.ndarray:
        # A multiplicative hash spreads consecutive ids evenly.
        return ((ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)) % np.uint64(
            len(self._shards)
        )

    def add(self, codes: Codes, ids: Optional[Iterable[int]] = None) -> None:
        """Add codes under ids (default: consecutive after the largest so far)."""
        arr = _as_codes(codes, self.bits // 8, "codes")
        if ids is None:
            id_arr = np.arange(self._next_id, self._next_id + len(arr), dtype=np.uint64)
        else:
            id_arr = _as_ids(list(ids) if not isinstance(ids, np.ndarray) else ids)
        if len(id_arr) != len(arr):
            raise ValueError(f"got {len(arr)} codes but {len(id_arr)} ids")
        if len(np.unique(id_arr)) != len(id_arr):
            from .errors import DuplicateIdError

            raise DuplicateIdError("duplicate ids in one add")
        where = self._shard_of(id_arr)
        ray.get(
            [
                shard.add.remote(arr[where == s], id_arr[where == s])
                for s, shard in enumerate(self._shards)
                if (where == s).any()
            ]
        )
        if len(id_arr):
            self._next_id = max(self._next_id, int(id_arr.max()) + 1)

    def remove(self, ids: Iterable[int]) -> int:
        """Remove ids; returns how many were present."""
        id_arr = _as_ids(list(ids) if not isinstance(ids, np.ndarray) else ids)
        where = self._shard_of(id_arr)
        return sum(
            ray.get([shard.remove.remote(id_arr[where == s]) for s, shard in enumerate(self._shards)])
        )

    def __len__(self) -> int:
        return sum(ray.get([s.size.remote() for s in self._shards]))

    def search(self, queries: Codes, k: int) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
        """Scatter to every shard, gather the k best per query (ties by smaller id)."""
        q = _as_codes(queries, self.bits // 8, "queries")
        parts = ray.get([s.search.remote(q, int(k)) for s in self._shards])
        d = np.concatenate([p[0] for p in parts], axis=1).astype(np.int64)
        i = np.concatenate([p[1] for p in parts], axis=1)
        # Padding (-1) sorts last.
        d_key = np.where(i < 0, np.iinfo(np.int64).max, d)
        order = np.lexsort((i, d_key), axis=1)[:, :k]
        rows = np.arange(len(q))[:, None]
        return d[rows, order].astype(np.int32), i[rows, order]

    def range_search(
        self, queries: Codes, max_distance: int
    ) -> Tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        """Every code within `max_distance` of each query, as CSR (offsets, ids, distances)."""
        q = _as_codes(queries, self.bits // 8, "queries")
        parts = ray.get([s.range_search.remote(q, int(max_distance)) for s in self._shards])
        offsets = [0]
        all_ids: List[np.ndarray] = []
        all_d: List[np.ndarray] = []
        for qi in range(len(q)):
            ids = np.concatenate([p[1][p[0][qi] : p[0][qi + 1]] for p in parts])
            dist = np.concatenate([p[2][p[0][qi] : p[0][qi + 1]] for p in parts])
            order = np.lexsort((ids, dist))
            all_ids.append(ids[order])
            all_d.append(dist[order])
            offsets.append(offsets[-1] + len(ids))
        return (
            np.asarray(offsets, dtype=np.int64),
            np.concatenate(all_ids) if all_ids else np.zeros(0, np.int64),
            np.concatenate(all_d).astype(np.int32) if all_d else np.zeros(0, np.int32),
        )

    def find_duplicates(
        self, max_distance: int
    ) -> Tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        """All pairs of ids within `max_distance` across the whole bank, as (id_a < id_b, distance).

        Each shard joins itself; each pair of shards is joined by sending one shard's
        codes to the other, so the whole bank never sits on one node.
        """
        lefts, rights, dists = [], [], []
        for a, b, d in ray.get([s.self_pairs.remote(int(max_distance)) for s in self._shards]):
            lefts.append(a), rights.append(b), dists.append(d)
        contents = [s.contents.remote() for s in self._shards]
        for si in range(len(self._shards)):
            codes_ref = contents[si]
            codes, ids = ray.get(codes_ref)
            if len(codes) == 0:
                continue
            jobs = [self._shards[sj].range_search.remote(codes, int(max_distance)) for sj in range(si + 1, len(self._shards))]
            for off, hit_ids, hit_d in ray.get(jobs):
                counts = np.diff(off)
                src = np.repeat(ids.astype(np.int64), counts)
                lefts.append(np.minimum(src, hit_ids))
                rights.append(np.maximum(src, hit_ids))
                dists.append(hit_d)
        left = np.concatenate(lefts) if lefts else np.zeros(0, np.int64)
        right = np.concatenate(rights) if rights else np.zeros(0, np.int64)
        dist = np.concatenate(dists).astype(np.int32) if dists else np.zeros(0, np.int32)
        order = np.lexsort((right, left))
        return left[order], right[order], dist[order]

    def save(self) -> None:
        """Persist every shard to its own file (atomically) in the directory given at creation."""
        ray.get([s.save.remote() for s in self._shards])
