"""Audio decoding and input validation: every container, and bad input never crashes."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest

from _corrupt import scribble_never_crashes
from fingerprint import DecodeError, FingerprintError, audio_fingerprint


def clip(shared_data: Path, ext: str) -> Path:
    (path,) = sorted((shared_data / "audio/clips").glob(f"*.{ext}"))
    return path


def wav_bytes(samples: np.ndarray, rate: int, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3"])
def test_bytes_and_path_agree(shared_data: Path, ext: str) -> None:
    path = clip(shared_data, ext)
    a = audio_fingerprint(path)
    b = audio_fingerprint(path.read_bytes())
    c = audio_fingerprint(str(path))
    assert a == b == c
    assert len(a) > 100
    assert 19.9 < a.duration < 30.1


def test_ogg_track(shared_data: Path) -> None:
    fp = audio_fingerprint(shared_data / "audio/tracks/a_hyper_caves.ogg")
    assert len(fp) == 450
    assert fp.duration == pytest.approx(58.4, abs=0.1)


def test_decoded_array_equals_file(shared_data: Path) -> None:
    """A 44.1 kHz stereo file and the same samples as an int16 or float32 array agree."""
    path = clip(shared_data, "wav")
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2).copy()
    from_file = audio_fingerprint(path)
    as_float = audio_fingerprint((pcm / 32768.0).astype(np.float32), rate)
    assert as_float == from_file
    as_int = audio_fingerprint(pcm, rate)
    assert as_int == from_file


@pytest.mark.parametrize("ext,fraction", [("wav", 0.5), ("flac", 0.5), ("mp3", 0.5), ("flac", 0.97)])
def test_truncated_files_raise_decode_error(shared_data: Path, ext: str, fraction: float) -> None:
    data = clip(shared_data, ext).read_bytes()
    with pytest.raises(DecodeError, match=r"after \d+\.\d+ s") as err:
        audio_fingerprint(data[: int(len(data) * fraction)])
    assert "truncated" in str(err.value)


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.999])
def test_truncated_ogg_raises_decode_error(shared_data: Path, fraction: float) -> None:
    data = (shared_data / "audio/tracks/a_sing_coherence.ogg").read_bytes()
    with pytest.raises(DecodeError, match="truncated Ogg"):
        audio_fingerprint(data[: int(len(data) * fraction)])


def test_corrupt_data_never_crashes(shared_data: Path) -> None:
    rng = np.random.default_rng(0)
    for path in [clip(shared_data, "mp3"), clip(shared_data, "flac"), shared_data / "audio/tracks/a_hyper_caves.ogg"]:
        scribble_never_crashes(path.read_bytes(), rng, 3)


@pytest.mark.parametrize("data", [b"", b"\0" * 100, b"RIFF\x10\0\0\0WAVEfmt junk", bytes(range(256)) * 40])
def test_garbage_bytes(data: bytes) -> None:
    with pytest.raises(DecodeError):
        audio_fingerprint(data)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        audio_fingerprint(tmp_path / "nope.ogg")


def test_decode_error_is_in_the_tree() -> None:
    assert issubclass(DecodeError, FingerprintError)
    assert issubclass(DecodeError, ValueError)


def test_wav_bytes_at_any_rate() -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(48000 * 6) * 3000).astype(np.int16)
    fp = audio_fingerprint(wav_bytes(x, 48000))
    assert len(fp) == 27  # (66150 - 4096) // 1365 + 1 - 19
    assert fp == audio_fingerprint(x, 48000)


@pytest.mark.parametrize(
    "array,exc",
    [
        (np.zeros(50000, dtype=np.float64), TypeError),
        (np.zeros(50000, dtype=np.int32), TypeError),
        (np.zeros(50000, dtype=np.uint8), TypeError),
        (np.zeros((100, 2, 2), dtype=np.float32), ValueError),
        (np.zeros((50000, 2), dtype=np.float32)[:, :1], ValueError),
        (np.zeros((2, 50000), dtype=np.float32).T, ValueError),
        (np.full(50000, np.nan, dtype=np.float32), ValueError),
    ],
)
def test_bad_arrays(array: np.ndarray, exc: type) -> None:
    with pytest.raises(exc):
        audio_fingerprint(array, 11025)


def test_bad_arguments() -> None:
    x = np.zeros(50000, dtype=np.int16)
    with pytest.raises(TypeError):
        audio_fingerprint(x)  # no sample_rate
    with pytest.raises(ValueError):
        audio_fingerprint(x, 999)
    with pytest.raises(ValueError):
        audio_fingerprint(x, 11025, max_seconds=-1.0)
    with pytest.raises(TypeError):
        audio_fingerprint(b"abc", 11025)
    with pytest.raises(TypeError):
        audio_fingerprint(12345)  # type: ignore[arg-type]
