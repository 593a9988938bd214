"""fingerprint: content-fingerprint matching for bulk copy detection.

Perceptual hashes and SIMD Hamming search in Rust, numpy in and out.
"""

from __future__ import annotations

from ._audio import (
    AudioBatch,
    AudioFingerprint,
    AudioIndex,
    AudioMatch,
    AudioQueryBatch,
    audio_fingerprint,
    audio_fingerprints,
    compare_audio,
)
from ._client import Client
from ._core import simd_level, simd_levels
from ._image import (
    HashBatch,
    ImageHash,
    ahash,
    decode_image,
    dhash,
    hash_images,
    pdq,
    pdq_dihedral,
    phash,
    whash,
)
from ._index import HammingIndex, find_duplicates, find_duplicates_between, iter_duplicates
from ._robust import RobustImageIndex, RobustMatch, calibrate, trim_borders
from .errors import (
    CorruptIndexError,
    DecodeError,
    DuplicateIdError,
    FingerprintError,
    MissingIdError,
)

__version__ = "0.1.0"

__all__ = [
    "AudioFingerprint",
    "Client",
    "AudioIndex",
    "AudioMatch",
    "audio_fingerprint",
    "audio_fingerprints",
    "AudioBatch",
    "AudioQueryBatch",
    "compare_audio",
    "HammingIndex",
    "find_duplicates",
    "find_duplicates_between",
    "iter_duplicates",
    "RobustImageIndex",
    "RobustMatch",
    "calibrate",
    "trim_borders",
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
    "simd_level",
    "simd_levels",
    "FingerprintError",
    "CorruptIndexError",
    "DecodeError",
    "DuplicateIdError",
    "MissingIdError",
    "__version__",
]
