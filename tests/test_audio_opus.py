"""Ogg/Opus input (rust/src/audio/opus.rs): fingerprints against fpcalc on the same files.

The Opus files are made at test time from the shared corpus with FFmpeg's libopus encoder
(Debian `ffmpeg`). fpcalc decodes them with FFmpeg; we decode with opus-pure, which agrees
with libopus to float rounding (tests/audio_opus.rs checks the samples), so the items may
differ in a few bits where a classifier sits on a threshold, no more.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from _corrupt import scribble_never_crashes
from fingerprint import DecodeError, audio_fingerprint

CLIP = "audio/clips/a_sing_coherence__040-070s.wav"  # 44.1 kHz stereo, 30 s
TRACK = "audio/tracks/a_hyper_caves.ogg"  # 58 s
DURATION = {CLIP: 30.0, TRACK: 2803671 / 48000}


def opus(src: Path, dst: Path, *opts: str, container: str = "ogg") -> Path:
    exe = shutil.which("ffmpeg")
    assert exe is not None, "ffmpeg missing: apt-get install ffmpeg"
    subprocess.run(
        [exe, "-v", "error", "-nostdin", "-y", "-i", str(src), *opts, "-c:a", "libopus", "-f", container,
         str(dst)],
        check=True,
    )
    return dst


def fpcalc_items(path: Path) -> np.ndarray:
    exe = shutil.which("fpcalc")
    assert exe is not None, "fpcalc missing: apt-get install libchromaprint-tools"
    # fpcalc reports the end of an Opus stream as a decoding error: -ignore-errors, as the
    # Chromaprint tests run it.
    cmd = [exe, "-raw", "-length", "0", "-ignore-errors", "-json", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return np.array(json.loads(out.stdout)["fingerprint"], dtype=np.uint32)


def ber(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.unpackbits((a ^ b).view(np.uint8)).mean())


@pytest.mark.parametrize(
    "src,name,opts",
    [
        (CLIP, "x.opus", ["-b:a", "64k"]),
        (CLIP, "x.ogg", ["-b:a", "12k", "-application", "voip"]),
        (TRACK, "x.opus", ["-b:a", "32k"]),
        (CLIP, "x.opus", ["-ac", "1", "-b:a", "24k", "-frame_duration", "60"]),
    ],
)
def test_items_match_fpcalc(shared_data: Path, tmp_path: Path, src: str, name: str, opts: list) -> None:
    path = opus(shared_data / src, tmp_path / name, *opts)
    fp = audio_fingerprint(path)
    want = fpcalc_items(path)
    assert len(fp.items) == len(want)
    # Measured 0 to 0.0011 on these files; an error of one sample in the pre-skip gives
    # about 0.01, a wrong decoder 0.3 and more.
    assert ber(fp.items, want) <= 0.003
    assert fp == audio_fingerprint(path.read_bytes())
    # The pre-skip and the end trim are honoured: the source's length to the sample.
    assert fp.duration == pytest.approx(DURATION[src], abs=1 / 48000)


@pytest.mark.parametrize("container", ["webm", "matroska"])
def test_webm_and_matroska_opus(shared_data: Path, tmp_path: Path, container: str) -> None:
    """Opus in WebM/Matroska (symphonia's MKV reader hands the OpusHead over as codec private
    data): the same packets as in Ogg give the same items, pre-skip included."""
    ogg = audio_fingerprint(opus(shared_data / CLIP, tmp_path / "x.opus", "-b:a", "48k"))
    path = opus(shared_data / CLIP, tmp_path / f"x.{container}", "-b:a", "48k", container=container)
    fp = audio_fingerprint(path)
    np.testing.assert_array_equal(fp.items, ogg.items)
    assert ber(fp.items, fpcalc_items(path)) <= 0.003
    # Matroska has no granule position to trim the last packet's padding by: at most one
    # 20 ms frame longer than the source.
    assert DURATION[CLIP] <= fp.duration <= DURATION[CLIP] + 0.02


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.999])
def test_truncated_opus_raises_decode_error(shared_data: Path, tmp_path: Path, fraction: float) -> None:
    data = opus(shared_data / CLIP, tmp_path / "x.opus", "-b:a", "64k").read_bytes()
    with pytest.raises(DecodeError, match=r"truncated Ogg.*|after \d+\.\d+ s"):
        audio_fingerprint(data[: int(len(data) * fraction)])


def test_corrupt_opus_never_crashes(shared_data: Path, tmp_path: Path) -> None:
    data = opus(shared_data / CLIP, tmp_path / "x.opus", "-b:a", "64k").read_bytes()
    scribble_never_crashes(data, np.random.default_rng(4), 4)
