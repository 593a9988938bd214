"""compare_audio: clips found in their tracks at the manifest's offset; unrelated audio not."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from fingerprint import AudioFingerprint, AudioMatch, audio_fingerprint, compare_audio

ITEM = 1365 / 11025


def manifest(shared_data: Path) -> list[dict[str, str]]:
    with open(shared_data / "audio/manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_clips_align_with_their_tracks(shared_data: Path) -> None:
    clips = [r for r in manifest(shared_data) if r["role"] == "clip"]
    assert len(clips) == 3
    for row in clips:
        track = audio_fingerprint(shared_data / "audio/tracks" / f"{row['parent_id']}.ogg")
        clip = audio_fingerprint(shared_data / "audio" / row["path"])
        m = compare_audio(track, clip)
        assert isinstance(m, AudioMatch)
        want = round(float(row["offset_s"]) * 11025 / 1365)
        assert m.offset_items == want, row["id"]
        assert m.offset == pytest.approx(want * ITEM)
        assert m.bit_error_rate < 0.1
        assert m.score > 0.75
        assert m.length == len(clip)
        assert m.start_a == want and m.start_b == 0
        assert m.span_a[0] == pytest.approx(want * ITEM)
        assert m.span_b[1] == pytest.approx(clip.duration, abs=0.2)


def test_unrelated_tracks_score_low(shared_data: Path) -> None:
    tracks = sorted((shared_data / "audio/tracks").glob("*.ogg"))[:5]
    fps = [audio_fingerprint(p) for p in tracks]
    for i in range(len(fps)):
        for j in range(i + 1, len(fps)):
            m = compare_audio(fps[i], fps[j])
            assert m.score < 0.2, (tracks[i].name, tracks[j].name, m)
            assert m.bit_error_rate > 0.3


def test_identical_and_symmetric(shared_data: Path) -> None:
    fp = audio_fingerprint(shared_data / "audio/tracks/a_hyper_caves.ogg")
    m = compare_audio(fp, fp)
    assert (m.score, m.offset, m.bit_error_rate, m.length) == (1.0, 0.0, 0.0, len(fp))
    clip = AudioFingerprint(fp.items[100:200])
    fwd, back = compare_audio(fp, clip), compare_audio(clip, fp)
    assert fwd.offset_items == 100 and back.offset_items == -100
    assert fwd.bit_error_rate == back.bit_error_rate == 0.0


def test_silence_never_matches() -> None:
    silence = audio_fingerprint(np.zeros(11025 * 20, dtype=np.int16), 11025)
    m = compare_audio(silence, silence)
    assert m.score == 0.0
    empty = AudioFingerprint(np.zeros(0, dtype=np.uint32))
    m = compare_audio(empty, silence)
    assert (m.score, m.length, m.bit_error_rate) == (0.0, 0, 0.5)


def test_loops_are_penalised() -> None:
    """Low-variety fingerprints score lower than varied ones at the same bit error rate."""
    noise = np.uint32(0x00010101)  # 3 differing bits per item: BER 3/32
    loop = np.tile(np.array([0x12345678, 0x9ABCDEF0], dtype=np.uint32), 200)
    varied = np.random.default_rng(0).integers(0, 2**32, size=400, dtype=np.uint32)
    m_loop = compare_audio(AudioFingerprint(loop), AudioFingerprint(loop ^ noise))
    m_varied = compare_audio(AudioFingerprint(varied), AudioFingerprint(varied ^ noise))
    assert m_loop.bit_error_rate == m_varied.bit_error_rate == 3 / 32
    assert m_varied.score == pytest.approx(1 - 2 * 3 / 32)
    assert m_loop.score < 0.6 * m_varied.score


def test_sources_are_fingerprinted(shared_data: Path) -> None:
    path = shared_data / "audio/clips/a_hyper_caves__020-040s.flac"
    assert compare_audio(path, path.read_bytes()).score == 1.0
