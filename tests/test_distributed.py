"""fingerprint.distributed on a real local Ray cluster (2 CPUs on loopback), never a mock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ray  # the optional extra fingerprint[ray]; the test extra installs it

import fingerprint
import fingerprint.distributed as fd
from fingerprint import HammingIndex

# Ray's own modules warn about their internals; our code must not.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def sample(n=3000, nbytes=32, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, nbytes), dtype=np.uint8) & 0x3F
    # Plant near copies so range queries and joins find something.
    codes[1::50] = codes[0::50][: len(codes[1::50])]
    codes[1::50, 0] ^= 1
    return codes


def test_sharded_search_equals_single_index(cluster):
    codes = sample()
    ids = np.random.default_rng(1).permutation(100_000)[: len(codes)].astype(np.uint64)
    single = HammingIndex(256)
    single.add(codes, ids)
    bank = fd.ShardedIndex(256, shards=3)
    bank.add(codes[:1000], ids[:1000])
    bank.add(codes[1000:], ids[1000:])
    assert len(bank) == len(codes)
    q = codes[:40]
    for k in (1, 7, 5000):
        for a, b in zip(bank.search(q, k), single.search(q, k)):
            np.testing.assert_array_equal(a, b)
    for r in (0, 10, 60):
        for a, b in zip(bank.range_search(q, r), single.range_search(q, r)):
            np.testing.assert_array_equal(a, b)
    gone = ids[::7]
    assert bank.remove(gone) == single.remove(gone)
    for a, b in zip(bank.search(q, 5), single.search(q, 5)):
        np.testing.assert_array_equal(a, b)


def test_sharded_find_duplicates_equals_single_batch(cluster):
    codes = sample(2000, seed=2)
    bank = fd.ShardedIndex(256, shards=4)
    bank.add(codes)
    got = bank.find_duplicates(12)
    want = fingerprint.find_duplicates(codes, 12)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert len(got[0]) > 0


def test_shards_persist_and_reopen(cluster, tmp_path: Path):
    codes = sample(500, nbytes=8, seed=3)
    bank = fd.ShardedIndex(64, shards=2, directory=str(tmp_path))
    bank.add(codes)
    bank.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-0000.fpi", "shard-0001.fpi"]
    again = fd.ShardedIndex.open(str(tmp_path), shards=2, bits=64)
    assert len(again) == 500
    for a, b in zip(again.search(codes[:9], 3), bank.search(codes[:9], 3)):
        np.testing.assert_array_equal(a, b)
    again.add(codes[:1])  # default ids continue after the reopened ones
    assert len(again) == 501


def test_hash_dataset_matches_local_hashing(cluster, shared_data: Path, tmp_path: Path):
    paths = sorted(str(p) for p in (shared_data / "images" / "originals").glob("*.jpg"))[:6]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    rows = fd.hash_dataset(paths + [str(bad)], algorithm="pdq", output=str(tmp_path / "out")).take_all()
    by_path = {r["path"]: r for r in rows}
    local = fingerprint.hash_images(paths, algorithm="pdq")
    for p, code in zip(paths, local.codes):
        assert by_path[p]["error"] == ""
        assert bytes(by_path[p]["code"]) == bytes(code)
    assert by_path[str(bad)]["error"] != "" and bytes(by_path[str(bad)]["code"]) == b""
    import pyarrow.parquet as pq

    table = pq.read_table(str(tmp_path / "out"))
    assert table.num_rows == len(paths) + 1
    assert set(table.column_names) >= {"path", "algorithm", "code", "quality", "error"}
