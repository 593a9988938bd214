"""`Client`: the fingerprint.v1 service from Python, numpy arrays in and out.

>>> import numpy as np, fingerprint
>>> with fingerprint.Client("127.0.0.1:50051", token="...") as c:  # doctest: +SKIP
...     c.create_collection("bank", "pdq")
...     c.add("bank", ["a", "b"], codes=np.zeros((2, 32), np.uint8))
...     c.search("bank", np.zeros((1, 32), np.uint8), k=5)[0].ids
['a', 'b']
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, cast

import numpy as np
import numpy.typing as npt

__all__ = ["Client", "CollectionInfo", "Fingerprint", "Matches", "AddResult", "Duplicates", "ALGORITHMS"]

# Client-side names of fingerprint.v1.Algorithm values.
ALGORITHMS = {"raw": 0, "pdq": 1, "phash": 2, "dhash": 3, "ahash": 4, "whash": 5, "audio": 6}
_ALGORITHM_NAMES = {v: k for k, v in ALGORITHMS.items()}
_CONFLICT = {"error": 1, "skip": 2, "replace": 3}

Media = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]


def _algorithm(name: Optional[str]) -> int:
    key = "raw" if name is None else name.lower()
    if key not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; expected one of {sorted(ALGORITHMS)}")
    return ALGORITHMS[key]


def _media(m: Media) -> bytes:
    if isinstance(m, (bytes, bytearray, memoryview)):
        return bytes(m)
    if isinstance(m, (str, os.PathLike)):
        return Path(m).read_bytes()
    raise TypeError(f"media must be bytes or a path, got {type(m).__name__}")


def _codes(codes: Any, what: str = "codes") -> npt.NDArray[np.uint8]:
    arr = np.asarray(codes)
    if arr.dtype != np.uint8:
        raise TypeError(f"{what} must have dtype uint8, got {arr.dtype}")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"{what} must have shape (n, bytes), got {arr.shape}")
    return np.ascontiguousarray(arr)


@dataclass(frozen=True)
class CollectionInfo:
    """A collection as the server describes it."""

    name: str
    algorithm: str
    bits: int
    item_count: int
    create_time: float


@dataclass(frozen=True)
class Fingerprint:
    """A hash computed by the server; `error` is set instead for a failed stream item."""

    code: Optional[npt.NDArray[np.uint8]]
    bits: int = 0
    algorithm: str = ""
    quality: Optional[int] = None
    audio_fingerprint: str = ""
    error: Optional[str] = None
    tag: str = ""


@dataclass(frozen=True)
class Matches:
    """One query's matches, nearest first; `error` is set instead for a failed stream item."""

    ids: List[str]
    distances: npt.NDArray[np.int32]
    metadata: Optional[List[Dict[str, str]]] = None
    error: Optional[str] = None
    tag: str = ""
    fingerprint: Optional[Fingerprint] = None


