"""aHash/dHash/pHash/wHash against imagehash 4.3 (on Pillow's pixels) and its published vectors."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import imagehash
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

import fingerprint as fp

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
VECTORS = DATA / "vectors"
ROWS = list(csv.DictReader((VECTORS / "imagehash_test_vectors.csv").read_text().splitlines()))
OURS = {"ahash": fp.ahash, "dhash": fp.dhash, "phash": fp.phash, "whash": fp.whash}
THEIRS = {
    "ahash": imagehash.average_hash,
    "dhash": imagehash.dhash,
    "phash": imagehash.phash,
    "whash": imagehash.whash,
}


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_vectors_on_same_pixels(row: dict[str, str]) -> None:
    grey = np.asarray(Image.open(VECTORS / row["file"]).convert("L"))
    for name, fn in OURS.items():
        for size in (8, 16):
            assert fn(grey, size).hex == row[f"{name}{size}"], (name, size)


def test_vectors_from_files_exact_decode() -> None:
    """JPEGs go through libjpeg-turbo, as in Pillow, so file hashes equal the published ones."""
    for row in ROWS:
        for name, fn in OURS.items():
            for size in (8, 16):
                h = fn(VECTORS / row["file"], size, exact=True, exif=False)
                assert h.hex == row[f"{name}{size}"], (row["file"], name, size)


@settings(max_examples=80, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(3, 90), st.integers(3, 90), st.sampled_from([3, 4]))),
    st.sampled_from(["ahash", "dhash", "phash", "whash"]),
    st.sampled_from([4, 8, 16]),
)
def test_random_arrays_match_imagehash(pixels: np.ndarray, name: str, size: int) -> None:
    image = Image.fromarray(pixels)
    expected = str(THEIRS[name](image, hash_size=size))
    assert OURS[name](pixels, size).hex == expected


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 70), st.integers(1, 70))))
def test_random_grey_arrays_match_imagehash(grey: np.ndarray) -> None:
    image = Image.fromarray(grey)
    for name in ("ahash", "dhash", "whash"):
        assert OURS[name](grey).hex == str(THEIRS[name](image)), name


def test_smooth_images_of_every_aspect() -> None:
    # Covers Pillow 13's pass order (vertical first when the height shrinks much more).
    rng = np.random.default_rng(4)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(3, 300, 2))
        walk = np.cumsum(rng.integers(-5, 6, (h, w, 3)), axis=0) + rng.integers(0, 256, (1, 1, 3))
        pixels = walk.clip(0, 255).astype(np.uint8)
        image = Image.fromarray(pixels)
        for name in OURS:
            for size in (8, 16):
                assert OURS[name](pixels, size).hex == str(THEIRS[name](image, hash_size=size))


def test_pil_images_are_accepted() -> None:
    image = Image.open(VECTORS / "imagehash" / "peppers.png")
    assert fp.phash(image).hex == str(imagehash.phash(image))
    assert fp.ahash(image.convert("P")).hex == str(imagehash.average_hash(image.convert("P")))


def test_hash_semantics_and_hex_convention() -> None:
    h = fp.ImageHash.from_hex("9e3c")
    assert h.to_bool_array().astype(int).tolist() == [int(c) for c in "1001111000111100"]
    assert bytes(h) == b"\x9e\x3c"
    other = imagehash.hex_to_hash("9e3c")
    assert h.hex == str(other)


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.float32), np.zeros((8, 8), np.int64)])
def test_wrong_dtype(bad: np.ndarray) -> None:
    with pytest.raises(TypeError, match="uint8"):
        fp.phash(bad)


@pytest.mark.parametrize("shape", [(8,), (8, 8, 5), (2, 2, 2, 2), (0, 8)])
def test_wrong_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        fp.ahash(np.zeros(shape, np.uint8))


def test_bad_arguments() -> None:
    pixels = np.zeros((16, 16), np.uint8)
    with pytest.raises(ValueError):
        fp.ahash(pixels, 1)
    with pytest.raises(ValueError, match="power of 2"):
        fp.whash(pixels, 6)
    with pytest.raises(TypeError):
        fp.ahash(12345)  # type: ignore[arg-type]


def test_non_contiguous_array_is_hashed_like_a_copy() -> None:
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    view = pixels[:, ::2]
    assert fp.dhash(view) == fp.dhash(np.ascontiguousarray(view))


def test_hash_images_batch() -> None:
    rng = np.random.default_rng(6)
    arrays_ = [rng.integers(0, 256, (30, 40, 3), dtype=np.uint8) for _ in range(5)]
    files = [VECTORS / "imagehash" / "peppers.png", str(VECTORS / "imagehash" / "imagehash.png")]
    sources = [*arrays_, *files, b"garbage", np.zeros((4, 4), np.float64)]
    batch = fp.hash_images(sources, "phash", threads=2)
    assert batch.codes.shape == (len(sources), 8) and batch.codes.dtype == np.uint8
    assert batch.ok.tolist() == [True] * 7 + [False, False]
    assert batch.errors[7] and batch.errors[8]
    for i, a in enumerate(arrays_):
        assert batch[i] == fp.phash(a)
    assert batch[5] == fp.phash(files[0])
    index = fp.HammingIndex(64)
    index.add(batch.codes[batch.ok])
    assert len(index) == 7


PHOTOS = sorted((DATA / "images" / "originals").glob("*.jpg"))[:6]


@pytest.mark.parametrize("mode, fmt", [("CMYK", "JPEG"), ("L", "JPEG"), ("P", "PNG"), ("RGBA", "PNG"),
                                       ("LA", "PNG"), ("RGB", "WEBP"), ("RGB", "TIFF"), ("RGB", "BMP")])
def test_exact_file_hashes_match_imagehash_across_modes(mode: str, fmt: str) -> None:
    """CMYK and grey JPEGs, palette and alpha PNGs, WebP/TIFF/BMP: exact decodes hash like
    imagehash on Pillow's decode of the same file."""
    for photo in PHOTOS:
        im = Image.open(photo).convert("RGB").resize((320, 240)).convert(mode)
        out = io.BytesIO()
        im.save(out, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
        data = out.getvalue()
        with Image.open(io.BytesIO(data)) as theirs:
            for name, fn in OURS.items():
                assert fn(data, exact=True).hex == str(THEIRS[name](theirs)), (photo.name, name)


def test_16_bit_png_is_scaled_to_8_bits_not_clipped() -> None:
    """Pillow's 'L' of a 16-bit image clips at 255 (nearly all white, so imagehash's hash says
    little); we scale 16 bits to 8 as the image crate does, so the hash is the 8-bit image's."""
    grey = np.asarray(Image.open(PHOTOS[0]).convert("L").resize((320, 240)))
    deep = Image.fromarray(grey.astype(np.uint16) * 257)
    out = io.BytesIO()
    deep.save(out, "PNG")
    for name, fn in OURS.items():
        assert fn(out.getvalue(), exact=True) == fn(grey), name
