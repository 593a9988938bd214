"""fingerprint: content-fingerprint matching for bulk copy detection.

Perceptual hashes and SIMD Hamming search in Rust, numpy in and out.
"""

from __future__ import annotations

from ._core import simd_level, simd_levels
from ._index import HammingIndex, find_duplicates
from .errors import (
    CorruptIndexError,
    DecodeError,
    DuplicateIdError,
    FingerprintError,
    MissingIdError,
)

__version__ = "0.1.0"

__all__ = [
    "HammingIndex",
    "find_duplicates",
    "simd_level",
    "simd_levels",
    "FingerprintError",
    "CorruptIndexError",
    "DecodeError",
    "DuplicateIdError",
    "MissingIdError",
    "__version__",
]
