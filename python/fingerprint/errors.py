"""The one exception tree of `fingerprint`: catch `FingerprintError` for all of them."""

from __future__ import annotations

__all__ = [
    "FingerprintError",
    "CorruptIndexError",
    "DecodeError",
    "DuplicateIdError",
    "MissingIdError",
]


class FingerprintError(Exception):
    """Base class of every error `fingerprint` raises on purpose."""


class CorruptIndexError(FingerprintError, ValueError):
    """An index file is truncated, corrupted, or of a format version this build cannot read."""


class DecodeError(FingerprintError, ValueError):
    """Media (an image or audio file) could not be decoded."""


class DuplicateIdError(FingerprintError, ValueError):
    """An id was added twice, or is already in the index."""


class MissingIdError(FingerprintError, KeyError):
    """An id asked for is not in the index."""
