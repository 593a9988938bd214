"""`RobustImageIndex` on real photos: flips, rotations, crops, borders; distractors stay out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import fingerprint as fp
from _photos import load, png

N = 8


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> tuple:
    originals = sorted((shared_data / "images" / "originals").iterdir())[:N]
    distractors = sorted((shared_data / "images" / "distractors").iterdir())[:N]
    index = fp.RobustImageIndex()
    index.add_many(list(range(N)), [p.read_bytes() for p in originals])
    return index, load(originals), distractors


def found(index: fp.RobustImageIndex, query: bytes, expected: int) -> bool:
    matches = index.query(query)
    return bool(matches) and matches[0].id == expected


@pytest.mark.parametrize(
    "transpose",
    [Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180,
     Image.Transpose.ROTATE_270, Image.Transpose.FLIP_TOP_BOTTOM],
)
def test_flips_and_rotations_are_found(corpus: tuple, transpose: Image.Transpose) -> None:
    index, images, _ = corpus
    hits = [found(index, png(im.transpose(transpose)), i) for i, im in enumerate(images)]
    assert sum(hits) >= N - 1, hits


@pytest.mark.parametrize("keep", [0.9, 0.75, 0.65])
def test_centred_crops_are_found(corpus: tuple, keep: float) -> None:
    index, images, _ = corpus
    hits = []
    for i, im in enumerate(images):
        w, h = round(im.width * keep), round(im.height * keep)
        x, y = (im.width - w) // 2, (im.height - h) // 2
        hits.append(found(index, png(im.crop((x, y, x + w, y + h))), i))
    assert sum(hits) >= N - 1, hits


def test_borders_are_seen_through(corpus: tuple) -> None:
    index, images, _ = corpus
    hits = []
    for i, im in enumerate(images):
        pad = round(min(im.size) * 0.1)
        framed = ImageOps.expand(im, border=(pad, 2 * pad), fill=(255, 255, 255))
        hits.append(found(index, png(framed), i))
    assert all(hits), hits


def test_distractors_match_nothing(corpus: tuple) -> None:
    index, _, distractors = corpus
    for p in distractors:
        assert index.query(p.read_bytes()) == [], p.name


def test_index_bookkeeping() -> None:
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:120, 0:160]
    img = (127 + 80 * np.sin(x / 9.0 + y / 15.0) + rng.normal(0, 4, (120, 160))).clip(0, 255)
    index = fp.RobustImageIndex()
    index.add(3, img.astype(np.uint8))
    assert len(index) == 1 and 3 in index and 4 not in index
    assert 1 <= index.codes_per_image <= 16
    with pytest.raises(ValueError):
        index.add(3, img.astype(np.uint8))
    with pytest.raises(ValueError):
        index.add_many([1, 2], [img.astype(np.uint8)])
    assert index.query(img.astype(np.uint8), top=0) == []
