"""The fingerprint.v1 servicers: translate messages, call the store and the library, map errors.

Each method is thin; the work runs in `Store` (SQLite + HammingIndex) and the Rust core.
Exceptions become status codes through `_status.status_for`, the one mapping table.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import queue
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, TypeVar, Union, cast

import grpc
import numpy as np
import numpy.typing as npt

from .. import _index
from ..v1 import (
    collection_service_pb2 as cpb,
    collection_service_pb2_grpc as cgrpc,
    common_pb2 as pb,
    hash_service_pb2 as hpb,
    hash_service_pb2_grpc as hgrpc,
    ingest_service_pb2 as ipb,
    ingest_service_pb2_grpc as igrpc,
    match_service_pb2 as mpb,
    match_service_pb2_grpc as mgrpc,
)
from ._media import ALGORITHM_NAMES, Hashed, hash_media, resolve_bits
from ._status import DeadlineError, LimitExceededError, status_for
from .config import ServerConfig
from .store import CollectionState, NewItem, Store

__all__ = ["Servicers", "add_servicers"]

log = logging.getLogger("fingerprint.server")
T = TypeVar("T")
MAX_REPORTED_ERRORS = 10_000
# Queries per search call in a batch, so a deadline can stop a long batch between chunks.
SEARCH_CHUNK = 4096


def _abort(context: grpc.ServicerContext, exc: BaseException) -> None:
    code, message = status_for(exc)
    if code == grpc.StatusCode.INTERNAL:
        log.exception("internal error", exc_info=exc)
    context.abort(code, message)


def rpc(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn exceptions raised by a servicer method (or generator) into status codes."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield from fn(self, request, context)
            except Exception as e:  # noqa: BLE001 - every error must become a status
                _abort(context, e)

        return gen

    @functools.wraps(fn)
    def unary(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except Exception as e:  # noqa: BLE001
            _abort(context, e)

    return unary


def check_deadline(context: grpc.ServicerContext) -> None:
    """Stop work whose deadline has passed or whose client has gone."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise DeadlineError("deadline exceeded")
    if not context.is_active():
        raise DeadlineError("call cancelled or deadline exceeded")


def read_ahead(requests: Iterator[T], limit: int, context: grpc.ServicerContext) -> Iterator[List[T]]:
    """Group a request stream into lists of what has already arrived (at most `limit` each).

    A reader thread pulls messages while the previous group is processed, so a stream of single
    items is hashed or searched in batches (all cores busy) without waiting for more to arrive.
    """
    q: "queue.Queue[Any]" = queue.Queue(maxsize=max(2 * limit, 16))
    done = object()
    stop = threading.Event()

    def pump() -> None:
        try:
            for item in requests:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except Exception as e:  # noqa: BLE001 - e.g. the call was cancelled
            failure: Any = e
            while not stop.is_set():
                try:
                    q.put(failure, timeout=0.2)
                    break
                except queue.Full:
                    continue
        while not stop.is_set():
            try:
                q.put(done, timeout=0.2)
                return
            except queue.Full:
                continue

    reader = threading.Thread(target=pump, name="fingerprint-read-ahead", daemon=True)
    reader.start()
    try:
        finished = False
        while not finished:
            try:
                first = q.get(timeout=1.0)
            except queue.Empty:
                check_deadline(context)
                continue
            batch: List[T] = []
            for item in _chain_nowait(first, q, limit):
                if item is done:
                    finished = True
                    break
                if isinstance(item, Exception):
                    raise DeadlineError(f"stream ended: {item}") if isinstance(item, grpc.RpcError) else item
                batch.append(item)
            if batch:
                yield batch
    finally:
        stop.set()


def _chain_nowait(first: Any, q: "queue.Queue[Any]", limit: int) -> Iterator[Any]:
    yield first
    n = 1
    while n < limit:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return
        yield item
        n += 1
        if isinstance(item, Exception):
            return


def _search_params(k: int, has_max: bool, max_distance: int, config: ServerConfig, bits: int
                   ) -> Tuple[int, Optional[int]]:
    if k == 0 and not has_max:
        raise ValueError("set k (top-k) and/or max_distance")
    if k > config.max_k:
        raise LimitExceededError(f"k={k} is over the limit of {config.max_k}")
    return k, (min(max_distance, bits) if has_max else None)


