"""Border and letterbox removal (`fingerprint.trim_borders`) on synthetic images."""

from __future__ import annotations

import numpy as np

import fingerprint as fp


def picture(h: int = 120, w: int = 160, seed: int = 0) -> np.ndarray:
    """Textured content whose edges are not uniform."""
    rng = np.random.default_rng(seed)
    return (rng.random((h, w)) * 200 + 30).astype(np.float32)


def test_letterbox_and_pillarbox_are_cut() -> None:
    inner = picture()
    framed = np.full((120 + 30 + 22, 160 + 11 + 40), 0.0, dtype=np.float32)
    framed[30:150, 11:171] = inner
    assert fp.trim_borders(framed) == (30, 150, 11, 171)


def test_near_uniform_bands_of_different_colours_on_each_side() -> None:
    rng = np.random.default_rng(3)
    inner = picture(seed=1)
    framed = np.empty((120 + 16 + 9, 160 + 20 + 7), dtype=np.float32)
    framed[:] = 255.0 + rng.normal(0, 2, framed.shape)  # white, JPEG-like noise
    framed[:16] = 20.0 + rng.normal(0, 2, (16, framed.shape[1]))  # dark caption-less bar on top
    framed[16:136, 20:180] = inner
    top, bottom, left, right = fp.trim_borders(framed)
    assert (top, bottom, left, right) == (16, 136, 20, 180)


def test_pictures_without_borders_are_kept_whole() -> None:
    inner = picture(seed=2)
    assert fp.trim_borders(inner) == (0, 120, 0, 160)
    flat = np.full((50, 50), 128.0, dtype=np.float32)
    assert fp.trim_borders(flat) == (0, 50, 0, 50)  # nothing left inside: keep it all


def test_the_index_sees_through_a_border() -> None:
    rng = np.random.default_rng(4)
    # A smooth picture (PDQ needs structure, not white noise).
    y, x = np.mgrid[0:180, 0:240]
    img = (127 + 60 * np.sin(x / 17.0) * np.cos(y / 23.0) + rng.normal(0, 3, (180, 240))).clip(0, 255)
    img = img.astype(np.uint8)
    bordered = np.pad(img, ((25, 25), (30, 30)), constant_values=255)
    index = fp.RobustImageIndex()
    index.add(1, img)
    matches = index.query(bordered)
    assert matches and matches[0].id == 1 and matches[0].distance <= 8
