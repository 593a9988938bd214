"""HammingIndex search and find_duplicates against faiss IndexBinaryFlat and numpy."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import fingerprint
from conftest import NOTES, record

import faiss  # the peer: faiss-cpu, a bench/test-only dependency

CORES = os.cpu_count() or 1


def bank_size(request) -> int:
    """1M codes when benchmarking, a small bank when the run is only a smoke test."""
    return 1_000_000 if request.config.getoption("benchmark_enable") else 20_000


@pytest.fixture(scope="module", params=[64, 256], ids=lambda b: f"{b}bit")
def bank(request):
    bits = request.param
    n = bank_size(request)
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 256, (n, bits // 8), dtype=np.uint8)
    queries = rng.integers(0, 256, (1000, bits // 8), dtype=np.uint8)
    ours = fingerprint.HammingIndex(bits)
    ours.add(codes)
    peer = faiss.IndexBinaryFlat(bits)
    peer.add(codes)
    return bits, codes, queries, ours, peer


CASES = [
    (engine, nq, threads)
    for nq in (1, 100, 1000)
    for threads in sorted({1, CORES})
    for engine in ("fingerprint", "faiss")
] + [("numpy", 1, 1)]  # the numpy baseline is single-threaded and too slow beyond one query


@pytest.mark.parametrize("engine, nq, threads", CASES, ids=lambda v: str(v))
def test_search(benchmark, bank, nq, threads, engine):
    bits, codes, queries, ours, peer = bank
    q = queries[:nq]
    k = 10
    benchmark.group = f"search {bits}bit N={len(codes)} Q={nq} k={k} {threads}thr"
    if engine == "fingerprint":
        d, i = benchmark(ours.search, q, k, threads=threads)
    elif engine == "faiss":
        faiss.omp_set_num_threads(threads)
        d, i = benchmark(peer.search, q, k)
    else:

        def numpy_search():
            dist = np.bitwise_count(np.bitwise_xor(codes, q[0])).sum(1, dtype=np.int32)
            top = np.argpartition(dist, k)[:k]
            return dist[top], top

        benchmark(numpy_search)
        record(benchmark, benchmark.group, engine)
        return
    record(benchmark, benchmark.group, engine)
    # Both engines agree on distances (ids may differ only among ties).
    d_ref, _ = peer.search(q[:3], k)
    np.testing.assert_array_equal(ours.search(q[:3], k)[0], d_ref)


@pytest.mark.parametrize(
    "bits, radius", [(64, 8), (256, 31)], ids=["64bit-r8", "256bit-r31"]
)
def test_find_duplicates(benchmark, request, bits, radius, n):
    if not request.config.getoption("benchmark_enable"):
        n = min(n, 5_000)  # smoke test
    rng = np.random.default_rng(n + bits)
    codes = rng.integers(0, 256, (n, bits // 8), dtype=np.uint8)
    # Plant near-duplicates so there is something to find.
    codes[1::100] = codes[0::100][: len(codes[1::100])]
    benchmark.group = f"find_duplicates {bits}bit N={n} r={radius}"
    left, right, dist = benchmark.pedantic(
        fingerprint.find_duplicates, args=(codes, radius), rounds=1, iterations=1
    )
    assert len(left) >= len(codes[1::100])
    assert (dist <= radius).all() and (left < right).all()
    record(benchmark, benchmark.group, "fingerprint")


def pytest_generate_tests(metafunc):
    """find_duplicates runs on 100k codes, and also on 1M (minutes) with --fp-big."""
    if "n" in metafunc.fixturenames:
        sizes = [100_000] + ([1_000_000] if metafunc.config.getoption("--fp-big") else [])
        metafunc.parametrize("n", sizes, ids=lambda n: f"{n // 1000}k")


def test_single_query_bandwidth_and_memory(request):
    """One query over 10M x 256-bit codes against the machine's read bandwidth."""
    big = request.config.getoption("--fp-big")
    n = 10_000_000 if big else 50_000
    rng = np.random.default_rng(10)
    index = fingerprint.HammingIndex(256)
    chunk = 1_000_000
    for start in range(0, n, chunk):
        index.add(rng.integers(0, 256, (min(chunk, n - start), 32), dtype=np.uint8))
    q = rng.integers(0, 256, (1, 32), dtype=np.uint8)
    arr = np.ones(n * 4, dtype=np.uint64)  # same bytes as the codes
    def best(f, reps=5):
        t = []
        for _ in range(reps):
            s = time.perf_counter()
            f()
            t.append(time.perf_counter() - s)
        return min(t)
    t_sum = best(lambda: arr.sum())
    t_one = best(lambda: index.search(q, 10, threads=1))
    t_all = best(lambda: index.search(q, 10))
    gb = n * 32 / 1e9
    mem_mb = index.memory_usage() / 1e6
    NOTES[f"single-query scan N={n}"] = (
        f"numpy sum {gb / t_sum:.1f} GB/s (1 core); ours {gb / t_one:.1f} GB/s on 1 core "
        f"({100 * t_sum / t_one:.0f}% of it), {gb / t_all:.1f} GB/s on {CORES} cores; "
        f"index memory {mem_mb:.0f} MB for {n} codes with ids"
    )
    assert mem_mb < 50 * n / 1e6


