"""Algorithms and code widths of the service, and hashing media bytes through the library."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import fingerprint

from ..errors import DecodeError

__all__ = ["ALGORITHM_NAMES", "Hashed", "resolve_bits", "hash_media", "check_raw_bits"]

# fingerprint.v1.Algorithm values -> library names ("" for raw codes).
ALGORITHM_NAMES = {0: "", 1: "pdq", 2: "phash", 3: "dhash", 4: "ahash", 5: "whash", 6: "audio"}
SQUARE_HASHES = ("phash", "dhash", "ahash", "whash")


@dataclass(frozen=True)
class Hashed:
    """One media file's hash."""

    code: bytes
    bits: int
    algorithm: int
    quality: Optional[int] = None
    audio_fingerprint: str = ""


def check_raw_bits(bits: int) -> int:
    """A raw code width: a multiple of 8 from 8 to 4096."""
    if bits < 8 or bits > 4096 or bits % 8:
        raise ValueError(f"bits must be a multiple of 8 from 8 to 4096, got {bits}")
    return bits


def resolve_bits(algorithm: int, bits: int) -> int:
    """The code width for `algorithm` given a requested `bits` (0: the default); raises ValueError."""
    name = ALGORITHM_NAMES.get(algorithm)
    if name is None:
        raise ValueError(f"unknown algorithm {algorithm}")
    if name == "":
        if bits == 0:
            raise ValueError("bits is required for raw codes (algorithm ALGORITHM_UNSPECIFIED)")
        return check_raw_bits(bits)
    fixed = {"pdq": 256, "audio": 32}.get(name)
    if fixed is not None:
        if bits not in (0, fixed):
            raise ValueError(f"{name} codes are {fixed} bits, got bits={bits}")
        return fixed
    if bits == 0:
        return 64
    side = math.isqrt(bits)
    if side * side != bits or side < 2 or bits % 8:
        raise ValueError(
            f"{name} bits must be a square hash size (hash_size**2, a multiple of 8: 16, 64, 144, "
            f"256, ...), got {bits}"
        )
    check_raw_bits(bits)
    return bits


def hash_media(
    media: Sequence[bytes],
    algorithm: int,
    bits: int,
    *,
    max_pixels: int,
    audio_max_seconds: Optional[float],
    threads: Optional[int] = None,
) -> List[Union[Hashed, Exception]]:
    """Hash each file (images in parallel in Rust, GIL released); a failure is its exception."""
    name = ALGORITHM_NAMES.get(algorithm)
    if name is None:
        raise ValueError(f"unknown algorithm {algorithm}")
    if name == "":
        raise ValueError("raw-code collections cannot hash media: send codes, or use an algorithm")
    bits = resolve_bits(algorithm, bits)
    out: List[Union[Hashed, Exception]] = []
    if name == "audio":
        for data in media:
            if not data:
                out.append(DecodeError("empty media"))
                continue
            try:
                fp = fingerprint.audio_fingerprint(bytes(data), max_seconds=audio_max_seconds)
                out.append(Hashed(fp.simhash().to_bytes(4, "big"), 32, algorithm, None, fp.encode()))
            except (DecodeError, ValueError) as e:
                out.append(e if isinstance(e, DecodeError) else DecodeError(str(e)))
        return out
    hash_size = 16 if name == "pdq" else math.isqrt(bits)
    batch = fingerprint.hash_images(
        [bytes(m) for m in media], name, threads, hash_size=hash_size, max_pixels=max_pixels
    )
    for i in range(len(batch)):
        if not batch.ok[i]:
            out.append(DecodeError(f"cannot hash media: {batch.errors[i]}"))
            continue
        quality = int(batch.quality[i]) if name == "pdq" else None
        out.append(Hashed(batch.codes[i].tobytes(), batch.bits, algorithm, quality))
    return out
