"""Chromaprint (TEST2) items against the oracle: Debian's fpcalc and its golden outputs.

Needs the Debian package libchromaprint-tools (fpcalc) for the generated-WAV tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

import fingerprint
from fingerprint import AudioFingerprint, audio_fingerprint

SILENCE_ITEM = 627964279
RATE = 11025


def fpcalc_items(path: Path) -> list[int]:
    """Raw items from `fpcalc -raw -length 0 -ignore-errors -json` (the oracle)."""
    exe = shutil.which("fpcalc")
    assert exe is not None, "fpcalc missing: apt-get install libchromaprint-tools"
    out = subprocess.run(
        [exe, "-raw", "-length", "0", "-ignore-errors", "-json", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode in (0, 3), out.stderr
    return list(json.loads(out.stdout)["fingerprint"])


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


def synthetic(seed: int, seconds: float) -> np.ndarray:
    """Tones, chirps, noise bursts and silence: audio that exercises every classifier."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    x = np.zeros(n)
    for _ in range(6):
        f0 = rng.uniform(60, 3000)
        start = rng.integers(0, n)
        env = (t > start / RATE) * np.exp(-rng.uniform(0.1, 2.0) * np.maximum(t - start / RATE, 0))
        x += rng.uniform(0.05, 0.3) * env * np.sin(2 * np.pi * f0 * t * (1 + rng.uniform(-0.1, 0.1) * t / seconds))
    x += rng.uniform(0.0, 0.05) * rng.standard_normal(n)
    x[int(0.4 * n) : int(0.45 * n)] = 0.0  # a stretch of digital silence
    return np.clip(x * 32767, -32768, 32767).astype(np.int16)


def real_11025(shared_data: Path) -> np.ndarray:
    """The 44.1 kHz stereo WAV clip, mixed to mono and decimated to 11025 Hz in numpy."""
    with wave.open(str(shared_data / "audio/clips/a_sing_coherence__040-070s.wav")) as w:
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    mono = raw.astype(np.int32).sum(axis=1) // 2
    smooth = np.convolve(mono, np.ones(4) / 4, mode="same")
    return np.round(smooth[::4]).astype(np.int16)


@pytest.mark.parametrize("seed,seconds", [(1, 3.0), (2, 10.0), (3, 31.7), (4, 60.0), (5, 2.8)])
def test_items_equal_fpcalc_on_11025_mono(tmp_path: Path, seed: int, seconds: float) -> None:
    samples = synthetic(seed, seconds)
    wav = tmp_path / "x.wav"
    write_wav(wav, samples)
    want = fpcalc_items(wav)
    got = audio_fingerprint(samples, RATE)
    assert got.items.tolist() == want
    # The file path (WAV decoding, no resampling at 11025 Hz) gives the same items.
    assert audio_fingerprint(str(wav)).items.tolist() == want


def test_items_equal_fpcalc_on_real_music(tmp_path: Path, shared_data: Path) -> None:
    samples = real_11025(shared_data)
    wav = tmp_path / "real.wav"
    write_wav(wav, samples)
    want = fpcalc_items(wav)
    assert len(want) == 221
    assert audio_fingerprint(samples, RATE).items.tolist() == want
    # float32 input at 11025 Hz takes the float path and still matches exactly.
    floats = (samples.astype(np.float32) / 32768.0).astype(np.float32)
    assert audio_fingerprint(floats, RATE).items.tolist() == want


def test_stereo_int16_at_11025_mixes_like_chromaprint(tmp_path: Path) -> None:
    left, right = synthetic(7, 8.0), synthetic(8, 8.0)
    stereo = np.ascontiguousarray(np.stack([left, right], axis=1))
    wav = tmp_path / "stereo.wav"
    write_wav(wav, stereo, channels=2)
    got = audio_fingerprint(stereo, RATE)
    # (L + R) / 2 truncated toward zero, as chromaprint.md 1.2 says.
    trunc = np.trunc((left.astype(np.int32) + right.astype(np.int32)) / 2).astype(np.int16)
    assert got.items.tolist() == audio_fingerprint(trunc, RATE).items.tolist()
    # fpcalc mixes through FFmpeg's float rematrix; allow its rounding differences.
    want = np.array(fpcalc_items(wav), dtype=np.uint32)
    ber = np.unpackbits((got.items ^ want).view(np.uint8)).mean()
    assert ber <= 1e-3


def test_silence_gives_the_silence_item() -> None:
    fp = audio_fingerprint(np.zeros(RATE * 5, dtype=np.int16), RATE)
    assert len(fp) == 19  # (55125 - 4096) // 1365 + 1 - 19
    assert set(fp.items.tolist()) == {SILENCE_ITEM}