@dataclass(frozen=True)
class AddResult:
    """How many items the server stored durably, and (index, id, code, message) of rejected ones."""

    stored: int
    errors: List[Tuple[int, str, int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Duplicates:
    """Pairs (first[i], second[i]) within a batch, their distances, and per-code collection matches."""

    first: npt.NDArray[np.int64]
    second: npt.NDArray[np.int64]
    distances: npt.NDArray[np.int32]
    collection_matches: Optional[List[Matches]] = None


class Client:
    """A connection to a fingerprint server (`fingerprint serve`)."""

    def __init__(
        self,
        target: str,
        token: Optional[str] = None,
        *,
        tls: bool = False,
        root_certificates: Optional[bytes] = None,
        timeout: Optional[float] = 60.0,
        max_message_bytes: int = 64 * 1024 * 1024,
        options: Sequence[Tuple[str, Any]] = (),
    ) -> None:
        """Connect to `target` ("host:port"); `token` is sent as `authorization: Bearer ...`.

        `tls=True` (or `root_certificates`) uses a TLS channel; `timeout` is each call's deadline.
        """
        import grpc

        from .v1 import (
            collection_service_pb2_grpc,
            hash_service_pb2_grpc,
            ingest_service_pb2_grpc,
            match_service_pb2_grpc,
        )

        opts = [("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes), *options]
        if tls or root_certificates is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(target, creds, options=opts)
        else:
            self._channel = grpc.insecure_channel(target, options=opts)
        self._metadata: Tuple[Tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ())
        self.timeout = timeout
        self.collections = collection_service_pb2_grpc.CollectionServiceStub(self._channel)
        self.hashing = hash_service_pb2_grpc.HashServiceStub(self._channel)
        self.ingest = ingest_service_pb2_grpc.IngestServiceStub(self._channel)
        self.matching = match_service_pb2_grpc.MatchServiceStub(self._channel)

    # ------------------------------------------------------------------ plumbing

    def _kw(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        return {"metadata": self._metadata, "timeout": timeout if timeout is not None else self.timeout}

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the channel is connected (raises grpc.FutureTimeoutError)."""
        import grpc

        grpc.channel_ready_future(self._channel).result(timeout=timeout)

    @staticmethod
    def _info(c: Any) -> CollectionInfo:
        return CollectionInfo(c.name, _ALGORITHM_NAMES.get(c.algorithm, str(c.algorithm)), c.bits,
                              c.item_count, c.create_time)

    @staticmethod
    def _fp(fp: Any, error: Any = None, tag: str = "") -> Fingerprint:
        if error is not None and error.code:
            return Fingerprint(None, error=error.message, tag=tag)
        return Fingerprint(np.frombuffer(fp.code, dtype=np.uint8).copy(), fp.bits,
                           _ALGORITHM_NAMES.get(fp.algorithm, ""),
                           fp.quality if fp.HasField("quality") else None, fp.audio_fingerprint,
                           None, tag)

    @staticmethod
    def _matches(qm: Any, tag: str = "", fingerprint: Optional[Fingerprint] = None) -> Matches:
        meta = [dict(m.entries) for m in qm.metadata] if len(qm.metadata) else None
        return Matches(list(qm.ids), np.array(qm.distances, dtype=np.int32), meta, None, tag, fingerprint)

    # ------------------------------------------------------------------ collections

    def create_collection(self, name: str, algorithm: Optional[str] = "pdq", bits: int = 0
                          ) -> CollectionInfo:
        """Create a collection; `algorithm=None` or "raw" holds raw codes of `bits` bits."""
        from .v1 import collection_service_pb2 as cpb

        r = self.collections.CreateCollection(
            cpb.CreateCollectionRequest(name=name, algorithm=cast(Any, _algorithm(algorithm)), bits=bits), **self._kw())
        return self._info(r.collection)

    def list_collections(self) -> List[CollectionInfo]:
        """Every collection."""
        from .v1 import collection_service_pb2 as cpb

        r = self.collections.ListCollections(cpb.ListCollectionsRequest(), **self._kw())
        return [self._info(c) for c in r.collections]

    def describe_collection(self, name: str) -> CollectionInfo:
        """One collection with its item count."""
        from .v1 import collection_service_pb2 as cpb

        r = self.collections.DescribeCollection(cpb.DescribeCollectionRequest(name=name), **self._kw())
        return self._info(r.collection)

    def delete_collection(self, name: str) -> int:
        """Delete a collection; returns how many items it held."""
        from .v1 import collection_service_pb2 as cpb

        r = self.collections.DeleteCollection(cpb.DeleteCollectionRequest(name=name), **self._kw())
        return int(r.deleted_items)

    # ------------------------------------------------------------------ hashing

    def hash(self, media: Media, algorithm: str = "pdq", bits: int = 0) -> Fingerprint:
        """Hash one image or audio file on the server."""
        from .v1 import hash_service_pb2 as hpb

        r = self.hashing.Hash(hpb.HashRequest(media=_media(media), algorithm=cast(Any, _algorithm(algorithm)),
                                              bits=bits), **self._kw())
        return self._fp(r.fingerprint)

    def hash_many(self, media: Iterable[Media], algorithm: str = "pdq", bits: int = 0,
                  timeout: Optional[float] = None) -> Iterator[Fingerprint]:
        """Hash many files through one stream; yields one `Fingerprint` per file, in order."""
        from .v1 import hash_service_pb2 as hpb

        alg: Any = _algorithm(algorithm)
        reqs = (hpb.HashStreamRequest(tag=str(i), media=_media(m), algorithm=alg, bits=bits)
                for i, m in enumerate(media))
        for r in self.hashing.HashStream(reqs, **self._kw(timeout)):
            yield self._fp(r.fingerprint, r.error if r.HasField("error") else None, r.tag)

    # ------------------------------------------------------------------ ingest

    def add(
        self,
        collection: str,
        ids: Sequence[str],
        codes: Optional[Any] = None,
        *,
        media: Optional[Sequence[Media]] = None,
        metadata: Optional[Sequence[Optional[Mapping[str, str]]]] = None,
        on_conflict: str = "error",
        chunk: int = 1000,
        timeout: Optional[float] = None,
    ) -> AddResult:
        """Stream items to the server: `codes` (n, bytes) uint8, or `media` (bytes or paths).

        Items travel `chunk` per message. Returns after the server has committed everything;
        `stored` counts durable items. `on_conflict`: "error", "skip" (idempotent retry), "replace".
        """
        from .v1 import ingest_service_pb2 as ipb

        if (codes is None) == (media is None):
            raise ValueError("give exactly one of codes and media")
        n = len(ids)
        arr = _codes(codes) if codes is not None else None
        if arr is not None and arr.shape[0] != n:
            raise ValueError(f"got {n} ids but {arr.shape[0]} codes")
        if media is not None and len(media) != n:
            raise ValueError(f"got {n} ids but {len(media)} media")
        if metadata is not None and len(metadata) != n:
            raise ValueError(f"got {n} ids but {len(metadata)} metadata entries")
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        if on_conflict not in _CONFLICT:
            raise ValueError(f"on_conflict must be one of {sorted(_CONFLICT)}")

        def requests() -> Iterator[Any]:
            for start in range(0, max(n, 1), chunk):
                req = ipb.AddItemsRequest()
                if start == 0:
                    req.collection = collection
                    req.on_conflict = cast(Any, _CONFLICT[on_conflict])
                for i in range(start, min(start + chunk, n)):
                    item = req.items.add(id=ids[i])
                    if metadata and metadata[i]:
                        item.metadata.update(metadata[i])
                    if arr is not None:
                        item.code = arr[i].tobytes()
                    else:
                        item.media = _media(media[i])  # type: ignore[index]
                yield req

        r = self.ingest.AddItems(requests(), **self._kw(timeout))
        return AddResult(int(r.stored), [(int(e.index), e.id, e.error.code, e.error.message) for e in r.errors])

    def remove(self, collection: str, ids: Sequence[str]) -> Tuple[int, List[str]]:
        """Remove items; returns (removed, ids that were missing)."""
        from .v1 import ingest_service_pb2 as ipb

        r = self.ingest.RemoveItems(ipb.RemoveItemsRequest(collection=collection, ids=list(ids)), **self._kw())
        return int(r.removed), list(r.missing)

    # ------------------------------------------------------------------ matching

    def search(self, collection: str, codes: Any, k: int = 10, max_distance: Optional[int] = None,
               *, include_metadata: bool = False, timeout: Optional[float] = None) -> List[Matches]:
        """Search (n, bytes) uint8 codes; one `Matches` per query (k=0: all within max_distance)."""
        from .v1 import match_service_pb2 as mpb

        req = mpb.SearchRequest(collection=collection, codes=_codes(codes).tobytes(), k=k,
                                include_metadata=include_metadata)
        if max_distance is not None:
            req.max_distance = max_distance
        r = self.matching.Search(req, **self._kw(timeout))
        return [self._matches(qm) for qm in r.results]

    def match_media(self, collection: str, media: Media, k: int = 10,
                    max_distance: Optional[int] = None, *, include_metadata: bool = False) -> Matches:
        """Hash a file with the collection's algorithm and search it; `.fingerprint` is its hash."""
        from .v1 import match_service_pb2 as mpb

        req = mpb.MatchMediaRequest(collection=collection, media=_media(media), k=k,
                                    include_metadata=include_metadata)
        if max_distance is not None:
            req.max_distance = max_distance
        r = self.matching.MatchMedia(req, **self._kw())
        return self._matches(r.matches, fingerprint=self._fp(r.fingerprint))

    def match_stream(self, collection: str, queries: Iterable[Union[npt.NDArray[np.uint8], Media]],
                     k: int = 10, max_distance: Optional[int] = None, *, include_metadata: bool = False,
                     timeout: Optional[float] = None) -> Iterator[Matches]:
        """Match a stream of queries (uint8 code arrays, or media bytes/paths); yields in order."""
        from .v1 import match_service_pb2 as mpb

        def requests() -> Iterator[Any]:
            for i, q in enumerate(queries):
                req = mpb.MatchStreamRequest(tag=str(i))
                if i == 0:
                    req.collection = collection
                    req.k = k
                    req.include_metadata = include_metadata
                    if max_distance is not None:
                        req.max_distance = max_distance
                if isinstance(q, np.ndarray):
                    req.code = _codes(q, "query").tobytes()
                else:
                    req.media = _media(q)
                yield req

        for r in self.matching.MatchStream(requests(), **self._kw(timeout)):
            fp = self._fp(r.fingerprint) if r.HasField("fingerprint") else None
            if r.HasField("error") and r.error.code:
                yield Matches([], np.zeros(0, np.int32), None, r.error.message, r.tag, fp)
            else:
                yield self._matches(r.matches, r.tag, fp)

    def find_duplicates(self, codes: Any, max_distance: int, *, collection: Optional[str] = None,
                        k: int = 0, timeout: Optional[float] = None) -> Duplicates:
        """Near-duplicate pairs within `codes`, and (with `collection`) each code's matches there."""
        from .v1 import match_service_pb2 as mpb

        arr = _codes(codes)
        r = self.matching.FindDuplicates(
            mpb.FindDuplicatesRequest(codes=arr.tobytes(), bits=arr.shape[1] * 8,
                                      max_distance=max_distance, collection=collection or "", k=k),
            **self._kw(timeout))
        cm = [self._matches(qm) for qm in r.collection_matches] if collection else None
        return Duplicates(np.array(r.first, dtype=np.int64), np.array(r.second, dtype=np.int64),
                          np.array(r.distances, dtype=np.int32), cm)
