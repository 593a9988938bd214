"""PDQ against the `pdqhash` package (same C++ core) and Meta's published vectors."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

import fingerprint as fp

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
VECTORS = DATA / "vectors"
PDQ_ROWS = list(csv.DictReader((VECTORS / "pdq_test_vectors.csv").read_text().splitlines()))
CPP = "cpp_ref_hash(libjpeg-turbo,CImg NN 512x512)"


def reference(rgb: np.ndarray) -> tuple[str, int]:
    """pdqhash's hash as PDQ hex (its vector holds bit 255 first) and its quality."""
    vector, quality = pdqhash.compute(rgb)
    return format(int("".join(str(int(b)) for b in vector), 2), "064x"), int(quality)


def smooth(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    walk = np.cumsum(rng.integers(-4, 5, (h, w, 3)), axis=1) + rng.integers(0, 256, (1, 1, 3))
    return walk.clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("row", PDQ_ROWS, ids=[r["file"] for r in PDQ_ROWS])
def test_same_pixels_as_pdqhash(row: dict[str, str]) -> None:
    rgb = np.asarray(Image.open(VECTORS / row["file"]).convert("RGB"))
    h = fp.pdq(rgb)
    assert h.hex == row["pdqhash_pypi_fullres_hash"]
    assert h.quality == int(row["pdqhash_quality"])
    assert (h.hex, h.quality) == reference(rgb)


@pytest.mark.parametrize("row", PDQ_ROWS, ids=[r["file"] for r in PDQ_ROWS])
def test_file_within_10_bits_of_cpp_reference(row: dict[str, str]) -> None:
    # Meta's rule for implementations with their own decoder: within 10 bits when quality >= 80.
    h = fp.pdq(VECTORS / row["file"], exif=False)
    cpp = fp.ImageHash.from_hex(row[CPP])
    if int(row["cpp_quality"]) >= 80:
        assert h - cpp <= 10
        assert h.quality == int(row["cpp_quality"])


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.uint8,
        st.tuples(st.integers(1, 140), st.integers(1, 140), st.just(3)),
    )
)
def test_random_arrays_match_pdqhash(rgb: np.ndarray) -> None:
    h = fp.pdq(rgb)
    assert (h.hex, h.quality) == reference(np.ascontiguousarray(rgb))


def test_random_smooth_images_match_pdqhash() -> None:
    rng = np.random.default_rng(1)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(5, 400, 2))
        rgb = smooth(rng, h, w)
        got = fp.pdq(rgb)
        assert (got.hex, got.quality) == reference(rgb)
        assert got.to_bool_array().sum() == 128


def test_dihedral_matches_pdqhash() -> None:
    rng = np.random.default_rng(2)
    rgb = smooth(rng, 123, 77)
    ours = fp.pdq_dihedral(rgb)
    vectors, quality = pdqhash.compute_dihedral(rgb)
    theirs = [format(int("".join(str(int(b)) for b in v), 2), "064x") for v in vectors]
    assert [h.hex for h in ours] == theirs
    assert all(h.quality == quality for h in ours)
    assert ours[0] == fp.pdq(rgb)


def test_dihedral_matches_rotated_files() -> None:
    folder = VECTORS / "pdq" / "reg-test-input" / "dih"
    files = sorted(folder.iterdir())
    assert files
    original = next(f for f in files if "orig" in f.name.lower())
    variants = fp.pdq_dihedral(fp.decode_image(original, exif=False))
    for f in files:
        h = fp.pdq(f, exif=False)
        # Each rotated/mirrored file is close to one of the 8 DCT-domain variants.
        assert min(h - v for v in variants) <= 32, f.name


def test_tiny_image_hashes_to_zero() -> None:
    h = fp.pdq(np.full((4, 100, 3), 9, np.uint8))
    assert h.hex == "0" * 64 and h.quality == 0


def test_value_semantics() -> None:
    rgb = smooth(np.random.default_rng(3), 64, 80)
    h = fp.pdq(rgb)
    assert h.algorithm == "pdq" and h.bits == 256
    assert bytes(h).hex() == h.hex
    assert np.asarray(h).dtype == np.uint8 and np.asarray(h).shape == (32,)
    assert pickle.loads(pickle.dumps(h)) == h
    assert hash(pickle.loads(pickle.dumps(h))) == hash(h)
    assert fp.ImageHash.from_hex(h.hex) == h
    assert h - h == 0
    with pytest.raises(AttributeError):
        h.foo = 1  # type: ignore[attr-defined]


def test_hash_images_dihedral_matches_pdq_dihedral() -> None:
    """The batch path gives, per file, the 8 hashes pdq_dihedral gives on the same pixels."""
    photos = sorted((DATA / "images" / "originals").glob("*.jpg"))[:6]
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)
    sources: list = [*map(str, photos), pixels, b"not an image"]
    batch = fp.hash_images(sources, "pdq", threads=2, dihedral=True)
    assert batch.codes.shape == (len(sources), 32) and batch.variants is not None
    assert batch.variants.shape == (len(sources), 7, 32)
    assert batch.ok.tolist() == [True] * (len(sources) - 1) + [False]
    plain = fp.hash_images(sources, "pdq", threads=1)
    assert np.array_equal(batch.codes[batch.ok], plain.codes[plain.ok])
    for i, source in enumerate(sources[:-1]):
        want = fp.pdq_dihedral(source)
        got = [batch.codes[i].tobytes(), *(v.tobytes() for v in batch.variants[i])]
        assert got == [bytes(h) for h in want], i
        assert batch.quality[i] == want[0].quality


def test_hash_images_dihedral_is_pdq_only() -> None:
    with pytest.raises(ValueError, match="pdq"):
        fp.hash_images([np.zeros((9, 9), np.uint8)], "phash", dihedral=True)
