"""Audio fingerprints: Chromaprint-compatible items from files, bytes or PCM arrays."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

from ._core import AudioIndex as _CoreAudioIndex
from ._core import (
    AudioFingerprint,
    AudioMatch,
    audio_fingerprint_file,
    audio_fingerprint_files,
    audio_fingerprint_pcm,
)
from ._core import compare_audio as _compare_audio
from .errors import DuplicateIdError

__all__ = [
    "AudioBatch",
    "AudioFingerprint",
    "AudioIndex",
    "AudioMatch",
    "AudioQueryBatch",
    "audio_fingerprint",
    "audio_fingerprints",
    "compare_audio",
    "AudioSource",
]

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
    landmarks: bool = False,
    phases: bool = False,
) -> AudioFingerprint:
    """Chromaprint (TEST2) fingerprint of a file path, encoded bytes, or a PCM array.

    Arrays are float32 in [-1, 1] or int16, shape (n,) or (n, channels), C-contiguous,
    and need `sample_rate`. `max_seconds` keeps only the start (default: everything).
    `landmarks=True` also extracts the peak triplets `AudioIndex` uses for tempo and pitch;
    `phases=True` keeps the first 30 s of the 11025 Hz audio (up to 662 KB) so that
    `AudioIndex.query` can make the items of the audio cut 1/8 .. 7/8 of an item later,
    when a track repeats the passage, to tell it from a near-copy (`.phases` shows them),
    and read a landmark match at a pitch shift against chroma with the shift undone.

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
            source.reshape(-1), int(sample_rate), channels, max_seconds, landmarks, phases
        )
    if sample_rate is not None:
        raise TypeError("sample_rate applies only to sample arrays")
    if isinstance(source, (bytearray, memoryview)):
        source = bytes(source)
    if isinstance(source, bytes):
        return audio_fingerprint_file(source, max_seconds, landmarks, phases)
    if isinstance(source, (str, os.PathLike)):
        return audio_fingerprint_file(os.fspath(source), max_seconds, landmarks, phases)
    raise TypeError(
        "source must be a path, bytes, or a float32/int16 numpy array, "
        f"got {type(source).__name__}"
    )


AudioFileSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


@dataclass(frozen=True)
class AudioBatch:
    """Result of `audio_fingerprints`: item i is `fingerprints[i]` when `ok[i]`, else its
    message is `errors[i]`."""

    fingerprints: List[Optional[AudioFingerprint]]
    ok: npt.NDArray[np.bool_]
    errors: List[Optional[str]]

    def __len__(self) -> int:
        return len(self.errors)

    def __getitem__(self, i: int) -> AudioFingerprint:
        fp = self.fingerprints[i]
        if fp is None:
            raise ValueError(f"item {i} failed: {self.errors[i]}")
        return fp


@dataclass(frozen=True)
class AudioQueryBatch:
    """Result of `AudioIndex.query_many`: the matches of query i are `matches[i]` (a list,
    empty when nothing matched) when `ok[i]`, else its message is `errors[i]`."""

    matches: List[Optional[List[AudioMatch]]]
    ok: npt.NDArray[np.bool_]
    errors: List[Optional[str]]

    def __len__(self) -> int:
        return len(self.errors)

    def __getitem__(self, i: int) -> List[AudioMatch]:
        m = self.matches[i]
        if m is None:
            raise ValueError(f"item {i} failed: {self.errors[i]}")
        return m


def _file_sources(sources: Sequence[object]) -> List[object]:
    """Paths as `str` and buffers as `bytes` for the core's batch functions; anything else
    goes through, for the core to report as that item's error."""
    prepared: List[object] = []
    for s in sources:
        if isinstance(s, (bytearray, memoryview)):
            prepared.append(bytes(s))
        elif isinstance(s, os.PathLike):
            prepared.append(os.fspath(s))
        else:
            prepared.append(s)
    return prepared


def audio_fingerprints(
    sources: Sequence[AudioFileSource],
    threads: Optional[int] = None,
    *,
    max_seconds: Optional[float] = None,
    landmarks: bool = False,
    progress: Optional[Callable[[int, int], object]] = None,
) -> AudioBatch:
    """Fingerprint many audio files (paths or encoded bytes) in parallel, GIL released.

    Each item equals `audio_fingerprint(source, ...)`. A bad item (unreadable, corrupt,
    truncated, wrong type) sets `ok[i] = False` and `errors[i]` and never stops the batch.
    `threads` caps the workers (default: one per core). `progress(done, total)` is called
    from the calling thread as items finish; if it raises, the remaining items are skipped
    and the exception propagates.
    """
    fps, errors = audio_fingerprint_files(
        _file_sources(sources), threads, max_seconds, landmarks, progress
    )
    ok = np.fromiter((f is not None for f in fps), dtype=np.bool_, count=len(fps))
    return AudioBatch(fps, ok, errors)


def compare_audio(
    a: Union[AudioFingerprint, AudioSource], b: Union[AudioFingerprint, AudioSource]
) -> AudioMatch:
    """Align `b` against `a` by bit error rate over every offset; sources are fingerprinted.

    `offset` is in seconds (a time in `b` plus `offset` is the same moment in `a`).
    """
    fa = a if isinstance(a, AudioFingerprint) else audio_fingerprint(a)
    fb = b if isinstance(b, AudioFingerprint) else audio_fingerprint(b)
    return _compare_audio(fa, fb)


def _with_landmarks(
    fp_or_source: Union[AudioFingerprint, AudioSource],
    sample_rate: Optional[int],
    phases: bool = False,
) -> AudioFingerprint:
    if isinstance(fp_or_source, AudioFingerprint):
        if sample_rate is not None:
            raise TypeError("sample_rate applies only to sample arrays")
        return fp_or_source
    return audio_fingerprint(fp_or_source, sample_rate, landmarks=True, phases=phases)