@pytest.fixture(scope="module")
def mih_bank(request):
    """Random 256-bit codes and near-copy queries (8% of bits flipped, ~20 bits)."""
    enabled = request.config.getoption("benchmark_enable")
    n = (10_000_000 if request.config.getoption("--fp-big") else 1_000_000) if enabled else 20_000
    rng = np.random.default_rng(31)
    codes = np.empty((n, 32), dtype=np.uint8)
    for start in range(0, n, 1_000_000):
        stop = min(n, start + 1_000_000)
        codes[start:stop] = rng.integers(0, 256, (stop - start, 32), dtype=np.uint8)
    bits = np.unpackbits(codes[:200], axis=1)
    queries = np.packbits(bits ^ (rng.random(bits.shape) < 0.08), axis=1)
    return codes, queries


@pytest.mark.parametrize("engine", ["fingerprint", "fingerprint-flat", "faiss-multihash"])
def test_mih_range_search(benchmark, mih_bank, engine):
    """Radius-31 search of single queries on one core: MIH vs our flat scan vs faiss's MIH (HMA's 16x16)."""
    codes, queries = mih_bank
    n = len(codes)
    benchmark.group = f"range r=31 256bit N={n} 1 query 1thr"
    if engine == "fingerprint":
        index = fingerprint.HammingIndex(256, method="mih")
        index.add(codes)
        run = lambda q: index.range_search(q, 31, threads=1)  # noqa: E731
        NOTES[f"mih N={n}"] = f"{index.tables} tables, index memory {index.memory_usage() / 1e6:.0f} MB"
    elif engine == "fingerprint-flat":
        index = fingerprint.HammingIndex(256)
        index.add(codes)
        run = lambda q: index.range_search(q, 31, threads=1)  # noqa: E731
    else:
        faiss.omp_set_num_threads(1)
        index = faiss.IndexBinaryMultiHash(256, 16, 16)
        index.add(codes)
        index.nflip = 1  # 31 // 16: exact at radius 31 only up to nflip flips per table

        def run(q):
            return index.range_search(q, 32)  # faiss keeps distances < radius

    queries_iter = iter(range(10**9))

    def one():
        i = next(queries_iter) % len(queries)
        return run(queries[i : i + 1])

    benchmark(one)
    record(benchmark, benchmark.group, engine)
    # Every engine finds the planted copy of query 0 (row 0).
    result = run(queries[:1])
    assert 0 in set(np.asarray(result[-1] if engine.startswith("faiss") else result[1]).tolist())
