"""HammingIndex and find_duplicates against a numpy brute-force reference."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fingerprint
from fingerprint import CorruptIndexError, DuplicateIdError, HammingIndex, find_duplicates


def brute_distances(queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(q, n) Hamming distances by numpy's popcount of xor."""
    return np.bitwise_count(np.bitwise_xor(queries[:, None, :], codes[None, :, :])).sum(-1)


def brute_knn(queries, codes, ids, k):
    d = brute_distances(queries, codes)
    out_d = np.full((len(queries), k), -1, dtype=np.int64)
    out_i = np.full((len(queries), k), -1, dtype=np.int64)
    for qi in range(len(queries)):
        order = np.lexsort((ids, d[qi]))[:k]
        out_d[qi, : len(order)] = d[qi][order]
        out_i[qi, : len(order)] = ids[order]
    return out_d, out_i


code_bytes = st.sampled_from([1, 2, 3, 8, 9, 16, 32, 33, 64, 128])


@st.composite
def index_case(draw):
    nbytes = draw(code_bytes)
    n = draw(st.integers(0, 200))
    nq = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # Few distinct bits so ties and small distances are common.
    mask = draw(st.sampled_from([0x01, 0x0F, 0xFF]))
    codes = rng.integers(0, 256, (n, nbytes), dtype=np.uint8) & mask
    queries = rng.integers(0, 256, (nq, nbytes), dtype=np.uint8) & mask
    if draw(st.booleans()):
        ids = rng.permutation(10 * n + 1)[:n].astype(np.uint64)
    else:
        ids = np.arange(n, dtype=np.uint64)
    return codes, queries, ids


@settings(max_examples=60, deadline=None)
@given(index_case(), st.integers(0, 25))
def test_search_matches_brute_force(case, k):
    codes, queries, ids = case
    index = HammingIndex(codes.shape[1] * 8)
    index.add(codes, ids)
    d, i = index.search(queries, k)
    assert d.dtype == np.int32 and i.dtype == np.int64
    assert d.shape == i.shape == (len(queries), k)
    ed, ei = brute_knn(queries, codes, ids.astype(np.int64), k)
    np.testing.assert_array_equal(d, ed)
    np.testing.assert_array_equal(i, ei)


@settings(max_examples=60, deadline=None)
@given(index_case(), st.integers(0, 40))
def test_range_search_matches_brute_force(case, radius):
    codes, queries, ids = case
    index = HammingIndex(codes.shape[1] * 8)
    index.add(codes, ids)
    offsets, got_ids, got_d = index.range_search(queries, radius)
    assert offsets.shape == (len(queries) + 1,) and offsets[0] == 0
    d = brute_distances(queries, codes)
    for qi in range(len(queries)):
        hit = np.nonzero(d[qi] <= radius)[0]
        order = np.lexsort((ids[hit], d[qi][hit]))
        a, b = offsets[qi], offsets[qi + 1]
        np.testing.assert_array_equal(got_ids[a:b], ids[hit][order].astype(np.int64))
        np.testing.assert_array_equal(got_d[a:b], d[qi][hit][order])


@settings(max_examples=40, deadline=None)
@given(index_case(), st.integers(0, 20))
def test_find_duplicates_matches_brute_force(case, radius):
    codes, _, _ = case
    if codes.shape[0] == 0:
        codes = np.zeros((0, codes.shape[1]), dtype=np.uint8)
    left, right, dist = find_duplicates(codes, radius)
    d = brute_distances(codes, codes)
    ei, ej = np.nonzero(np.triu(d <= radius, k=1))
    np.testing.assert_array_equal(left, ei)
    np.testing.assert_array_equal(right, ej)
    np.testing.assert_array_equal(dist, d[ei, ej])


