"""Helper for the decoders' robustness tests: damage a file and check it fails cleanly."""

from __future__ import annotations

import numpy as np

from fingerprint import DecodeError, audio_fingerprint


def scribble_never_crashes(data: bytes, rng: np.random.Generator, times: int) -> None:
    """Overwrite up to 4000 bytes at a random point past the first tenth, `times` times: each
    copy either fingerprints or raises a `DecodeError` that says it failed decoding."""
    for _ in range(times):
        bad = bytearray(data)
        at = int(rng.integers(len(bad) // 10, len(bad)))
        bad[at : at + 4000] = rng.integers(0, 256, size=len(bad[at : at + 4000]), dtype=np.uint8).tobytes()
        try:
            fp = audio_fingerprint(bytes(bad))
        except DecodeError as e:
            assert "decod" in str(e)
        else:
            assert fp.items.dtype == np.uint32
