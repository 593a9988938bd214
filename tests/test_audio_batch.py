"""audio_fingerprints: the parallel batch equals one-at-a-time results, reports bad items
without stopping, honours threads=, and AudioIndex.add_many indexes what decodes."""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np
import pytest

from fingerprint import (
    AudioBatch,
    AudioIndex,
    DuplicateIdError,
    audio_fingerprint,
    audio_fingerprints,
)


@pytest.fixture(scope="module")
def files(shared_data: Path) -> List[Path]:
    clips = sorted((shared_data / "audio/clips").iterdir())
    tracks = sorted((shared_data / "audio/tracks").glob("*.ogg"))[:2]
    return clips + tracks


def test_equals_one_at_a_time(files: List[Path]) -> None:
    batch = audio_fingerprints(files, landmarks=True)
    assert isinstance(batch, AudioBatch)
    assert len(batch) == len(files)
    assert batch.ok.dtype == np.bool_ and batch.ok.all()
    assert batch.errors == [None] * len(files)
    for i, p in enumerate(files):
        one = audio_fingerprint(p, landmarks=True)
        assert batch[i] == one
        assert batch[i].duration == one.duration
        got, want = batch[i].landmarks, one.landmarks
        assert got is not None and want is not None
        assert np.array_equal(got, want)


def test_bytes_and_max_seconds(files: List[Path]) -> None:
    data = [p.read_bytes() for p in files[:2]]
    batch = audio_fingerprints([data[0], bytearray(data[1])], max_seconds=5.0)
    for i, p in enumerate(files[:2]):
        assert batch[i] == audio_fingerprint(p, max_seconds=5.0)
        assert batch[i].landmarks is None


def test_bad_items_are_reported_and_do_not_stop_the_batch(files: List[Path], tmp_path: Path) -> None:
    truncated = tmp_path / "cut.ogg"
    whole = files[-1].read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    sources = [
        files[0],
        tmp_path / "missing.mp3",
        b"not audio at all",
        truncated,
        12345,  # not a path or bytes
        files[1],
    ]
    batch = audio_fingerprints(sources)  # type: ignore[arg-type]
    assert batch.ok.tolist() == [True, False, False, False, False, True]
    assert batch.errors[0] is None and batch.errors[5] is None
    assert "missing.mp3" in (batch.errors[1] or "")
    assert "decod" in (batch.errors[2] or "").lower()
    assert "truncated" in (batch.errors[3] or "")
    assert "int" in (batch.errors[4] or "")
    assert batch[5] == audio_fingerprint(files[1])
    with pytest.raises(ValueError, match="item 2 failed"):
        batch[2]


def test_threads_one_and_two_agree(files: List[Path]) -> None:
    a = audio_fingerprints(files, threads=1, landmarks=True)
    b = audio_fingerprints(files, threads=2, landmarks=True)
    assert a.ok.all() and b.ok.all()
    for x, y in zip(a.fingerprints, b.fingerprints):
        assert x == y
        assert x is not None and y is not None
        assert x.landmarks is not None and y.landmarks is not None
        assert np.array_equal(x.landmarks, y.landmarks)
    with pytest.raises(ValueError):
        audio_fingerprints(files, threads=0)


def test_progress_reports_and_can_cancel(files: List[Path]) -> None:
    seen = []
    audio_fingerprints(files, threads=2, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (len(files), len(files))
    assert all(t == len(files) for _, t in seen)

    def stop(done: int, total: int) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        audio_fingerprints(files, threads=1, progress=stop)


def test_empty_batch() -> None:
    batch = audio_fingerprints([])
    assert len(batch) == 0 and batch.ok.shape == (0,)


def test_add_many(files: List[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF junk")
    index = AudioIndex()
    batch = index.add_many([10, 11, 12], [files[-1], bad, files[-2]], threads=2)
    assert batch.ok.tolist() == [True, False, True]
    assert index.ids() == [10, 12]
    single = AudioIndex()
    single.add(10, files[-1])
    single.add(12, files[-2])
    clip = audio_fingerprint(files[-2], landmarks=True)
    assert [(m.track_id, m.offset) for m in index.query(clip)] == [
        (m.track_id, m.offset) for m in single.query(clip)
    ]
    with pytest.raises(DuplicateIdError):
        index.add_many([13, 10], [files[0], files[1]])
    assert index.ids() == [10, 12]
    with pytest.raises(DuplicateIdError):
        index.add_many([14, 14], [files[0], files[1]])
    with pytest.raises(ValueError, match="2 track ids for 1 sources"):
        index.add_many([15, 16], [files[0]])
