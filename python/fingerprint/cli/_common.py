"""Shared pieces of the `fingerprint` command: file walking, batched hashing with progress, errors."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import click
import numpy as np
import numpy.typing as npt

import fingerprint

from ._imagesize import image_size

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
)
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mka"}
)
ALGORITHMS = ("pdq", "phash", "dhash", "ahash", "whash")
# Default Hamming thresholds, measured on ../shared/data and examples/images: the planted edits
# (resize, JPEG q25, 2% crop, caption, mirror) stay within these, unrelated pairs stay above
# (PDQ: edits <= 38 of 256 bits, unrelated >= 66 with dihedral matching; pHash: edits <= 8 of 64).
DEFAULT_THRESHOLDS: Dict[str, int] = {"pdq": 48, "phash": 10, "dhash": 10, "ahash": 8, "whash": 8}
# AcoustID-style score (0..1) above which two audio files are the same recording.
DEFAULT_AUDIO_SCORE = 0.5
# PDQ dihedral order, from `fingerprint.pdq_dihedral`.
TRANSFORMS = ("none", "rotate90", "rotate180", "rotate270", "flip-tb", "flip-lr", "transpose", "transverse")

EXIT_OK = 0
EXIT_MATCH = 1
EXIT_USAGE = 2


class CliError(click.ClickException):
    """A problem with the command's inputs (bad bank, nothing to do): exit code 2."""

    exit_code = EXIT_USAGE


def audio_available() -> bool:
    """Whether the audio fingerprint API is importable in this build."""
    return callable(getattr(fingerprint, "audio_fingerprint", None)) and callable(
        getattr(fingerprint, "compare_audio", None)
    )


def kind_of(path: str) -> Optional[str]:
    """'image', 'audio' or None from the file extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in AUDIO_EXTENSIONS and audio_available():
        return "audio"
    return None


def walk(paths: Sequence[str], *, hidden: bool = False, follow_links: bool = False) -> Iterator[str]:
    """Yield the media files under `paths` (files given by name are kept whatever their extension).

    Folders are walked recursively in sorted order; names starting with '.' are skipped unless
    `hidden`. Raises `CliError` for a path that does not exist.
    """
    for root in paths:
        if not os.path.lexists(root):
            raise CliError(f"no such file or folder: {root}")
        if not os.path.isdir(root):
            yield root
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=follow_links):
            if not hidden:
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            dirnames.sort()
            for name in sorted(filenames):
                if not hidden and name.startswith("."):
                    continue
                full = os.path.join(dirpath, name)
                if kind_of(full) is not None:
                    yield full


@dataclass
class Hashed:
    """Image hashes of many files, columnar: row i of `codes` belongs to `paths[i]`.

    `variants` holds the 7 non-identity PDQ dihedral hashes (n, 7, 32) when flips are on.
    `sizes` holds (width, height) where the decode already gave it, else (0, 0).
    """

    algorithm: str
    bits: int
    paths: List[str] = field(default_factory=list)
    codes: npt.NDArray[np.uint8] = field(default_factory=lambda: np.zeros((0, 0), np.uint8))
    quality: npt.NDArray[np.int16] = field(default_factory=lambda: np.zeros(0, np.int16))
    sizes: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    variants: Optional[npt.NDArray[np.uint8]] = None
    failed: List[Tuple[str, str]] = field(default_factory=list)


def bits_of(algorithm: str) -> int:
    """Code width of an algorithm at the CLI's hash size (8 for the 64-bit family)."""
    return 256 if algorithm == "pdq" else 64


class Progress:
    """A stderr progress bar with files/s and ETA; silent when stderr is not a terminal or `quiet`."""

    def __init__(self, total: int, label: str, quiet: bool = False) -> None:
        self.total = total
        self.done = 0
        self.start = time.perf_counter()
        self._bar: Optional[object] = None
        if not quiet and total > 0 and sys.stderr.isatty():
            self._bar = click.progressbar(
                length=total,
                label=label,
                file=sys.stderr,
                show_eta=True,
                show_pos=True,
                item_show_func=lambda _: self.rate_text(),
            )
            self._bar.__enter__()  # type: ignore[attr-defined]

    def rate_text(self) -> str:
        """Throughput so far, e.g. '350 files/s'."""
        elapsed = time.perf_counter() - self.start
        return f"{self.done / elapsed:.0f} files/s" if elapsed > 0 and self.done else ""

    def update(self, n: int) -> None:
        """Record `n` more files done."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n, self.done)  # type: ignore[attr-defined]

    def close(self) -> None:
        """Finish the bar."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)  # type: ignore[attr-defined]
            self._bar = None


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def chunk_size(threads: Optional[int]) -> int:
    """Files per batch: enough to keep every core busy, few enough to bound memory and show progress."""
    return max(64, 32 * (threads or os.cpu_count() or 1))


