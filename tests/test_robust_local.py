"""Local codes (`_core.robust_features`): the Rust trim and PDQ equal the Python reference, and
`RobustImageIndex` finds off-centre crops of real photos while unrelated photos stay apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fingerprint as fp
from _photos import load, png
from fingerprint import _core, _robust

N = 12


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> tuple:
    originals = sorted((shared_data / "images" / "originals").iterdir())[:N]
    distractors = sorted((shared_data / "images" / "distractors").iterdir())[:N]
    index = fp.RobustImageIndex()
    index.add_many(list(range(N)), [p.read_bytes() for p in originals])
    return index, originals, load(originals), distractors


def test_rust_trim_and_pdq_equal_the_python_reference(photos: tuple) -> None:
    _, paths, _, distractors = photos
    for p in paths + distractors:
        px = fp.decode_image(p.read_bytes())
        framed = np.pad(px, ((31, 17), (9, 40), (0, 0)), constant_values=255)
        letterbox = np.pad(px, ((60, 60), (0, 0), (0, 0)), constant_values=0)
        for arr in (px, framed, letterbox):
            arr = np.ascontiguousarray(arr)
            luma = _robust._luma(arr)
            t, b, l, r = _robust.trim_borders(luma)
            dihedral, quality, codes, points, bounds = _core.robust_features([arr], 15, 0.1)[0]
            assert bounds == (t, b, l, r), p.name
            grey = np.ascontiguousarray(np.clip(luma[t:b, l:r] + 0.5, 0, 255).astype(np.uint8))
            expected = [np.frombuffer(d, np.uint8) for d, _ in _core.pdq_dihedral(grey)]
            assert np.array_equal(dihedral, np.array(expected)), p.name
            assert codes.shape == (len(points), 8) and points.shape[1] == 4
            assert np.isfinite(points).all()


def test_off_centre_crops_are_found(photos: tuple) -> None:
    index, _, images, _ = photos
    rng = np.random.default_rng(11)
    for keep, need in ((0.8, N - 1), (0.6, (2 * N) // 3)):
        hits = []
        for i, im in enumerate(images):
            w, h = round(im.width * keep), round(im.height * keep)
            x, y = int(rng.integers(0, im.width - w + 1)), int(rng.integers(0, im.height - h + 1))
            matches = index.query(png(im.crop((x, y, x + w, y + h))))
            hits.append(bool(matches) and matches[0].id == i)
        assert sum(hits) >= need, (keep, hits)


def test_corner_crops_are_found_by_local_codes(photos: tuple) -> None:
    index, _, images, _ = photos
    found = 0
    for i, im in enumerate(images):
        w, h = round(im.width * 0.7), round(im.height * 0.7)
        matches = index.query(png(im.crop((im.width - w, 0, im.width, h))))
        found += bool(matches) and matches[0].id == i and matches[0].transform == "local"
    assert found >= N - 2


def test_unrelated_photos_do_not_match(photos: tuple) -> None:
    index, paths, _, distractors = photos
    for p in distractors:
        assert index.query(p.read_bytes()) == [], p.name
    # Every original against the others: an index without the query's own image.
    for i, p in enumerate(paths):
        others = fp.RobustImageIndex()
        rest = [j for j in range(N) if j != i]
        others.add_many(rest, [paths[j].read_bytes() for j in rest])
        assert others.query(p.read_bytes()) == [], p.name


def test_save_and_load_round_trip(photos: tuple, tmp_path: Path) -> None:
    index, paths, images, _ = photos
    path = tmp_path / "robust.npz"
    index.save(path)
    assert [f.name for f in tmp_path.iterdir()] == ["robust.npz"]
    again = fp.RobustImageIndex.load(path)
    assert len(again) == len(index) and again.threshold == index.threshold
    assert again.codes_per_image == index.codes_per_image
    w, h = round(images[3].width * 0.7), round(images[3].height * 0.7)
    query = png(images[3].crop((0, images[3].height - h, w, images[3].height)))
    assert again.query(query) == index.query(query)
    again.add(99, paths[0].read_bytes())
    assert 99 in again and len(again) == N + 1


def test_load_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an index")
    with pytest.raises(fp.CorruptIndexError):
        fp.RobustImageIndex.load(bad)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(fp.CorruptIndexError):
        fp.RobustImageIndex.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        fp.RobustImageIndex.load(tmp_path / "missing.npz")


def test_load_rejects_inconsistent_arrays(photos: tuple, tmp_path: Path) -> None:
    index = photos[0]
    index.save(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as z:
        data = {k: z[k] for k in z.files}
    for key, bad in (
        ("local_image", data["local_image"] + N),  # points at images that do not exist
        ("local_points", data["local_points"][:-1]),
        ("whole", data["whole"][:, :16]),  # 128-bit codes in a 256-bit index
        ("format", np.array([99])),
    ):
        np.savez(tmp_path / "bad.npz", **{**data, key: bad})
        with pytest.raises(fp.CorruptIndexError):
            fp.RobustImageIndex.load(tmp_path / "bad.npz")


def test_bad_sources_raise_typed_errors() -> None:
    with pytest.raises(fp.DecodeError):
        _core.robust_features([b"not an image"])
    with pytest.raises(TypeError):
        _core.robust_features([3.5])
    with pytest.raises(ValueError):
        _core.robust_features([np.zeros((4, 4), np.uint8)], 15, -1.0)
    tiny = _core.robust_features([np.zeros((1, 1), np.uint8), np.full((9, 700), 200, np.uint8)])
    assert [len(f[2]) for f in tiny] == [0, 0]
