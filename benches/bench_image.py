"""Image hashing against imagehash, pdqhash and Pillow's reduced-scale decode, in the same run.

The JPEGs are generated here from a real photo in ../shared/data/images (upscaled with
Pillow and saved at quality 90 into a pytest tmp dir; nothing is written to the repo):
a 512x512 one and a 4032x3024 (12 MP) one. In the smoke run (`--benchmark-disable`) the
"large" file is 1024x768 so the suite stays quick.

Peers: `imagehash.phash` on `Image.open(path)`; `pdqhash.compute` on Pillow-decoded RGB;
Pillow's `Image.draft('L', size)` + `load()`, the libjpeg-turbo reduced-scale decode that is
the cost floor for any engine. Our single-image calls use one thread by design, so every row
of a group is a one-core number; `hash_images` rows compare 1 thread with all threads.
"""

from __future__ import annotations

import os
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image

import fingerprint as fp
from conftest import NOTES, record

PHOTO = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "images"
    / "originals"
    / "o_lxqt_after_the_rain.jpg"
)
CORES = os.cpu_count() or 1


def enabled(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("benchmark_enable"))


@pytest.fixture(scope="module")
def jpegs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """{"512": path, "12MP" or "1MP": path}, made from the real photo."""
    folder = tmp_path_factory.mktemp("bench_image")
    with Image.open(PHOTO) as im:
        rgb = im.convert("RGB")
    large = ("12MP", (4032, 3024)) if enabled(request) else ("1MP", (1024, 768))
    out = {}
    for name, size in (("512", (512, 512)), large):
        path = folder / f"{name}.jpg"
        rgb.resize(size, Image.Resampling.BICUBIC).save(path, quality=90)
        out[name] = path
    NOTES["image bench input"] = (
        f"JPEGs (q90) upscaled from {PHOTO.name} into {folder} ({', '.join(out)})"
    )
    return out


def run(benchmark, request, fn, big: bool):
    """Best-of-N timing; big inputs get fewer rounds."""
    rounds = (5 if big else 40) if enabled(request) else 1
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1 if rounds > 1 else 0)


def draft(path: Path, size: tuple) -> None:
    with Image.open(path) as im:
        im.draft("L", size)
        im.load()


SIZES = ["512", "large"]


def pick(jpegs: dict, size: str) -> Path:
    return jpegs["512"] if size == "512" else next(v for k, v in jpegs.items() if k != "512")


@pytest.mark.parametrize("engine", ["fingerprint", "fingerprint-exact", "imagehash", "pillow-draft"])
@pytest.mark.parametrize("size", SIZES)
def test_phash_file(benchmark, request, jpegs, size, engine):
    path = pick(jpegs, size)
    benchmark.group = f"phash from JPEG {path.stem}"
    if engine == "fingerprint":
        h = run(benchmark, request, lambda: fp.phash(path), size != "512")
        assert h - fp.phash(path, exact=True) <= 12
    elif engine == "fingerprint-exact":
        run(benchmark, request, lambda: fp.phash(path, exact=True), size != "512")
    elif engine == "imagehash":
        run(benchmark, request, lambda: imagehash_on_file(path), size != "512")
    else:
        # What Pillow decodes for a 32x32 working size: 1/8 scale, luma only.
        run(benchmark, request, lambda: draft(path, (32, 32)), size != "512")
    record(benchmark, benchmark.group, engine)


def imagehash_on_file(path: Path):
    with Image.open(path) as im:
        return imagehash.phash(im)


def pdqhash_on_pillow(path: Path):
    with Image.open(path) as im:
        return pdqhash.compute(np.asarray(im.convert("RGB")))


@pytest.mark.parametrize("engine", ["fingerprint", "fingerprint-exact", "pdqhash", "pillow-draft"])
@pytest.mark.parametrize("size", SIZES)
def test_pdq_file(benchmark, request, jpegs, size, engine):
    path = pick(jpegs, size)
    benchmark.group = f"pdq from JPEG {path.stem}"
    if engine == "fingerprint":
        run(benchmark, request, lambda: fp.pdq(path), size != "512")
    elif engine == "fingerprint-exact":
        run(benchmark, request, lambda: fp.pdq(path, exact=True), size != "512")
    elif engine == "pdqhash":
        run(benchmark, request, lambda: pdqhash_on_pillow(path), size != "512")
    else:
        # Pillow's decode at the scale our fast PDQ uses (short side >= 256).
        run(benchmark, request, lambda: draft(path, (256, 256)), size != "512")
    record(benchmark, benchmark.group, engine)


@pytest.mark.parametrize(
    "algorithm, engine",
    [
        ("ahash", "fingerprint"),
        ("ahash", "imagehash"),
        ("dhash", "fingerprint"),
        ("dhash", "imagehash"),
        ("phash", "fingerprint"),
        ("phash", "imagehash"),
        ("whash", "fingerprint"),
        ("whash", "imagehash"),
        ("pdq", "fingerprint"),
        ("pdq", "pdqhash"),
    ],
)
@pytest.mark.parametrize("size", SIZES)
def test_pixels(benchmark, request, jpegs, size, algorithm, engine):
    """Already-decoded RGB pixels; imagehash gets a ready PIL image of them (its best case).

    aHash and dHash shrink to 8x8 (9x8), pHash to 32x32: the same LANCZOS over the whole
    image, so the 12 MP rows show how close each comes to merely reading the pixels.
    """
    path = pick(jpegs, size)
    with Image.open(path) as im:
        pil = im.convert("RGB")
    pixels = np.asarray(pil)
    big = size != "512"
    benchmark.group = f"{algorithm} from RGB pixels {path.stem}"
    peer = getattr(imagehash, "average_hash" if algorithm == "ahash" else algorithm, None)
    if algorithm != "pdq" and engine == "fingerprint":
        ours = run(benchmark, request, lambda: getattr(fp, algorithm)(pixels), big)
        assert ours.hex == str(peer(pil))
    elif engine == "imagehash":
        run(benchmark, request, lambda: peer(pil), big)
    elif engine == "fingerprint":
        run(benchmark, request, lambda: fp.pdq(pixels), big)
    else:
        run(benchmark, request, lambda: pdqhash.compute(pixels), big)
    record(benchmark, benchmark.group, engine)


@pytest.mark.parametrize("algorithm", ["phash", "pdq"])
@pytest.mark.parametrize("threads", sorted({1, CORES}))
def test_hash_images_scaling(benchmark, request, jpegs, algorithm, threads):
    n = 64 if enabled(request) else 4
    files = [str(jpegs["512"])] * n
    benchmark.group = f"hash_images {algorithm} {n}x512px (ratio = speed-up over 1 thread)"
    batch = run(benchmark, request, lambda: fp.hash_images(files, algorithm, threads=threads), False)
    assert batch.ok.all()
    # The table's reference engine is the all-cores run; 1 thread is the "peer".
    record(benchmark, benchmark.group, "fingerprint" if threads == CORES else "fingerprint-1thread")
    if threads == CORES == 1:
        NOTES["hash_images"] = "only one core: no scaling measured"