def test_remove_contains_get_and_len():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, (50, 32), dtype=np.uint8)
    index = HammingIndex(256)
    index.add(codes)
    assert len(index) == 50 and 7 in index and 50 not in index and -1 not in index
    assert "7" not in index
    np.testing.assert_array_equal(index.get(7), codes[7])
    assert index.get(99) is None
    assert index.remove([7, 8, 1000]) == 2
    assert len(index) == 48 and 7 not in index
    d, i = index.search(codes[7:9], 1)
    assert 7 not in i and 8 not in i
    index.add(codes[7], ids=[7])
    assert index.search(codes[7:8], 1)[1][0, 0] == 7
    # Default ids continue after the largest.
    index.add(codes[:2])
    assert list(index.ids()[-2:]) == [50, 51]


def test_one_code_as_bytes_and_padding():
    index = HammingIndex(64)
    index.add(bytes(8))
    d, i = index.search(b"\x01" + bytes(7), 3)
    assert d.tolist() == [[1, -1, -1]] and i.tolist() == [[0, -1, -1]]


def test_non_contiguous_input_is_copied_not_refused():
    rng = np.random.default_rng(2)
    wide = rng.integers(0, 256, (40, 64), dtype=np.uint8)
    strided = wide[::2, ::2]
    assert not strided.flags.c_contiguous
    index = HammingIndex(256)
    index.add(strided)
    np.testing.assert_array_equal(index.codes(), strided)
    d, i = index.search(strided[:3], 1)
    assert d[:, 0].tolist() == [0, 0, 0]


def test_duplicate_ids_are_refused_atomically():
    index = HammingIndex(64)
    codes = np.zeros((3, 8), dtype=np.uint8)
    index.add(codes, [1, 2, 3])
    with pytest.raises(DuplicateIdError):
        index.add(codes[:2], [4, 2])
    with pytest.raises(DuplicateIdError):
        index.add(codes[:2], [9, 9])
    assert len(index) == 3 and 4 not in index and 9 not in index
    assert issubclass(DuplicateIdError, ValueError)


@pytest.mark.parametrize(
    "bad, exc, message",
    [
        (np.zeros((2, 8), dtype=np.int64), TypeError, "uint8"),
        (np.zeros((2, 8), dtype=np.float32), TypeError, "uint8"),
        (np.zeros((2, 7), dtype=np.uint8), ValueError, r"\(n, 8\)"),
        (np.zeros((2, 2, 8), dtype=np.uint8), ValueError, "shape"),
        ([[0] * 8], TypeError, "numpy uint8 array"),
        (b"\x00" * 5, ValueError, "8 bytes"),
    ],
)
def test_bad_codes_say_what_was_expected(bad, exc, message):
    index = HammingIndex(64)
    with pytest.raises(exc, match=message):
        index.add(bad)
    with pytest.raises(exc, match=message):
        index.search(bad, 1)


def test_bad_arguments():
    for bits in (0, 4, 12, 4104, -8):
        with pytest.raises(ValueError, match="multiple of 8"):
            HammingIndex(bits)
    index = HammingIndex(64)
    with pytest.raises(ValueError, match="non-negative"):
        index.search(bytes(8), -1)
    with pytest.raises(ValueError, match="non-negative"):
        index.add(np.zeros((1, 8), np.uint8), ids=[-3])
    with pytest.raises(TypeError, match="integers"):
        index.add(np.zeros((1, 8), np.uint8), ids=[1.5])
    with pytest.raises(ValueError, match="ids"):
        index.add(np.zeros((2, 8), np.uint8), ids=[1])
    with pytest.raises(ValueError, match="threads"):
        index.search(bytes(8), 1, threads=0)
    with pytest.raises(ValueError, match="below 2\\*\\*63"):
        index.add(np.zeros((1, 8), np.uint8), ids=np.array([2**63], dtype=np.uint64))


