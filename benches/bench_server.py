"""Loopback load on `fingerprint serve` vs the library in-process, in the same run.

A bounded load generator (grpc.aio, a fixed number of requests, a time limit per phase) measures
throughput and p50/p99 latency for: bulk ingest (AddItems streams), batched search on a 256-bit
collection (1M items with --benchmark-enable, 100k in the smoke run), and 64 concurrent
single-query unary searches. The in-process peer is `fingerprint.HammingIndex` on the same codes.
The server runs as a separate process (`fingerprint serve`), so client and server do not share a GIL.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Dict, Iterator, List, Tuple

import numpy as np
import pytest

import fingerprint
from conftest import NOTES, TIMINGS

from grpc import aio  # noqa: E402

from fingerprint.v1 import (  # noqa: E402
    collection_service_pb2 as cpb,
    collection_service_pb2_grpc as cgrpc,
    ingest_service_pb2 as ipb,
    ingest_service_pb2_grpc as igrpc,
    match_service_pb2 as mpb,
    match_service_pb2_grpc as mgrpc,
)

ROOT = Path(__file__).resolve().parent.parent
BITS = 256
K = 10
CHUNK = 1000


def sizes(request: pytest.FixtureRequest) -> Dict[str, int]:
    """Problem sizes: full when benchmarking, small for the smoke run."""
    if request.config.getoption("benchmark_enable"):
        return {"items": 1_000_000, "call_items": 10_000, "batch": 1000, "batches": 20,
                "unary": 20_000, "time_limit": 300}
    return {"items": 100_000, "call_items": 10_000, "batch": 100, "batches": 4,
            "unary": 640, "time_limit": 60}


def percentiles(latencies: List[float]) -> Tuple[float, float]:
    """p50 and p99 in milliseconds."""
    arr = np.asarray(latencies) * 1e3
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


async def run_load(calls: List[Callable[[], Awaitable[object]]], concurrency: int, time_limit: float
                   ) -> Tuple[List[float], float]:
    """Run `calls` with `concurrency` workers; stop early at `time_limit`. Returns (latencies, wall)."""
    queue = list(reversed(calls))
    latencies: List[float] = []
    t_end = time.perf_counter() + time_limit

    async def worker() -> None:
        while queue and time.perf_counter() < t_end:
            call = queue.pop()
            t0 = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - t0


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[Tuple[int, Dict[str, int]]]:
    """`fingerprint serve` on a free loopback port with a durable data directory."""
    size = sizes(request)
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, FINGERPRINT_MAX_BATCH=str(max(size["batch"], 1000)))
        proc = subprocess.Popen(
            [sys.executable, "-m", "fingerprint.cli", "serve", "--data-dir", data, "--port", "0", "--json",
             "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "server did not start"
        try:
            yield json.loads(line)["port"], size
        finally:
            proc.terminate()
            proc.wait(timeout=120)
            proc.stdout.close()


@pytest.fixture(scope="module")
def loaded(server: Tuple[int, Dict[str, int]]) -> Tuple[int, Dict[str, int], np.ndarray, "fingerprint.HammingIndex"]:
    """Bulk-ingest the collection through the server (the ingest benchmark) and build the peer index."""
    port, size = server
    n, per_call = size["items"], size["call_items"]
    codes = np.random.default_rng(7).integers(0, 256, (n, BITS // 8), dtype=np.uint8)

    async def ingest() -> Tuple[List[float], float]:
        async with aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            await cgrpc.CollectionServiceStub(ch).CreateCollection(
                cpb.CreateCollectionRequest(name="bench", bits=BITS), timeout=60)
            stub = igrpc.IngestServiceStub(ch)

            def call(start: int) -> Callable[[], Awaitable[object]]:
                async def requests() -> AsyncIterator[ipb.AddItemsRequest]:
                    end = min(start + per_call, n)
                    for s in range(start, end, CHUNK):  # CHUNK items per message, as Client.add sends
                        yield ipb.AddItemsRequest(collection="bench", items=[
                            ipb.Item(id=str(i), code=codes[i].tobytes()) for i in range(s, min(s + CHUNK, end))])

                async def go() -> None:
                    r = await stub.AddItems(requests(), timeout=size["time_limit"])
                    assert r.stored == min(per_call, n - start) and not r.errors
                return go

            return await run_load([call(s) for s in range(0, n, per_call)], 2, size["time_limit"])

    latencies, wall = asyncio.run(ingest())
    assert len(latencies) == -(-n // per_call), "ingest hit the time limit"
    # In-process peers: the server's own durable store without gRPC, and the bare index.
    from fingerprint.server.store import NewItem, Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp)
        store.create("bench", 0, BITS)
        t0 = time.perf_counter()
        for s in range(0, n, CHUNK):
            store.add("bench", [NewItem(str(i), codes[i].tobytes()) for i in range(s, min(s + CHUNK, n))], 0)
        store_wall = time.perf_counter() - t0
        store.close(snapshot=False)
    t0 = time.perf_counter()
    peer = fingerprint.HammingIndex(BITS, "auto")
    peer.add(codes)
    peer_wall = time.perf_counter() - t0
    p50, p99 = percentiles(latencies)
    NOTES[f"server ingest N={n}"] = (
        f"{n / wall:,.0f} items/s durable (SQLite WAL, synchronous=FULL, {per_call}-item AddItems "
        f"streams of {CHUNK}-item messages, 2 at once), per-call p50 {p50:.0f} ms p99 {p99:.0f} ms; "
        f"in-process durable Store.add {n / store_wall:,.0f} items/s ({100 * store_wall / wall:.0f}% "
        f"through gRPC); HammingIndex.add alone (memory only) {n / peer_wall:,.0f} items/s")
    return port, size, codes, peer


def test_batched_search(benchmark, loaded) -> None:
    port, size, codes, peer = loaded
    nq, batches = size["batch"], size["batches"]
    rng = np.random.default_rng(11)
    queries = [codes[rng.integers(0, len(codes), nq)] ^ np.uint8(1) for _ in range(batches)]
    benchmark.group = f"server batched search {BITS}bit N={len(codes)} Q={nq} k={K}"

    async def load() -> Tuple[List[float], float]:
        async with aio.insecure_channel(f"127.0.0.1:{port}", options=[
                ("grpc.max_receive_message_length", 64 << 20)]) as ch:
            stub = mgrpc.MatchServiceStub(ch)

            def call(q: np.ndarray) -> Callable[[], Awaitable[object]]:
                async def go() -> None:
                    r = await stub.Search(mpb.SearchRequest(collection="bench", codes=q.tobytes(), k=K),
                                          timeout=size["time_limit"])
                    assert len(r.results) == len(q)
                return go

            await stub.Search(mpb.SearchRequest(collection="bench", codes=queries[0][:1].tobytes(), k=K))
            return await run_load([call(q) for q in queries], 2, size["time_limit"])

    def server_run() -> Tuple[List[float], float]:
        return asyncio.run(load())

    latencies, wall = benchmark.pedantic(server_run, rounds=1, iterations=1)
    done = len(latencies)
    t0 = time.perf_counter()
    local: List[float] = []
    for q in queries[:done]:
        s = time.perf_counter()
        d, ids = peer.search(q, K)
        local.append(time.perf_counter() - s)
    local_wall = time.perf_counter() - t0
    # Same answers: the server's distances equal the library's.
    r = fingerprint.Client(f"127.0.0.1:{port}").search("bench", queries[0][:5], k=K)
    np.testing.assert_array_equal(np.array([m.distances for m in r]), peer.search(queries[0][:5], K)[0])
    server_qps, local_qps = done * nq / wall, done * nq / local_wall
    p50, p99 = percentiles(latencies)
    l50, l99 = percentiles(local)
    TIMINGS[(benchmark.group, "fingerprint")] = wall / done
    TIMINGS[(benchmark.group, "in-process")] = local_wall / done
    NOTES[benchmark.group] = (
        f"server {server_qps:,.0f} queries/s (p50 {p50:.1f} ms p99 {p99:.1f} ms per {nq}-query request, "
        f"2 in flight) vs in-process {local_qps:,.0f} queries/s (p50 {l50:.1f} ms): "
        f"{100 * server_qps / local_qps:.0f}% of in-process")
    assert done == len(queries), "batched search hit the time limit"


def test_unary_small_searches_64_clients(benchmark, loaded) -> None:
    port, size, codes, peer = loaded
    total = size["unary"]
    rng = np.random.default_rng(13)
    queries = codes[rng.integers(0, len(codes), total)]
    benchmark.group = f"server unary search x64 clients {BITS}bit N={len(codes)} Q=1 k={K}"

    async def load() -> Tuple[List[float], float]:
        # Eight channels (HTTP/2 connections), 64 concurrent callers.
        channels = [aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(8)]
        try:
            stubs = [mgrpc.MatchServiceStub(ch) for ch in channels]

            def call(i: int) -> Callable[[], Awaitable[object]]:
                req = mpb.SearchRequest(collection="bench", codes=queries[i].tobytes(), k=K)

                async def go() -> None:
                    r = await stubs[i % 8].Search(req, timeout=size["time_limit"])
                    assert len(r.results[0].ids) == K and r.results[0].distances[0] == 0
                return go

            for s in stubs:
                await s.Search(mpb.SearchRequest(collection="bench", codes=queries[0].tobytes(), k=K))
            return await run_load([call(i) for i in range(total)], 64, size["time_limit"])
        finally:
            for ch in channels:
                await ch.close()

    latencies, wall = benchmark.pedantic(lambda: asyncio.run(load()), rounds=1, iterations=1)
    done = len(latencies)
    t0 = time.perf_counter()
    for q in queries[:done]:
        peer.search(q, K)
    local_wall = time.perf_counter() - t0
    p50, p99 = percentiles(latencies)
    TIMINGS[(benchmark.group, "fingerprint")] = wall / done
    TIMINGS[(benchmark.group, "in-process")] = local_wall / done
    NOTES[benchmark.group] = (
        f"server {done / wall:,.0f} requests/s, p50 {p50:.2f} ms p99 {p99:.2f} ms at 64 in flight; "
        f"in-process one-query calls {done / local_wall:,.0f}/s "
        f"({100 * local_wall / wall:.0f}% of in-process)")
    assert done == total, "unary load hit the time limit"
