"""Perceptual image hashes (imagehash's aHash/dHash/pHash/wHash and Meta's PDQ) over the Rust core."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

from . import _core

__all__ = [
    "ImageHash",
    "HashBatch",
    "ahash",
    "dhash",
    "phash",
    "whash",
    "pdq",
    "pdq_dihedral",
    "hash_images",
    "decode_image",
]

ImageSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, npt.NDArray[np.uint8], Any]

ALGORITHMS = ("ahash", "dhash", "phash", "whash", "pdq")
DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's Image.MAX_IMAGE_PIXELS


class ImageHash:
    """An immutable perceptual hash: `h1 - h2` is the Hamming distance, `bytes(h)` the packed bits.

    >>> h = ImageHash.from_hex("9e3c")
    >>> h.bits, h - ImageHash.from_hex("9e3d")
    (16, 1)
    """

    __slots__ = ("_bytes", "_bits", "_quality", "_algorithm")

    def __init__(
        self, data: bytes, bits: int, quality: Optional[int] = None, algorithm: Optional[str] = None
    ) -> None:
        data = bytes(data)
        if len(data) != (bits + 7) // 8:
            raise ValueError(f"{bits} bits need {(bits + 7) // 8} bytes, got {len(data)}")
        pad = len(data) * 8 - bits
        if pad and data[0] >> (8 - pad):
            raise ValueError("padding bits must be zero")
        object.__setattr__(self, "_bytes", data)
        object.__setattr__(self, "_bits", bits)
        object.__setattr__(self, "_quality", quality)
        object.__setattr__(self, "_algorithm", algorithm)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ImageHash is immutable")

    @classmethod
    def from_hex(
        cls, text: str, bits: Optional[int] = None, algorithm: Optional[str] = None
    ) -> "ImageHash":
        """Parse the family's hex (first digit most significant); `bits` defaults to 4 per digit."""
        text = text.strip().lower()
        nbits = 4 * len(text) if bits is None else bits
        if not text or (nbits + 3) // 4 != len(text):
            raise ValueError(f"hex of {len(text)} digits cannot hold {nbits} bits")
        value = int(text, 16)
        if value >> nbits:
            raise ValueError(f"hex {text!r} has more than {nbits} bits")
        return cls(value.to_bytes((nbits + 7) // 8, "big"), nbits, None, algorithm)

    @property
    def bits(self) -> int:
        """Number of bits."""
        return self._bits

    @property
    def hex(self) -> str:
        """Hex in the family's convention (imagehash's row-major, PDQ's bit 255 first)."""
        return format(int.from_bytes(self._bytes, "big"), f"0{(self._bits + 3) // 4}x")

    @property
    def quality(self) -> Optional[int]:
        """PDQ's 0..100 quality, None for the other hashes."""
        return self._quality

    @property
    def algorithm(self) -> Optional[str]:
        """The algorithm that made the hash, when known."""
        return self._algorithm

    def __bytes__(self) -> bytes:
        return self._bytes

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> npt.NDArray[np.uint8]:
        arr = np.frombuffer(self._bytes, dtype=np.uint8).copy()
        return arr if dtype is None else arr.astype(dtype)

    def to_bool_array(self) -> npt.NDArray[np.bool_]:
        """The bits in hex order, as booleans."""
        bits = np.unpackbits(np.frombuffer(self._bytes, dtype=np.uint8))
        return bits[len(bits) - self._bits :].astype(bool)

    def __sub__(self, other: "ImageHash") -> int:
        if not isinstance(other, ImageHash):
            return NotImplemented
        if other._bits != self._bits:
            raise ValueError(f"hashes have different sizes: {self._bits} and {other._bits} bits")
        return (int.from_bytes(self._bytes, "big") ^ int.from_bytes(other._bytes, "big")).bit_count()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageHash):
            return NotImplemented
        return self._bits == other._bits and self._bytes == other._bytes

    def __hash__(self) -> int:
        return hash((self._bits, self._bytes))

    def __reduce__(self) -> Any:
        return (ImageHash, (self._bytes, self._bits, self._quality, self._algorithm))

    def __len__(self) -> int:
        return self._bits

    def __str__(self) -> str:
        return self.hex

    def __repr__(self) -> str:
        q = "" if self._quality is None else f", quality={self._quality}"
        a = "" if self._algorithm is None else f"{self._algorithm}:"
        return f"ImageHash('{a}{self.hex}'{q})"


def _pil_to_array(image: Any) -> Optional[npt.NDArray[np.uint8]]:
    """A PIL image as a uint8 array, without importing Pillow unless the object is one."""
    module = type(image).__module__
    if not module.startswith("PIL."):
        return None
    mode = image.mode
    if mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in mode or "transparency" in image.info else "RGB")
    return np.ascontiguousarray(np.asarray(image), dtype=np.uint8)