def hash_files(
    paths: Sequence[str],
    algorithm: str,
    *,
    flips: bool,
    threads: Optional[int],
    quiet: bool,
    label: str = "hashing",
) -> Hashed:
    """Hash image files in bounded batches with a progress bar; failures are collected, not raised.

    With `flips` (PDQ only) each file is decoded once and hashed in all 8 orientations.
    """
    bits = bits_of(algorithm)
    nbytes = bits // 8
    out = Hashed(algorithm, bits)
    codes: List[npt.NDArray[np.uint8]] = []
    quality: List[int] = []
    sizes: List[Tuple[int, int]] = []
    variants: List[npt.NDArray[np.uint8]] = []
    progress = Progress(len(paths), label, quiet)
    try:
        for batch in chunks(paths, chunk_size(threads)):
            # With flips, each file is decoded once and all 8 orientations come from one DCT.
            result = fingerprint.hash_images(list(batch), algorithm, threads, dihedral=flips)
            for i, path in enumerate(batch):
                if not result.ok[i]:
                    out.failed.append((path, result.errors[i] or "unknown error"))
                    continue
                out.paths.append(path)
                codes.append(result.codes[i])
                quality.append(int(result.quality[i]) if algorithm == "pdq" else -1)
                sizes.append((0, 0))
                if result.variants is not None:
                    variants.append(result.variants[i])
            progress.update(len(batch))
    finally:
        progress.close()
    n = len(out.paths)
    out.codes = np.ascontiguousarray(np.array(codes, dtype=np.uint8).reshape(n, nbytes))
    out.quality = np.array(quality, dtype=np.int16)
    out.sizes = np.array(sizes, dtype=np.int64).reshape(n, 2)
    if flips:
        out.variants = np.array(variants, dtype=np.uint8).reshape(n, 7, nbytes)
    return out


@dataclass
class AudioItem:
    """One fingerprinted audio file."""

    path: str
    fingerprint: object
    duration: float


def fingerprint_audio(
    paths: Sequence[str], *, threads: Optional[int], quiet: bool
) -> Tuple[List[AudioItem], List[Tuple[str, str]]]:
    """Chromaprint every audio file in parallel (the core releases the GIL); failures collected."""
    items: List[AudioItem] = []
    failed: List[Tuple[str, str]] = []

    def one(path: str) -> Tuple[Optional[object], Optional[str]]:
        try:
            return fingerprint.audio_fingerprint(path), None
        except (fingerprint.FingerprintError, OSError, ValueError, TypeError) as e:
            return None, str(e)

    progress = Progress(len(paths), "audio", quiet)
    with ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1) as pool:
        try:
            for batch in chunks(paths, chunk_size(threads)):
                for path, (fp, err) in zip(batch, pool.map(one, batch)):
                    if fp is None:
                        failed.append((path, err or "unknown error"))
                    else:
                        items.append(AudioItem(path, fp, float(fp.duration)))  # type: ignore[attr-defined]
                progress.update(len(batch))
        finally:
            progress.close()
    return items, failed


def dimensions(path: str, known: Tuple[int, int] = (0, 0)) -> Tuple[int, int]:
    """(width, height) as displayed (EXIF orientation applied): `known`, the header, or a decode."""
    if known[0] > 0:
        return known
    size = image_size(path)
    if size is not None:
        return size
    try:
        arr = fingerprint.decode_image(path)
        return int(arr.shape[1]), int(arr.shape[0])
    except (fingerprint.FingerprintError, OSError, ValueError):
        return (0, 0)


def file_size(path: str) -> int:
    """Size in bytes, 0 if it cannot be read."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def human_bytes(n: float) -> str:
    """1234567 -> '1.2 MB'."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def print_failed(failed: Iterable[Tuple[str, str]], err: bool = False) -> None:
    """The list of files that could not be read, at the end of the output."""
    failed = list(failed)
    if not failed:
        return
    click.echo(f"\nCould not read {len(failed)} file(s):", err=err)
    for path, msg in failed:
        click.echo(f"  {path}: {msg}", err=err)


def check_threshold(algorithm: str, threshold: Optional[int]) -> int:
    """The threshold to use: the given one (checked against the code width) or the default."""
    if threshold is None:
        return DEFAULT_THRESHOLDS[algorithm]
    bits = bits_of(algorithm)
    if not 0 <= threshold <= bits:
        raise click.BadParameter(
            f"must be between 0 and {bits} for {algorithm}", param_hint="'--threshold'"
        )
    return threshold


def open_output(path: str) -> IO[str]:
    """A text file to write output to, replaced atomically when closed ('-' is stdout)."""
    return click.open_file(path, "w", encoding="utf-8", atomic=path != "-")  # type: ignore[return-value]


def stdout_used(*outputs: Optional[str]) -> bool:
    """Whether one of the machine-readable outputs goes to stdout (then the summary goes to stderr)."""
    return any(o == "-" for o in outputs)


def collect(paths: Sequence[str], hidden: bool) -> Tuple[List[str], List[str]]:
    """Walk `paths` into (images, audio files); a file named explicitly goes to the image decoder."""
    images: List[str] = []
    audio: List[str] = []
    for p in walk(paths, hidden=hidden):
        (audio if kind_of(p) == "audio" else images).append(p)
    return images, audio


def timer() -> Callable[[], float]:
    """A stopwatch: call it for the seconds since it was made."""
    start = time.perf_counter()
    return lambda: time.perf_counter() - start