def test_save_load_round_trip(tmp_path: Path):
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (1000, 32), dtype=np.uint8)
    ids = rng.permutation(5000)[:1000].astype(np.uint64)
    index = HammingIndex(256)
    index.add(codes, ids)
    path = tmp_path / "bank.fpi"
    index.save(path)
    queries = codes[:20]
    expect = index.search(queries, 5)
    for mmap in (False, True):
        loaded = HammingIndex.load(path, mmap=mmap)
        assert loaded.is_mapped == mmap
        assert len(loaded) == 1000 and loaded.bits == 256
        np.testing.assert_array_equal(loaded.ids(), ids)
        for a, b in zip(loaded.search(queries, 5), expect):
            np.testing.assert_array_equal(a, b)
    HammingIndex.verify(path)
    # Saving over a file that is mapped leaves the mapped view intact.
    mapped = HammingIndex.load(path, mmap=True)
    HammingIndex(256).save(path)
    assert len(mapped) == 1000 and len(HammingIndex.load(path)) == 0
    assert sorted(os.listdir(tmp_path)) == ["bank.fpi"]


def test_corrupted_and_truncated_files_raise_corrupt_index_error(tmp_path: Path):
    index = HammingIndex(64)
    index.add(np.random.default_rng(4).integers(0, 256, (100, 8), dtype=np.uint8))
    path = tmp_path / "i.fpi"
    index.save(path)
    good = path.read_bytes()
    bad = tmp_path / "bad.fpi"
    for cut in (0, 10, 63, 64, 100, len(good) - 1):
        bad.write_bytes(good[:cut])
        for mmap in (False, True):
            with pytest.raises(CorruptIndexError):
                HammingIndex.load(bad, mmap=mmap)
    flipped = bytearray(good)
    flipped[200] ^= 0x01
    bad.write_bytes(bytes(flipped))
    with pytest.raises(CorruptIndexError, match="checksum"):
        HammingIndex.load(bad)
    with pytest.raises(CorruptIndexError, match="checksum"):
        HammingIndex.verify(bad)
    bad.write_bytes(b"GIF89a" + bytes(100))
    with pytest.raises(CorruptIndexError, match="magic"):
        HammingIndex.load(bad)
    with pytest.raises(FileNotFoundError):
        HammingIndex.load(tmp_path / "missing.fpi")
    assert issubclass(CorruptIndexError, fingerprint.FingerprintError)


def test_concurrent_searches_and_adds_from_python_threads():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (20_000, 32), dtype=np.uint8)
    index = HammingIndex(256)
    index.add(codes[:10_000])
    queries = codes[:64]
    expect = brute_knn(queries, codes[:10_000], np.arange(10_000), 3)
    errors: list[BaseException] = []

    def searcher():
        try:
            for _ in range(20):
                d, i = index.search(queries, 3)
                # Added codes are later ids, so exact self-matches stay first.
                np.testing.assert_array_equal(d[:, 0], expect[0][:, 0])
                np.testing.assert_array_equal(i[:, 0], expect[1][:, 0])
        except BaseException as e:  # noqa: BLE001 - reraised in the main thread
            errors.append(e)

    def adder():
        try:
            for start in range(10_000, 20_000, 1000):
                index.add(codes[start : start + 1000])
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=searcher) for _ in range(4)] + [threading.Thread(target=adder)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(index) == 20_000


def test_threads_argument_gives_identical_results():
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 256, (50_000, 8), dtype=np.uint8)
    index = HammingIndex(64)
    index.add(codes)
    q = codes[:5]
    base = index.search(q, 10, threads=1)
    for threads in (2, 3, 8):
        for a, b in zip(index.search(q, 10, threads=threads), base):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("level", fingerprint.simd_levels())
def test_every_simd_level_gives_the_same_answers(level):
    """Force each kernel through FINGERPRINT_SIMD in a fresh interpreter."""
    script = (
        "import numpy as np, fingerprint as f\n"
        f"assert f.simd_level() == {level!r}, f.simd_level()\n"
        "rng = np.random.default_rng(7)\n"
        "for nbytes in (3, 8, 16, 32, 64, 72):\n"
        "    c = rng.integers(0, 256, (333, nbytes), dtype=np.uint8)\n"
        "    ix = f.HammingIndex(nbytes * 8); ix.add(c)\n"
        "    d, i = ix.search(c[:9], 4)\n"
        "    ref = np.bitwise_count(c[:9, None] ^ c[None]).sum(-1)\n"
        "    exp = np.sort(ref, axis=1)[:, :4]\n"
        "    assert (d == exp).all(), (nbytes, d, exp)\n"
    )
    env = dict(os.environ, FINGERPRINT_SIMD=level)
    subprocess.run([sys.executable, "-c", script], env=env, check=True)