def _source(source: ImageSource) -> Union[str, bytes, npt.NDArray[np.uint8]]:
    """Normalise a source to what `_core` takes: a path str, bytes, or a C-contiguous uint8 array."""
    if isinstance(source, str):
        return source
    if isinstance(source, os.PathLike):
        return os.fspath(source)  # type: ignore[return-value]
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8:
            raise TypeError(f"image arrays must have dtype uint8, got {source.dtype}")
        if source.ndim not in (2, 3) or (source.ndim == 3 and source.shape[2] not in (1, 2, 3, 4)):
            raise ValueError(f"image arrays must have shape (H, W) or (H, W, 1..4), got {source.shape}")
        if source.shape[0] == 0 or source.shape[1] == 0:
            raise ValueError(f"image array is empty, shape {source.shape}")
        return np.ascontiguousarray(source)
    arr = _pil_to_array(source)
    if arr is not None:
        return arr
    raise TypeError(
        "source must be a path, bytes, a uint8 numpy array or a PIL image, "
        f"got {type(source).__name__}"
    )


def _hash(
    source: ImageSource, algorithm: str, hash_size: int, exact: bool, exif: bool, max_pixels: int
) -> ImageHash:
    data, bits, quality = _core.hash_image(
        _source(source), algorithm, hash_size, exact, exif, max_pixels
    )
    return ImageHash(data, bits, quality, algorithm)