def test_item_counts_and_duration() -> None:
    # chromaprint.md 1.2: 10 s -> 59 items, 30 s -> 221, nothing before 30,031 samples.
    for n, items in [(110250, 59), (330750, 221), (30030, 0), (30031, 1)]:
        fp = audio_fingerprint(synthetic(9, n / RATE + 0.01)[:n], RATE)
        assert len(fp) == items
        assert fp.duration == pytest.approx(n / RATE)
    assert fp.items.dtype == np.uint32


def test_max_seconds() -> None:
    s = synthetic(10, 20.0)
    assert len(audio_fingerprint(s, RATE, max_seconds=10.0)) == 59
    assert audio_fingerprint(s, RATE, max_seconds=10.0).items.tolist() == (
        audio_fingerprint(s[: 10 * RATE], RATE).items.tolist()
    )


def golden(shared_data: Path, stem: str) -> tuple[list[int], str]:
    fp = shared_data / "audio/fpcalc"
    raw = json.loads((fp / f"{stem}.json").read_text())["fingerprint"]
    text = json.loads((fp / f"{stem}.compressed.json").read_text())["fingerprint"]
    return raw, text


def media(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "audio/tracks").iterdir()) + sorted(
        (shared_data / "audio/clips").iterdir()
    )
    assert len(files) == 13
    return files


def test_real_tracks_bit_error_rate_against_fpcalc(shared_data: Path) -> None:
    """Decoded and resampled here (symphonia + rubato), the items stay within BER 1e-3."""
    total_bits = total_errors = 0
    for path in media(shared_data):
        want, _ = golden(shared_data, path.stem)
        got = audio_fingerprint(path)
        assert len(got) == len(want), path.name
        diff = got.items ^ np.array(want, dtype=np.uint32)
        errors = int(np.unpackbits(diff.view(np.uint8)).sum())
        assert errors / (32 * len(want)) <= 1e-3, path.name
        total_bits += 32 * len(want)
        total_errors += errors
    assert total_errors / total_bits <= 2e-4


def test_encode_equals_fpcalc_strings(shared_data: Path) -> None:
    for path in media(shared_data):
        raw, text = golden(shared_data, path.stem)
        fp = AudioFingerprint(np.array(raw, dtype=np.uint32))
        assert fp.encode() == text, path.name
        assert AudioFingerprint.decode(text).items.tolist() == raw, path.name


def test_upstream_vectors(shared_data: Path) -> None:
    vec = shared_data / "vectors/chromaprint"
    # tests/test_api.cpp: the stereo file read as one 44.1 kHz channel.
    text = "AQAAC0kkZUqYREkUnFAXHk8uuMZl6EfO4zu-4ABKFGESWIIMEQE"
    want = AudioFingerprint.decode(text)
    assert len(want) == 11
    assert want.simhash() == 3732003127
    pcm = np.fromfile(vec / "test_stereo_44100.raw", dtype="<i2")
    got = audio_fingerprint(pcm, 44100)
    assert len(got) == 11
    # Our resampler is rubato's, not FFmpeg's: close, not identical.
    ber = np.unpackbits((got.items ^ want.items).view(np.uint8)).mean()
    assert ber < 0.02
    # test.mp3 through fpcalc; symphonia's MP3 decoder differs slightly from FFmpeg's.
    mp3 = json.loads((vec / "fpcalc/test.mp3.json").read_text())["fingerprint"]
    assert AudioFingerprint(np.array(mp3, dtype=np.uint32)).simhash() == 4118672767
    got = audio_fingerprint(vec / "test.mp3")
    assert len(got) == 59
    ber = np.unpackbits((got.items ^ np.array(mp3, dtype=np.uint32)).view(np.uint8)).mean()
    assert ber < 0.02
    # The upstream encoder vector and the silence vector (chromaprint.md 1.3).
    assert AudioFingerprint(np.array([1, 0], dtype=np.uint32), algorithm=55).encode() == "NwAAAkEA"
    silence = AudioFingerprint.decode("AQAAA0mUaEkSRZEGAA")
    assert silence.items.tolist() == [SILENCE_ITEM] * 3
    # 2.0 s of 11025 Hz audio is shorter than the first item needs.
    assert len(audio_fingerprint(np.fromfile(vec / "test_mono_11025.raw", dtype="<i2"), RATE)) == 0


def test_exports() -> None:
    for name in ["AudioFingerprint", "AudioMatch", "audio_fingerprint", "compare_audio"]:
        assert name in fingerprint.__all__
        assert hasattr(fingerprint, name)
