"""`HammingIndex` and `find_duplicates`: numpy in and out over the Rust SIMD core."""

from __future__ import annotations

import os
from typing import Iterator, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _core

__all__ = ["HammingIndex", "find_duplicates", "iter_duplicates", "Codes"]

Codes = Union[npt.NDArray[np.uint8], bytes, bytearray, memoryview]
PathLike = Union[str, "os.PathLike[str]"]


def _as_codes(codes: Codes, code_len: Optional[int], what: str) -> npt.NDArray[np.uint8]:
    """Return `codes` as a C-contiguous (n, code_len) uint8 array, without copying when possible."""
    if isinstance(codes, (bytes, bytearray, memoryview)):
        raw = np.frombuffer(bytes(codes), dtype=np.uint8)
        if code_len is not None and raw.size != code_len:
            raise ValueError(f"{what}: one code as bytes must be {code_len} bytes, got {raw.size}")
        return raw.reshape(1, -1)
    if not isinstance(codes, np.ndarray):
        raise TypeError(
            f"{what} must be a numpy uint8 array of shape (n, bytes) or bytes, "
            f"got {type(codes).__name__}"
        )
    if codes.dtype != np.uint8:
        raise TypeError(f"{what} must have dtype uint8, got {codes.dtype}")
    if codes.ndim == 1 and code_len is not None and codes.shape[0] == code_len:
        codes = codes.reshape(1, -1)
    if codes.ndim != 2:
        expected = f"(n, {code_len})" if code_len is not None else "(n, bytes)"
        raise ValueError(f"{what} must have shape {expected}, got {codes.shape}")
    if code_len is not None and codes.shape[1] != code_len:
        raise ValueError(f"{what} must have shape (n, {code_len}), got {codes.shape}")
    return np.ascontiguousarray(codes)


def _threads(threads: Optional[int]) -> Optional[int]:
    """Check a worker count (None: every core)."""
    if threads is None:
        return None
    if int(threads) < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    return int(threads)


