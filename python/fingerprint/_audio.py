"""Audio fingerprints: Chromaprint-compatible items from files, bytes or PCM arrays."""

from __future__ import annotations

import os
from typing import Optional, Union

import numpy as np
import numpy.typing as npt

from ._core import (
    AudioFingerprint,
    AudioMatch,
    audio_fingerprint_file,
    audio_fingerprint_pcm,
)
from ._core import compare_audio as _compare_audio

__all__ = ["AudioFingerprint", "AudioMatch", "audio_fingerprint", "compare_audio", "AudioSource"]

AudioSource = Union[
    str,
    "os.PathLike[str]",
    bytes,
    bytearray,
    memoryview,
    npt.NDArray[np.float32],
    npt.NDArray[np.int16],
]


def audio_fingerprint(
    source: AudioSource,
    sample_rate: Optional[int] = None,
    *,
    max_seconds: Optional[float] = None,
) -> AudioFingerprint:
    """Chromaprint (TEST2) fingerprint of a file path, encoded bytes, or a PCM array.

    Arrays are float32 in [-1, 1] or int16, shape (n,) or (n, channels), C-contiguous,
    and need `sample_rate`. `max_seconds` keeps only the start (default: everything).

    >>> fp = audio_fingerprint("song.ogg")  # doctest: +SKIP
    >>> fp.encode()[:4]  # doctest: +SKIP
    'AQAB'
    """
    if isinstance(source, np.ndarray):
        if sample_rate is None:
            raise TypeError("sample_rate is required for sample arrays")
        if source.dtype not in (np.float32, np.int16):
            raise TypeError(f"sample arrays must have dtype float32 or int16, got {source.dtype}")
        if source.ndim == 1:
            channels = 1
        elif source.ndim == 2:
            channels = source.shape[1]
        else:
            raise ValueError(
                f"sample arrays must have shape (n,) or (n, channels), got {source.shape}"
            )
        if not source.flags.c_contiguous:
            raise ValueError("sample arrays must be C-contiguous (use np.ascontiguousarray)")
        return audio_fingerprint_pcm(
            source.reshape(-1), int(sample_rate), channels, max_seconds
        )
    if sample_rate is not None:
        raise TypeError("sample_rate applies only to sample arrays")
    if isinstance(source, (bytearray, memoryview)):
        source = bytes(source)
    if isinstance(source, bytes):
        return audio_fingerprint_file(source, max_seconds)
    if isinstance(source, (str, os.PathLike)):
        return audio_fingerprint_file(os.fspath(source), max_seconds)
    raise TypeError(
        "source must be a path, bytes, or a float32/int16 numpy array, "
        f"got {type(source).__name__}"
    )


def compare_audio(
    a: Union[AudioFingerprint, AudioSource], b: Union[AudioFingerprint, AudioSource]
) -> AudioMatch:
    """Align `b` against `a` by bit error rate over every offset; sources are fingerprinted.

    `offset` is in seconds (a time in `b` plus `offset` is the same moment in `a`).
    """
    fa = a if isinstance(a, AudioFingerprint) else audio_fingerprint(a)
    fb = b if isinstance(b, AudioFingerprint) else audio_fingerprint(b)
    return _compare_audio(fa, fb)