def ahash(
    source: ImageSource,
    hash_size: int = 8,
    *,
    exact: bool = False,
    exif: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageHash:
    """imagehash's `average_hash`; `exact=True` decodes JPEGs at full scale like Pillow."""
    return _hash(source, "ahash", hash_size, exact, exif, max_pixels)


def dhash(
    source: ImageSource,
    hash_size: int = 8,
    *,
    exact: bool = False,
    exif: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageHash:
    """imagehash's `dhash` (horizontal gradient)."""
    return _hash(source, "dhash", hash_size, exact, exif, max_pixels)


def phash(
    source: ImageSource,
    hash_size: int = 8,
    *,
    exact: bool = False,
    exif: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageHash:
    """imagehash's `phash` (DCT with the DC term, median threshold)."""
    return _hash(source, "phash", hash_size, exact, exif, max_pixels)


def whash(
    source: ImageSource,
    hash_size: int = 8,
    *,
    exact: bool = False,
    exif: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageHash:
    """imagehash's `whash` (Haar, coarsest LL removed)."""
    return _hash(source, "whash", hash_size, exact, exif, max_pixels)


def pdq(
    source: ImageSource,
    *,
    exact: bool = False,
    exif: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageHash:
    """Meta's 256-bit PDQ hash with its 0..100 `.quality`.

    Large JPEGs are decoded at a reduced DCT scale (short side >= 256); `exact=True` decodes at
    full resolution, matching `pdqhash` on Pillow's pixels. Arrays are always hashed exactly.
    """
    return _hash(source, "pdq", 8, exact, exif, max_pixels)


def pdq_dihedral(source: ImageSource, *, exact: bool = False) -> List[ImageHash]:
    """The 8 PDQ hashes of the image's rotations and mirrors, from one DCT.

    Order: original, rotate 90, rotate 180, rotate 270, flip X, flip Y, flip +1, flip -1.
    Files are decoded like `pdq(source, exact=exact)`, so the first hash equals `pdq`'s.
    """
    src = _source(source)
    if not isinstance(src, np.ndarray):
        # Fast mode decodes as `pdq` does: reduced JPEG scale, Y plane only.
        min_side = None if exact else PDQ_WORKING_SIDE
        src = _core.decode_image(src, True, DEFAULT_MAX_PIXELS, min_side, not exact)
    return [ImageHash(d, 256, q, "pdq") for d, q in _core.pdq_dihedral(src)]


def decode_image(
    source: Union[str, "os.PathLike[str]", bytes],
    *,
    exif: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> npt.NDArray[np.uint8]:
    """Decode a file to a uint8 array (H, W) or (H, W, C), as the hashes see it."""
    src = _source(source)
    if isinstance(src, np.ndarray):
        raise TypeError("decode_image takes a path or bytes")
    return _core.decode_image(src, exif, max_pixels)  # type: ignore[no-any-return]


# The short side PDQ's fast mode decodes JPEGs down to (rust/src/image/mod.rs `working_size`).
PDQ_WORKING_SIDE = 256


@dataclass(frozen=True)
class HashBatch:
    """Columnar result of `hash_images`: row i of `codes` is item i's hash when `ok[i]`.

    With `dihedral=True` (PDQ), `variants[i]` holds item i's 7 rotated and mirrored hashes
    (rotate 90, 180, 270, flip x, flip y, transpose, anti-transpose), shape (n, 7, 32).
    """

    algorithm: str
    bits: int
    codes: npt.NDArray[np.uint8]
    quality: npt.NDArray[np.uint8]
    ok: npt.NDArray[np.bool_]
    errors: List[Optional[str]]
    variants: Optional[npt.NDArray[np.uint8]] = None

    def __len__(self) -> int:
        return len(self.errors)

    def __getitem__(self, i: int) -> ImageHash:
        if not self.ok[i]:
            raise ValueError(f"item {i} failed: {self.errors[i]}")
        q = int(self.quality[i]) if self.algorithm == "pdq" else None
        return ImageHash(self.codes[i].tobytes(), self.bits, q, self.algorithm)


def hash_images(
    sources: Sequence[ImageSource],
    algorithm: str = "pdq",
    threads: Optional[int] = None,
    *,
    hash_size: int = 8,
    exact: bool = False,
    exif: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Optional[Callable[[int, int], object]] = None,
    dihedral: bool = False,
) -> HashBatch:
    """Hash many images in parallel (GIL released); a bad item sets `ok[i] = False` and `errors[i]`.

    `progress(done, total)` is called from the calling thread as items finish; if it raises,
    the remaining items are skipped and the exception propagates. `dihedral=True` (PDQ only)
    also returns each image's 7 rotated/mirrored hashes in `.variants`, from the same decode
    and DCT, which is how flipped and rotated copies are found without indexing them.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    if dihedral and algorithm != "pdq":
        raise ValueError(f"dihedral=True needs algorithm='pdq', got {algorithm!r}")
    prepared: List[Any] = []
    for s in sources:
        try:
            prepared.append(_source(s))
        except (TypeError, ValueError) as e:
            prepared.append(e)
    # Items that failed normalisation go through as objects the core reports as bad sources.
    core_sources = [p if not isinstance(p, Exception) else None for p in prepared]
    codes, quality, ok, errors = _core.hash_images(
        core_sources, algorithm, hash_size, threads, exact, exif, max_pixels, progress, dihedral
    )
    for i, p in enumerate(prepared):
        if isinstance(p, Exception):
            errors[i] = str(p)
    bits = 256 if algorithm == "pdq" else hash_size * hash_size
    variants = None
    if dihedral:
        every = codes.reshape(len(codes), 8, 32)
        codes, variants = np.ascontiguousarray(every[:, 0]), np.ascontiguousarray(every[:, 1:])
    return HashBatch(algorithm, bits, codes, quality, ok, errors, variants)