class AudioIndex:
    """Find where excerpts (5 s and more) come from, among many tracks.

    Two fingerprints back it: Chromaprint items (exact copies, codecs, noise; offset to one
    item, 0.124 s) and landmark triplets (tempo and pitch changes, heavy noise). Sources are
    fingerprinted with both; a bare `AudioFingerprint` brings only what it holds.

    >>> index = AudioIndex()  # doctest: +SKIP
    >>> index.add(1, "song.ogg")  # doctest: +SKIP
    >>> index.query("clip.mp3")[0].track_id  # doctest: +SKIP
    1
    """

    def __init__(self, _core: Optional[_CoreAudioIndex] = None) -> None:
        self._core = _core if _core is not None else _CoreAudioIndex()

    def add(
        self,
        track_id: int,
        fp_or_source: Union[AudioFingerprint, AudioSource],
        sample_rate: Optional[int] = None,
    ) -> None:
        """Index a track (DuplicateIdError if `track_id` is already there)."""
        self._core.add(int(track_id), _with_landmarks(fp_or_source, sample_rate))

    def add_many(
        self,
        track_ids: Sequence[int],
        sources: Sequence[AudioFileSource],
        threads: Optional[int] = None,
        *,
        progress: Optional[Callable[[int, int], object]] = None,
    ) -> AudioBatch:
        """Fingerprint files in parallel (`audio_fingerprints` with landmarks) and index
        each one that decodes under its id; returns the batch, whose `ok` and `errors` say
        which were not added. The ids are checked first (DuplicateIdError, nothing added)."""
        ids = [int(t) for t in track_ids]
        if len(ids) != len(sources):
            raise ValueError(f"{len(ids)} track ids for {len(sources)} sources")
        seen = set()
        for t in ids:
            if t in seen or t in self._core:
                raise DuplicateIdError(f"track id {t} is already indexed or repeated")
            seen.add(t)
        batch = audio_fingerprints(sources, threads, landmarks=True, progress=progress)
        for t, fp in zip(ids, batch.fingerprints):
            if fp is not None:
                self._core.add(t, fp)
        return batch

    def remove(self, track_id: int) -> None:
        """Remove a track (MissingIdError if absent)."""
        self._core.remove(int(track_id))

    def query(
        self,
        fp_or_source: Union[AudioFingerprint, AudioSource],
        top: int = 5,
        sample_rate: Optional[int] = None,
    ) -> List[AudioMatch]:
        """Up to `top` matches, best first, one per track; empty when nothing matches.

        Each `AudioMatch` has `track_id`, `score`, `offset` (seconds into the track where the
        query starts), `bit_error_rate`, `method` ("chroma" or "landmark"), `time_scale`
        and `pitch_shift`. Sources get landmarks and phase copies; a fingerprint made without
        `landmarks=True` is matched by chroma alone (no tempo or pitch changes, and
        alignments near the BER threshold go unchecked by the landmarks), and one without
        `phases=True` may be placed at a near-copy of its passage where a track repeats it,
        and its landmark matches at a pitch shift go unchecked by the chroma.
        """
        if top < 0:
            raise ValueError(f"top must be >= 0, got {top}")
        return self._core.query(_with_landmarks(fp_or_source, sample_rate, phases=True), top)

    def query_many(
        self,
        sources: Sequence[Union[AudioFingerprint, AudioFileSource]],
        top: int = 5,
        threads: Optional[int] = None,
        *,
        max_seconds: Optional[float] = None,
        progress: Optional[Callable[[int, int], object]] = None,
    ) -> AudioQueryBatch:
        """`query` for many files (paths or encoded bytes) or fingerprints, in parallel with
        the GIL released: each file is decoded, fingerprinted and queried on one worker.

        A bad item (unreadable, corrupt, wrong type) sets `ok[i] = False` and `errors[i]`
        and never stops the batch. `threads` caps the workers (default: one per core);
        `max_seconds` fingerprints only the start of each file; `progress(done, total)` is
        called from the calling thread as items finish.

        >>> batch = index.query_many(["clip1.mp3", "clip2.ogg"])  # doctest: +SKIP
        >>> [m[0].track_id if m else None for m in batch.matches]  # doctest: +SKIP
        [1, None]
        """
        if top < 0:
            raise ValueError(f"top must be >= 0, got {top}")
        found, errors = self._core.query_many(
            _file_sources(sources), top, threads, max_seconds, progress
        )
        ok = np.fromiter((m is not None for m in found), dtype=np.bool_, count=len(found))
        return AudioQueryBatch(found, ok, errors)

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write the index atomically (temporary file, fsync, rename)."""
        self._core.save(os.fspath(path))

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "AudioIndex":
        """Read an index written by `save` (CorruptIndexError if damaged or truncated)."""
        return cls(_CoreAudioIndex.load(os.fspath(path)))

    def ids(self) -> List[int]:
        """Track ids in the order they were added."""
        return self._core.ids()

    @property
    def duration(self) -> float:
        """Seconds of audio indexed."""
        return self._core.duration

    @property
    def memory(self) -> "tuple[int, int]":
        """Bytes of posting lists in memory: (chroma, landmark)."""
        return self._core.memory

    def __len__(self) -> int:
        return len(self._core)

    def __contains__(self, track_id: object) -> bool:
        return isinstance(track_id, int) and track_id >= 0 and track_id in self._core

    def __repr__(self) -> str:
        return f"AudioIndex(tracks={len(self)}, duration={self.duration:.1f}s)"