def _as_ids(ids: npt.ArrayLike, what: str = "ids") -> npt.NDArray[np.uint64]:
    """Return ids as a contiguous 1-D uint64 array, refusing negatives and non-integers."""
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.size == 0:
        return np.zeros(0, dtype=np.uint64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind == "i" and (arr < 0).any():
        raise ValueError(f"{what} must be non-negative")
    return np.ascontiguousarray(arr, dtype=np.uint64)


class HammingIndex:
    """Exact nearest-neighbour search over binary codes with SIMD Hamming distance.

    >>> import numpy as np, fingerprint
    >>> index = fingerprint.HammingIndex(64)
    >>> index.add(np.array([[0] * 8, [255] * 8], dtype=np.uint8))
    >>> index.search(np.array([[1] + [0] * 7], dtype=np.uint8), k=1)
    (array([[1]], dtype=int32), array([[0]]))
    """

    __slots__ = ("_core",)

    def __init__(self, bits: int, method: str = "flat", tables: Optional[int] = None) -> None:
        """An empty index of `bits`-bit codes.

        `method` is "flat" (SIMD scan of every code), "mih" (multi-index hashing tables,
        sublinear for small radii, exact) or "auto" (flat below 100k codes, MIH tables
        above, the cheaper path chosen per query). `tables` overrides MIH's table count.
        """
        if int(bits) < 0:
            raise ValueError(f"bits must be a multiple of 8 between 8 and 4096, got {bits}")
        if tables is not None and int(tables) < 1:
            raise ValueError(f"tables must be at least 1, got {tables}")
        self._core = _core.HammingIndex(
            int(bits), str(method), None if tables is None else int(tables)
        )

    @classmethod
    def _wrap(cls, core: _core.HammingIndex) -> "HammingIndex":
        self = cls.__new__(cls)
        self._core = core
        return self

    @property
    def bits(self) -> int:
        """Code width in bits."""
        return self._core.bits

    @property
    def code_bytes(self) -> int:
        """Code width in bytes."""
        return self._core.bits // 8

    @property
    def method(self) -> str:
        """Search method: "flat", "mih" or "auto"."""
        return self._core.method

    @property
    def tables(self) -> int:
        """Number of multi-index-hashing tables built now (0 for a flat index)."""
        return self._core.tables

    @property
    def is_mapped(self) -> bool:
        """Whether the codes are served from a memory-mapped file."""
        return self._core.is_mapped

    def __len__(self) -> int:
        return len(self._core)

    def __contains__(self, id: object) -> bool:
        if isinstance(id, (bool, np.bool_)) or not isinstance(id, (int, np.integer)):
            return False
        return 0 <= int(id) < 2**64 and int(id) in self._core

    def __repr__(self) -> str:
        mapped = ", mmap" if self.is_mapped else ""
        return f"HammingIndex(bits={self.bits}, len={len(self)}, method={self.method!r}{mapped})"

    def add(self, codes: Codes, ids: Optional[npt.ArrayLike] = None) -> None:
        """Add codes, shape (n, bits // 8) uint8, under uint64 ids (default: consecutive).

        Raises `DuplicateIdError` (and adds nothing) if an id repeats or is already present.
        """
        arr = _as_codes(codes, self.code_bytes, "codes")
        id_arr = None if ids is None else _as_ids(ids)
        if id_arr is not None and id_arr.shape[0] != arr.shape[0]:
            raise ValueError(f"got {arr.shape[0]} codes but {id_arr.shape[0]} ids")
        self._core.add(arr, id_arr)

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove the codes under `ids`; returns how many were present."""
        return self._core.remove(_as_ids(ids))

    def get(self, id: int) -> Optional[npt.NDArray[np.uint8]]:
        """The code stored under `id`, or None."""
        if not 0 <= int(id) < 2**64:
            return None
        return self._core.get(int(id))

    def ids(self) -> npt.NDArray[np.uint64]:
        """Every id, in storage order."""
        return self._core.ids()

    def codes(self) -> npt.NDArray[np.uint8]:
        """Every code, in storage order (a copy)."""
        return self._core.codes()

    def memory_usage(self) -> int:
        """Bytes of heap memory the index holds (a memory map is not counted)."""
        return self._core.memory_usage()

    def search(
        self, queries: Codes, k: int, *, threads: Optional[int] = None
    ) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
        """The k nearest codes to each query as (distances, ids), each shape (q, k).

        Nearest first, ties broken by smaller id, padded with -1 when fewer than k codes exist.
        """
        if int(k) < 0:
            raise ValueError(f"k must be non-negative, got {k}")
        q = _as_codes(queries, self.code_bytes, "queries")
        return self._core.search(q, int(k), _threads(threads))

    def range_search(
        self, queries: Codes, max_distance: int, *, threads: Optional[int] = None
    ) -> Tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        """Every code within `max_distance` of each query, as CSR arrays (offsets, ids, distances).

        Query i's hits are `ids[offsets[i]:offsets[i+1]]`, nearest first, ties by id.
        """
        if int(max_distance) < 0:
            raise ValueError(f"max_distance must be non-negative, got {max_distance}")
        q = _as_codes(queries, self.code_bytes, "queries")
        return self._core.range_search(q, min(int(max_distance), self.bits), _threads(threads))

    def save(self, path: PathLike) -> None:
        """Write the index to `path` atomically (temporary file, fsync, rename)."""
        self._core.save(os.fspath(path))

    @classmethod
    def load(cls, path: PathLike, mmap: bool = False) -> "HammingIndex":
        """Read an index written by `save`; `mmap=True` maps the file instead of reading it.

        Raises `CorruptIndexError` for a truncated or damaged file. With `mmap=True` the data
        checksum is not read (that would read the whole file); call `HammingIndex.verify`.
        """
        return cls._wrap(_core.HammingIndex.load(os.fspath(path), bool(mmap)))

    @staticmethod
    def verify(path: PathLike) -> None:
        """Read a saved index in full and check its checksums; raises `CorruptIndexError`."""
        _core.HammingIndex.verify(os.fspath(path))


def find_duplicates(
    codes: Codes,
    max_distance: int,
    *,
    method: str = "auto",
    tables: Optional[int] = None,
    threads: Optional[int] = None,
) -> Tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """All pairs of rows within `max_distance` as (i, j, distances) with i < j, sorted by (i, j).

    `method` "flat" compares every pair with the SIMD kernels; "mih" runs an exact
    substring self-join (multi-index hashing), far faster on large batches at small
    radii; "auto" picks the cheaper. For millions of codes see `iter_duplicates`.
    """
    if int(max_distance) < 0:
        raise ValueError(f"max_distance must be non-negative, got {max_distance}")
    arr = _as_codes(codes, None, "codes")
    bits = arr.shape[1] * 8
    return _core.find_duplicates(
        arr,
        min(int(max_distance), bits),
        str(method),
        None if tables is None else int(tables),
        _threads(threads),
    )


def find_duplicates_between(
    left: Codes,
    right: Codes,
    max_distance: int,
    *,
    tables: Optional[int] = None,
    threads: Optional[int] = None,
) -> Tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """Every (row i of `left`, row j of `right`) within `max_distance`, as (i, j, distances)
    sorted by (i, j): two batches joined through the same exact substring tables as
    `find_duplicates(method="mih")`, without comparing rows of one batch with each other."""
    if int(max_distance) < 0:
        raise ValueError(f"max_distance must be non-negative, got {max_distance}")
    a = _as_codes(left, None, "left")
    b = _as_codes(right, a.shape[1], "right")
    if b.shape[1] != a.shape[1]:
        raise ValueError(f"right has {b.shape[1]}-byte codes, left {a.shape[1]}-byte codes")
    both = np.ascontiguousarray(np.concatenate([a, b]))
    i, j, d = _core.find_duplicates(
        both,
        min(int(max_distance), a.shape[1] * 8),
        "mih",
        None if tables is None else int(tables),
        _threads(threads),
        len(a),
    )
    return i, j - len(a), d


def iter_duplicates(
    codes: Codes,
    max_distance: int,
    *,
    tables: Optional[int] = None,
    threads: Optional[int] = None,
) -> Iterator[Tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]]]:
    """Stream the pairs within `max_distance` in chunks (one per substring table).

    Each pair (i < j) appears in exactly one chunk; chunks are sorted, the stream is not.
    Memory stays bounded by the codes, one sorted copy and one table, so 10M codes work.

    >>> import numpy as np, fingerprint
    >>> codes = np.zeros((3, 8), dtype=np.uint8); codes[2] = 255
    >>> [tuple(map(list, c)) for c in fingerprint.iter_duplicates(codes, 0) if len(c[0])]
    [([0], [1], [0])]
    """
    if int(max_distance) < 0:
        raise ValueError(f"max_distance must be non-negative, got {max_distance}")
    arr = _as_codes(codes, None, "codes")
    bits = arr.shape[1] * 8
    join = _core.DuplicateJoin(
        arr, min(int(max_distance), bits), None if tables is None else int(tables), _threads(threads)
    )
    while True:
        chunk = join.next_chunk()
        if chunk is None:
            return
        yield chunk
