"""Decoding: formats, EXIF orientation, pixel limits and bad input (never a crash)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import fingerprint as fp

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
VECTORS = DATA / "vectors"
IMAGES = DATA / "images"


def encode(image: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kw)
    return out.getvalue()


def sample(mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    return Image.fromarray(rgb).convert(mode)


@pytest.mark.parametrize(
    "fmt,mode",
    [("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "L"), ("PNG", "LA"), ("PNG", "P"), ("BMP", "RGB"),
     ("TIFF", "RGB"), ("GIF", "P"), ("WEBP", "RGB")],
)
def test_lossless_formats_decode_to_pillow_pixels(fmt: str, mode: str) -> None:
    image = sample(mode)
    kw = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(image, fmt, **kw)
    ours = fp.decode_image(data)
    theirs = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    # Compare what the hashes see: Pillow's 'L' of both.
    ours_l = np.asarray(Image.fromarray(ours).convert("L"))
    assert ours_l.shape == theirs.shape
    assert np.array_equal(ours_l, theirs)
    assert fp.ahash(data) == fp.ahash(image)


def test_gif_first_frame() -> None:
    frames = [Image.new("L", (20, 10), v) for v in (10, 200)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    pixels = fp.decode_image(out.getvalue())
    assert pixels.shape[:2] == (10, 20)
    assert np.asarray(Image.fromarray(pixels).convert("L")).max() <= 20


def test_exif_orientation_applied_by_default() -> None:
    folder = VECTORS / "pdq" / "reg-test-input" / "exif-rotn"
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    assert files
    for f in files:
        with Image.open(f) as im:
            expected = ImageOps.exif_transpose(im).size
            raw = im.size
        assert fp.decode_image(f).shape[1::-1] == expected
        assert fp.decode_image(f, exif=False).shape[1::-1] == raw


def test_jpeg_reduced_scale_decode_stays_close() -> None:
    photos = sorted((IMAGES / "originals").glob("*.jpg"))[:10]
    assert photos
    dists = [fp.phash(p) - fp.phash(p, exact=True) for p in photos]
    assert max(dists) <= 12, dists


def test_jpeg_scaled_decode_only_when_it_halves_the_short_side() -> None:
    """DCT-domain scaling is used when the short side can at least halve above `min_side`."""
    jpeg = encode(Image.fromarray(np.random.default_rng(2).integers(0, 256, (480, 640, 3), np.uint8)),
                  "JPEG", quality=85)
    limit = fp._image.DEFAULT_MAX_PIXELS
    assert fp._core.decode_image(jpeg, True, limit, None).shape == (480, 640, 3)
    assert fp._core.decode_image(jpeg, True, limit, 241).shape == (480, 640, 3)  # 480 < 2 x 241
    assert fp._core.decode_image(jpeg, True, limit, 240).shape == (240, 320, 3)  # 1/2
    assert fp._core.decode_image(jpeg, True, limit, 120).shape == (120, 160, 3)  # 1/4
    assert fp._core.decode_image(jpeg, True, limit, 32).shape == (60, 80, 3)  # 1/8 at most


def test_jpeg_luma_decode_is_the_grey_of_the_colour_decode() -> None:
    """Fast hashes read a JPEG's Y plane; it is Pillow's 'L' of the RGB decode up to rounding."""
    photo = sorted((IMAGES / "originals").glob("*.jpg"))[0]
    limit = fp._image.DEFAULT_MAX_PIXELS
    y = fp._core.decode_image(str(photo), True, limit, None, True)
    with Image.open(photo) as im:
        grey = np.asarray(ImageOps.exif_transpose(im).convert("L"))
    assert y.shape == grey.shape and y.dtype == np.uint8
    diff = np.abs(y.astype(int) - grey.astype(int))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 2, (diff.mean(), diff.max())
    # CMYK JPEGs have no Y plane: the full decoder takes them, and they still hash.
    cmyk = encode(sample().convert("CMYK"), "JPEG", quality=90)
    assert fp._core.decode_image(cmyk, True, limit, None, True).ndim == 3
    assert fp.pdq(cmyk).quality >= 0
    # Truncated data fails cleanly on the luma path too.
    with pytest.raises(fp.DecodeError):
        fp._core.decode_image(encode(sample(), "JPEG")[:300], True, limit, None, True)


def test_pixel_limit() -> None:
    data = encode(sample(), "PNG")
    with pytest.raises(fp.DecodeError, match="decompression bomb"):
        fp.ahash(data, max_pixels=100)


def test_corrupt_and_truncated_inputs_raise_decode_error() -> None:
    png = encode(sample(), "PNG")
    jpeg = encode(sample(), "JPEG", quality=90)
    bad = [b"", b"\x00" * 100, b"GIF89a", png[:40], png[: len(png) // 2], jpeg[:30],
           jpeg[:200], png[:8] + bytes(500)]
    for data in bad:
        for fn in (fp.pdq, fp.ahash, fp.phash):
            with pytest.raises(fp.DecodeError):
                fn(data)


def test_jpeg_full_scale_decode_is_pillows() -> None:
    """Full-scale JPEG decodes (libjpeg-turbo, as in Pillow) give Pillow's pixels exactly."""
    files = sorted(p for p in DATA.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    assert len(files) >= 60
    for f in files:
        with Image.open(f) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode == "CMYK":
                continue
            expected = np.asarray(im if im.mode == "L" else im.convert("RGB"))
        got = fp.decode_image(f)
        assert got.shape == expected.shape and np.array_equal(got, expected), f.name


def test_truncated_jpeg_is_an_error_at_every_scale() -> None:
    """libjpeg pads a truncated file with grey; we refuse it, as Pillow does."""
    for progressive in (False, True):
        jpeg = encode(sample().resize((640, 480)), "JPEG", quality=90, progressive=progressive)
        for cut in (len(jpeg) // 3, len(jpeg) - 40):
            for exact in (False, True):
                with pytest.raises(fp.DecodeError, match="JPEG"):
                    fp.phash(jpeg[:cut], exact=exact)
        assert fp.phash(jpeg) - fp.phash(jpeg, exact=True) <= 12


def test_progressive_scan_bomb_is_refused() -> None:
    """Thousands of repeated scans would make a small file take minutes: refused past 500."""
    jpeg = encode(sample().resize((256, 256)), "JPEG", quality=90, progressive=True)
    last = jpeg.rindex(b"\xff\xda")
    scan = jpeg[last:-2]
    fine = jpeg[:-2] + scan * 20 + b"\xff\xd9"
    assert fp.decode_image(fine).shape == (256, 256, 3)
    bomb = jpeg[:-2] + scan * 600 + b"\xff\xd9"
    with pytest.raises(fp.DecodeError, match="scans"):
        fp.decode_image(bomb)


def test_flipped_bytes_never_crash() -> None:
    rng = np.random.default_rng(8)
    jpeg = bytearray(encode(sample(), "JPEG", quality=80))
    for _ in range(40):
        data = bytearray(jpeg)
        for pos in rng.integers(2, len(data), 8):
            data[pos] = int(rng.integers(0, 256))
        try:
            fp.dhash(bytes(data))
        except fp.DecodeError:
            pass


def test_missing_file_is_os_error() -> None:
    with pytest.raises(FileNotFoundError):
        fp.ahash("/nonexistent/file.jpg")


def test_batch_survives_bad_items() -> None:
    good = encode(sample(), "PNG")
    batch = fp.hash_images([good, b"nope", good[:50], "/nonexistent.png"], "pdq")
    assert batch.ok.tolist() == [True, False, False, False]
    assert all(batch.errors[1:]) and batch.errors[0] is None
    assert batch[0] == fp.pdq(good)


def test_hash_images_reports_progress_on_the_calling_thread() -> None:
    import threading

    good = encode(sample(), "PNG")
    calls: list[tuple[int, int, int]] = []
    batch = fp.hash_images(
        [good] * 6, "dhash", threads=2,
        progress=lambda done, total: calls.append((done, total, threading.get_ident())),
    )
    assert batch.ok.all()
    assert calls and calls[-1][:2] == (6, 6)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert {c[2] for c in calls} == {threading.get_ident()}


def test_hash_images_progress_exception_propagates() -> None:
    good = encode(sample(), "PNG")

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fp.hash_images([good] * 4, "ahash", progress=stop)