def test_index_is_not_silently_picklable():
    with pytest.raises(TypeError):
        pickle.dumps(HammingIndex(64))


@settings(max_examples=40, deadline=None)
@given(index_case(), st.integers(0, 40), st.integers(0, 12), st.sampled_from(["mih", "auto"]))
def test_mih_and_auto_equal_flat(case, radius, k, method):
    codes, queries, ids = case
    bits = codes.shape[1] * 8
    flat = HammingIndex(bits)
    other = HammingIndex(bits, method=method)
    for ix in (flat, other):
        ix.add(codes, ids)
    assert other.method == method
    for a, b in zip(flat.range_search(queries, radius), other.range_search(queries, radius)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(flat.search(queries, k), other.search(queries, k)):
        np.testing.assert_array_equal(a, b)


def test_mih_on_real_image_hashes(shared_data):
    """Real PDQ hashes are not uniform bits (exactly 128 set): MIH must stay exact on them."""
    paths = sorted((shared_data / "images").glob("*/*"))
    paths = [p for p in paths if p.suffix.lower() in {".jpg", ".png"}]
    batch = fingerprint.hash_images([str(p) for p in paths], algorithm="pdq")
    codes = batch.codes[batch.ok]
    assert len(codes) >= 100
    rng = np.random.default_rng(11)
    # Near copies: each hash with a few flipped bits, as an edit would flip them.
    bits = np.unpackbits(codes, axis=1)
    noisy = np.packbits(bits ^ (rng.random(bits.shape) < 0.04), axis=1)
    bank = np.concatenate([codes, noisy])
    flat = HammingIndex(256)
    mih = HammingIndex(256, method="mih")
    for ix in (flat, mih):
        ix.add(bank)
    assert mih.tables > 0
    for radius in (0, 16, 31, 52):
        for a, b in zip(flat.range_search(codes, radius), mih.range_search(codes, radius)):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(flat.search(codes, 5), mih.search(codes, 5)):
        np.testing.assert_array_equal(a, b)


def test_bad_method_and_tables():
    with pytest.raises(ValueError, match="method"):
        HammingIndex(64, method="lsh")
    with pytest.raises(ValueError, match="tables"):
        HammingIndex(64, method="mih", tables=0)
    with pytest.raises(ValueError, match="tables"):
        HammingIndex(64, method="mih", tables=65)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 60),
    st.integers(0, 60),
    st.sampled_from([8, 32]),
    st.integers(0, 80),
    st.integers(0, 2**32 - 1),
)
def test_find_duplicates_between_is_the_brute_force_cross_join(
    n_left: int, n_right: int, nbytes: int, radius: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    left = rng.integers(0, 256, (n_left, nbytes), dtype=np.uint8)
    # Right rows: noisy copies of left rows and fresh ones, so every radius sees pairs.
    right = left[rng.integers(0, n_left, n_right)].copy() if n_right else np.zeros((0, nbytes), np.uint8)
    flips = rng.random(right.shape + (8,)) < 0.08
    right ^= np.packbits(flips, axis=-1).reshape(right.shape)
    right[::3] = rng.integers(0, 256, right[::3].shape, dtype=np.uint8)
    i, j, d = fingerprint.find_duplicates_between(left, right, radius, threads=2)
    dist = np.bitwise_count(left[:, None, :] ^ right[None, :, :]).sum(-1) if n_right else np.zeros((n_left, 0))
    wi, wj = np.nonzero(dist <= min(radius, nbytes * 8))
    assert i.tolist() == wi.tolist() and j.tolist() == wj.tolist()
    assert d.tolist() == dist[wi, wj].tolist()