def _codes(data: bytes, code_bytes: int, what: str = "codes") -> npt.NDArray[np.uint8]:
    if len(data) == 0:
        raise ValueError(f"{what} is empty")
    if len(data) % code_bytes:
        raise ValueError(
            f"{what} is {len(data)} bytes, not a multiple of the code size ({code_bytes} bytes = "
            f"{code_bytes * 8} bits)"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, code_bytes)


def _fingerprint_pb(h: Hashed) -> pb.Fingerprint:
    fp = pb.Fingerprint(code=h.code, bits=h.bits, algorithm=cast(Any, h.algorithm),
                        audio_fingerprint=h.audio_fingerprint)
    if h.quality is not None:
        fp.quality = h.quality
    return fp


def _item_error(exc: BaseException) -> pb.ItemError:
    code, message = status_for(exc)
    return pb.ItemError(code=code.value[0], message=message)


def _collection_pb(c: CollectionState) -> cpb.Collection:
    return cpb.Collection(name=c.name, algorithm=cast(Any, c.algorithm), bits=c.bits, item_count=len(c),
                          create_time=c.create_time)


class Servicers(cgrpc.CollectionServiceServicer, hgrpc.HashServiceServicer,
                igrpc.IngestServiceServicer, mgrpc.MatchServiceServicer):
    """All four fingerprint.v1 services over one store."""

    def __init__(self, store: Store, config: ServerConfig) -> None:
        self.store = store
        self.config = config
        self._streams = threading.BoundedSemaphore(config.max_concurrent_streams)

    # ------------------------------------------------------------------ helpers

    @contextlib.contextmanager
    def _stream_slot(self) -> Iterator[None]:
        if not self._streams.acquire(blocking=False):
            raise LimitExceededError(
                f"too many concurrent streams (limit {self.config.max_concurrent_streams}); retry later")
        try:
            yield
        finally:
            self._streams.release()

    def _hash(self, media: Sequence[bytes], algorithm: int, bits: int) -> List[Union[Hashed, Exception]]:
        return hash_media(media, algorithm, bits, max_pixels=self.config.max_pixels,
                          audio_max_seconds=self.config.audio_max_seconds)

    def _matches(self, state: CollectionState, queries: npt.NDArray[np.uint8], k: int,
                 max_distance: Optional[int], include_metadata: bool,
                 context: Optional[grpc.ServicerContext]) -> List[pb.QueryMatches]:
        if queries.shape[0] > self.config.max_batch:
            raise LimitExceededError(
                f"{queries.shape[0]} queries is over the batch limit of {self.config.max_batch}")
        hits: List[Tuple[List[int], List[int]]] = []
        for s in range(0, queries.shape[0], SEARCH_CHUNK):
            if context is not None:
                check_deadline(context)
            hits.extend(self.store.search(state, queries[s:s + SEARCH_CHUNK], k, max_distance,
                                          self.config.max_results))
        meta: Dict[int, Dict[str, str]] = {}
        if include_metadata:
            meta = self.store.metadata([i for ids, _ in hits for i in ids])
        ext = state.ext_of.get
        out: List[pb.QueryMatches] = []
        for ids, dists in hits:
            found = [ext(i) for i in ids]
            if None in found:  # removed while we searched
                keep = [j for j, n in enumerate(found) if n is not None]
                ids, dists, found = [ids[j] for j in keep], [dists[j] for j in keep], [found[j] for j in keep]
            qm = pb.QueryMatches(ids=cast(List[str], found), distances=dists)
            if include_metadata:
                qm.metadata.extend(pb.Metadata(entries=meta.get(i, {})) for i in ids)
            out.append(qm)
        return out

    # ------------------------------------------------------------------ CollectionService

    @rpc
    def CreateCollection(self, request: cpb.CreateCollectionRequest, context: grpc.ServicerContext
                         ) -> cpb.CreateCollectionResponse:
        bits = resolve_bits(request.algorithm, request.bits)
        state = self.store.create(request.name, request.algorithm, bits)
        return cpb.CreateCollectionResponse(collection=_collection_pb(state))

    @rpc
    def ListCollections(self, request: cpb.ListCollectionsRequest, context: grpc.ServicerContext
                        ) -> cpb.ListCollectionsResponse:
        return cpb.ListCollectionsResponse(collections=[_collection_pb(c) for c in self.store.list()])

    @rpc
    def DescribeCollection(self, request: cpb.DescribeCollectionRequest,
                           context: grpc.ServicerContext) -> cpb.DescribeCollectionResponse:
        return cpb.DescribeCollectionResponse(collection=_collection_pb(self.store.get(request.name)))

    @rpc
    def DeleteCollection(self, request: cpb.DeleteCollectionRequest, context: grpc.ServicerContext
                         ) -> cpb.DeleteCollectionResponse:
        return cpb.DeleteCollectionResponse(deleted_items=self.store.delete(request.name))

    # ------------------------------------------------------------------ HashService

    @rpc
    def Hash(self, request: hpb.HashRequest, context: grpc.ServicerContext) -> hpb.HashResponse:
        algorithm = request.algorithm or pb.ALGORITHM_PDQ
        result = self._hash([request.media], algorithm, request.bits)[0]
        if isinstance(result, Exception):
            raise result
        return hpb.HashResponse(fingerprint=_fingerprint_pb(result))

    @rpc
    def HashStream(self, request_iterator: Iterator[hpb.HashStreamRequest],
                   context: grpc.ServicerContext) -> Iterator[hpb.HashStreamResponse]:
        with self._stream_slot():
            index = 0
            for batch in read_ahead(request_iterator, 64, context):
                check_deadline(context)
                results: List[Union[Hashed, Exception, None]] = [None] * len(batch)
                groups: Dict[Tuple[int, int], List[int]] = {}
                for j, req in enumerate(batch):
                    groups.setdefault((req.algorithm or pb.ALGORITHM_PDQ, req.bits), []).append(j)
                for (algorithm, bits), members in groups.items():
                    try:
                        hashed = self._hash([batch[j].media for j in members], algorithm, bits)
                    except Exception as e:  # noqa: BLE001 - a bad algorithm/bits fails its items
                        hashed = [e] * len(members)
                    for j, h in zip(members, hashed):
                        results[j] = h
                for req, got in zip(batch, results):
                    resp = hpb.HashStreamResponse(tag=req.tag, index=index)
                    if isinstance(got, Hashed):
                        resp.fingerprint.CopyFrom(_fingerprint_pb(got))
                    else:
                        resp.error.CopyFrom(_item_error(got or RuntimeError("not hashed")))
                    index += 1
                    yield resp

    # ------------------------------------------------------------------ IngestService

    @rpc
    def AddItems(self, request_iterator: Iterator[ipb.AddItemsRequest],
                 context: grpc.ServicerContext) -> ipb.AddItemsResponse:
        with self._stream_slot():
            response = ipb.AddItemsResponse()
            name: Optional[str] = None
            policy = 0
            position = 0
            for messages in read_ahead(request_iterator, 16, context):
                check_deadline(context)
                if name is None:
                    name = messages[0].collection
                    policy = messages[0].on_conflict
                    if not name:
                        raise ValueError("the first AddItems message must name the collection")
                pending: List[Tuple[int, ipb.Item]] = []
                wrong: List[Tuple[int, str, BaseException]] = []
                for msg in messages:
                    if len(msg.items) > self.config.max_batch:
                        raise LimitExceededError(
                            f"{len(msg.items)} items in one message is over the batch limit of "
                            f"{self.config.max_batch}; send smaller chunks")
                    if msg.collection and msg.collection != name:
                        err = ValueError(f"one AddItems stream adds to one collection ({name!r}), "
                                         f"got {msg.collection!r}")
                        wrong.extend((position + j, it.id, err) for j, it in enumerate(msg.items))
                    else:
                        pending.extend((position + j, it) for j, it in enumerate(msg.items))
                    position += len(msg.items)
                step = self.config.commit_batch
                for s in range(0, len(pending), step):
                    check_deadline(context)
                    wrong.extend(self._add_chunk(response, name, policy, pending[s:s + step]))
                self._report(response, wrong)
            if name is None:
                raise ValueError("empty AddItems stream: send at least one message")
            return response

    @staticmethod
    def _report(response: ipb.AddItemsResponse, errors: List[Tuple[int, str, BaseException]]) -> None:
        for pos, item_id, e in sorted(errors, key=lambda t: t[0]):
            if len(response.errors) < MAX_REPORTED_ERRORS:
                response.errors.add(index=pos, id=item_id, error=_item_error(e))

    def _add_chunk(self, response: ipb.AddItemsResponse, name: str, policy: int,
                   chunk: List[Tuple[int, ipb.Item]]) -> List[Tuple[int, str, BaseException]]:
        """Hash the chunk's media, store it in one transaction, count; returns the rejected items."""
        state = self.store.get(name)
        errors: List[Tuple[int, str, BaseException]] = []
        media_at = [j for j, (_, it) in enumerate(chunk) if it.WhichOneof("content") == "media"]
        hashed: Dict[int, Union[Hashed, Exception]] = {}
        if media_at:
            try:
                got = self._hash([chunk[j][1].media for j in media_at], state.algorithm, state.bits)
            except Exception as e:  # noqa: BLE001 - e.g. a raw-code collection
                got = [e] * len(media_at)
            hashed = dict(zip(media_at, got))
        items: List[NewItem] = []
        positions: List[int] = []
        for j, (pos, it) in enumerate(chunk):
            kind = it.WhichOneof("content")
            if kind is None:
                errors.append((pos, it.id, ValueError("item has neither code nor media")))
                continue
            if kind == "media":
                h = hashed[j]
                if isinstance(h, Exception):
                    errors.append((pos, it.id, h))
                    continue
                code = h.code
            else:
                code = it.code
            items.append(NewItem(it.id, code, dict(it.metadata) if it.metadata else None))
            positions.append(pos)
        result = self.store.add(name, items, policy)
        response.stored += result.stored
        errors.extend((positions[i], items[i].id, e) for i, e in result.errors)
        return errors

    @rpc
    def RemoveItems(self, request: ipb.RemoveItemsRequest, context: grpc.ServicerContext
                    ) -> ipb.RemoveItemsResponse:
        if len(request.ids) > self.config.max_batch:
            raise LimitExceededError(f"{len(request.ids)} ids is over the batch limit of {self.config.max_batch}")
        removed, missing = self.store.remove(request.collection, list(request.ids))
        return ipb.RemoveItemsResponse(removed=removed, missing=missing)

    # ------------------------------------------------------------------ MatchService

    @rpc
    def Search(self, request: mpb.SearchRequest, context: grpc.ServicerContext) -> mpb.SearchResponse:
        state = self.store.get(request.collection)
        k, maxd = _search_params(request.k, request.HasField("max_distance"), request.max_distance,
                                 self.config, state.bits)
        queries = _codes(request.codes, state.code_bytes)
        return mpb.SearchResponse(results=self._matches(state, queries, k, maxd,
                                                        request.include_metadata, context))

    @rpc
    def MatchMedia(self, request: mpb.MatchMediaRequest, context: grpc.ServicerContext
                   ) -> mpb.MatchMediaResponse:
        state = self.store.get(request.collection)
        k, maxd = _search_params(request.k, request.HasField("max_distance"), request.max_distance,
                                 self.config, state.bits)
        h = self._hash([request.media], state.algorithm, state.bits)[0]
        if isinstance(h, Exception):
            raise h
        q = np.frombuffer(h.code, dtype=np.uint8).reshape(1, -1)
        matches = self._matches(state, q, k, maxd, request.include_metadata, context)[0]
        return mpb.MatchMediaResponse(fingerprint=_fingerprint_pb(h), matches=matches)

    @rpc
    def MatchStream(self, request_iterator: Iterator[mpb.MatchStreamRequest],
                    context: grpc.ServicerContext) -> Iterator[mpb.MatchStreamResponse]:
        with self._stream_slot():
            index = 0
            params: Dict[str, Any] = {"collection": "", "k": 0, "max_distance": None, "meta": False}
            for batch in read_ahead(request_iterator, 256, context):
                check_deadline(context)
                # Resolve each query's parameters (sticky from earlier messages) and code.
                plans: List[Any] = []  # (key, state, k, maxd, meta) or an exception
                for req in batch:
                    if req.collection:
                        params = {"collection": req.collection, "k": req.k,
                                  "max_distance": req.max_distance if req.HasField("max_distance") else None,
                                  "meta": req.include_metadata}
                    elif req.k or req.HasField("max_distance") or req.include_metadata:
                        params = dict(params, k=req.k, meta=req.include_metadata,
                                      max_distance=req.max_distance if req.HasField("max_distance") else None)
                    try:
                        if not params["collection"]:
                            raise ValueError("the first MatchStream message must name the collection")
                        state = self.store.get(params["collection"])
                        k, maxd = _search_params(params["k"], params["max_distance"] is not None,
                                                 params["max_distance"] or 0, self.config, state.bits)
                        if req.WhichOneof("query") is None:
                            raise ValueError("query has neither code nor media")
                        plans.append((state, k, maxd, params["meta"]))
                    except Exception as e:  # noqa: BLE001
                        plans.append(e)
                fingerprints: Dict[int, Hashed] = {}
                codes: Dict[int, bytes] = {}
                by_coll: Dict[str, List[int]] = {}
                for j, (req, plan) in enumerate(zip(batch, plans)):
                    if isinstance(plan, Exception):
                        continue
                    if req.WhichOneof("query") == "code":
                        if len(req.code) != plan[0].code_bytes:
                            plans[j] = ValueError(
                                f"code is {len(req.code)} bytes; collection {plan[0].name!r} holds "
                                f"{plan[0].bits}-bit codes ({plan[0].code_bytes} bytes)")
                            continue
                        codes[j] = req.code
                    else:
                        by_coll.setdefault(plan[0].name, []).append(j)
                for members in by_coll.values():
                    state = plans[members[0]][0]
                    try:
                        got = self._hash([batch[j].media for j in members], state.algorithm, state.bits)
                    except Exception as e:  # noqa: BLE001
                        got = [e] * len(members)
                    for j, h in zip(members, got):
                        if isinstance(h, Exception):
                            plans[j] = h
                        else:
                            fingerprints[j] = h
                            codes[j] = h.code
                # One search per (collection, parameters) group.
                groups: Dict[Tuple[Any, ...], List[int]] = {}
                for j in codes:
                    state, k, maxd, meta = plans[j]
                    groups.setdefault((state.name, k, maxd, meta), []).append(j)
                found: Dict[int, Union[pb.QueryMatches, Exception]] = {}
                for members in groups.values():
                    state, k, maxd, meta = plans[members[0]]
                    q = np.frombuffer(b"".join(codes[j] for j in members), dtype=np.uint8)
                    try:
                        res = self._matches(state, q.reshape(len(members), -1), k, maxd, meta, context)
                        found.update(zip(members, res))
                    except DeadlineError:
                        raise
                    except Exception as e:  # noqa: BLE001
                        found.update((j, e) for j in members)
                for j, req in enumerate(batch):
                    resp = mpb.MatchStreamResponse(tag=req.tag, index=index)
                    index += 1
                    outcome = found.get(j, plans[j])
                    if j in fingerprints:
                        resp.fingerprint.CopyFrom(_fingerprint_pb(fingerprints[j]))
                    if isinstance(outcome, pb.QueryMatches):
                        resp.matches.CopyFrom(outcome)
                    else:
                        resp.error.CopyFrom(_item_error(outcome if isinstance(outcome, Exception)
                                                        else RuntimeError("not searched")))
                    yield resp

    @rpc
    def FindDuplicates(self, request: mpb.FindDuplicatesRequest, context: grpc.ServicerContext
                       ) -> mpb.FindDuplicatesResponse:
        state = self.store.get(request.collection) if request.collection else None
        bits = request.bits
        if state is not None:
            if bits and bits != state.bits:
                raise ValueError(f"bits={bits} but collection {state.name!r} holds {state.bits}-bit codes")
            bits = state.bits
        elif not bits:
            raise ValueError("bits is required when no collection is given")
        if bits % 8 or not 8 <= bits <= 4096:
            raise ValueError(f"bits must be a multiple of 8 from 8 to 4096, got {bits}")
        codes = _codes(request.codes, bits // 8)
        if codes.shape[0] > self.config.max_batch:
            raise LimitExceededError(
                f"{codes.shape[0]} codes is over the batch limit of {self.config.max_batch}")
        check_deadline(context)
        first, second, dist = _index.find_duplicates(codes, request.max_distance,
                                                    threads=self.config.search_threads)
        if len(first) > self.config.max_results:
            raise LimitExceededError(
                f"{len(first)} pairs within distance {request.max_distance} is over the limit of "
                f"{self.config.max_results}; lower max_distance")
        response = mpb.FindDuplicatesResponse(first=first.tolist(), second=second.tolist(),
                                              distances=dist.tolist())
        if state is not None:
            if request.k > self.config.max_k:
                raise LimitExceededError(f"k={request.k} is over the limit of {self.config.max_k}")
            response.collection_matches.extend(self._matches(
                state, codes, request.k, min(request.max_distance, bits), False, context))
        return response


def add_servicers(server: grpc.Server, servicers: Servicers) -> None:
    """Register the four services on `server`."""
    cgrpc.add_CollectionServiceServicer_to_server(servicers, server)
    hgrpc.add_HashServiceServicer_to_server(servicers, server)
    igrpc.add_IngestServiceServicer_to_server(servicers, server)
    mgrpc.add_MatchServiceServicer_to_server(servicers, server)
