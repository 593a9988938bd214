"""Audio fingerprint speed against fpcalc (Debian libchromaprint-tools), and AudioIndex query
time and size on a synthetic 10-hour index.

Run fully with `pytest benches/bench_audio.py --benchmark-enable`; in the test command
(`--benchmark-disable`) every bench runs once on a small setup as a smoke test.

The 10-hour index: the dev tracks' fingerprints (chroma items and landmarks, 22 min) indexed
again and again under new ids, each copy disguised as different music with the same
statistics: its items pass through a seeded random permutation of the 32 bits and its
landmark hashes are XORed with a seeded 23-bit mask (a bijection of the hash space). Queries
are 10 s excerpts of the real tracks, so the one undisguised copy must be found among
decoys that load the posting lists like 10 hours of music would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import fingerprint
from conftest import NOTES, TIMINGS, record

ROOT = Path(__file__).resolve().parent.parent
TRACKS = sorted((ROOT.parent / "shared" / "data" / "audio" / "tracks").glob("*.ogg"))
FPCALC = shutil.which("fpcalc")


def full(request) -> bool:
    return bool(request.config.getoption("benchmark_enable"))


@pytest.fixture(scope="module")
def pcm(tmp_path_factory):
    """Tracks as 11025 Hz mono int16 (decoded once by ffmpeg) and as WAV files for fpcalc."""
    assert shutil.which("ffmpeg"), "ffmpeg is needed to prepare the benchmark input"
    out, wavs = [], []
    d = tmp_path_factory.mktemp("pcm")
    for p in TRACKS:
        wav = d / f"{p.stem}.wav"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(p), "-ac", "1", "-ar", "11025", "-c:a", "pcm_s16le", str(wav)],
            check=True,
        )
        raw = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(wav), "-f", "s16le", "-"], check=True, capture_output=True
        ).stdout
        out.append(np.frombuffer(raw, dtype=np.int16).copy())
        wavs.append(wav)
    return out, wavs


def run_fpcalc(paths) -> None:
    for p in paths:
        r = subprocess.run([FPCALC, "-raw", "-length", "0", "-ignore-errors", str(p)], capture_output=True)
        assert r.returncode in (0, 3), r.stderr


def seconds_of(pcm_list) -> float:
    return sum(len(x) for x in pcm_list) / 11025


@pytest.mark.parametrize("engine", ["fingerprint", "fingerprint+landmarks", "fpcalc"])
def test_arithmetic(benchmark, request, pcm, engine):
    """Fingerprint arithmetic alone: 11025 Hz mono PCM in (fpcalc reads trivial WAVs; its
    time includes process start-up)."""
    samples, wavs = pcm
    if not full(request):
        samples, wavs = samples[:1], wavs[:1]
    benchmark.group = "audio arithmetic 11025 Hz mono, 1 core"
    if engine == "fpcalc":
        benchmark(run_fpcalc, wavs)
    else:
        marks = engine.endswith("landmarks")
        benchmark(lambda: [fingerprint.audio_fingerprint(x, 11025, landmarks=marks) for x in samples])
    record(benchmark, benchmark.group, engine)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        NOTES[f"arithmetic x real time ({engine})"] = f"{seconds_of(samples) / stats.stats.min:,.0f}x"


@pytest.mark.parametrize("engine", ["fingerprint", "fingerprint+landmarks", "fpcalc"])
def test_end_to_end_ogg(benchmark, request, pcm, engine):
    """From the OGG files: decode, downmix, resample, fingerprint (one file at a time)."""
    paths = TRACKS if full(request) else TRACKS[:1]
    benchmark.group = "audio end to end from OGG, 1 core"
    if engine == "fpcalc":
        benchmark(run_fpcalc, paths)
    else:
        marks = engine.endswith("landmarks")
        benchmark(lambda: [fingerprint.audio_fingerprint(p, landmarks=marks) for p in paths])
    record(benchmark, benchmark.group, engine)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        n = len(paths)
        secs = seconds_of(pcm[0][:n])
        NOTES[f"end to end x real time ({engine})"] = f"{secs / stats.stats.min:,.0f}x"


@pytest.mark.parametrize("threads", [1, 2])
def test_batch_ogg(benchmark, request, pcm, threads):
    """audio_fingerprints over the OGG files with 1 and 2 worker threads: the batch scaling."""
    paths = TRACKS if full(request) else TRACKS[:2]
    benchmark.group = "audio batch from OGG (audio_fingerprints)"
    batch = benchmark(fingerprint.audio_fingerprints, paths, threads)
    assert batch.ok.all()
    record(benchmark, benchmark.group, f"threads={threads}")
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        secs = seconds_of(pcm[0][: len(paths)])
        NOTES[f"batch x real time (threads={threads})"] = f"{secs / stats.stats.min:,.0f}x"
        one = TIMINGS.get((benchmark.group, "threads=1"))
        if threads == 2 and one:
            NOTES["batch speed-up, 2 threads over 1"] = f"{one / stats.stats.min:.2f}x"


def disguise(fp: fingerprint.AudioFingerprint, rng: np.random.Generator) -> fingerprint.AudioFingerprint:
    perm = rng.permutation(32)
    items = fp.items
    out = np.zeros_like(items)
    for src, dst in enumerate(perm):
        out |= ((items >> np.uint32(src)) & np.uint32(1)) << np.uint32(dst)
    marks = fp.landmarks.copy()
    marks[:, 0] ^= np.uint32(rng.integers(1, 1 << 23))
    return fingerprint.AudioFingerprint(out, fp.duration, landmarks=marks)


@pytest.fixture(scope="module")
def big_index(request, tmp_path_factory):
    fps = [fingerprint.audio_fingerprint(p, landmarks=True) for p in TRACKS]
    seconds = sum(f.duration for f in fps)
    copies = int(np.ceil(36000 / seconds)) if full(request) else 2
    ix = fingerprint.AudioIndex()
    rng = np.random.default_rng(0)
    for c in range(copies):
        for i, f in enumerate(fps):
            ix.add(c * 1000 + i, f if c == 0 else disguise(f, rng))
    path = tmp_path_factory.mktemp("ix") / "ten_hours.fpa"
    ix.save(path)
    hours = ix.duration / 3600
    chroma, marks = ix.memory
    NOTES["audio index"] = (
        f"{hours:.1f} h in {len(ix)} tracks; file {os.path.getsize(path) / hours / 1e6:.2f} MB/h; "
        f"postings in memory chroma {chroma / hours / 1e6:.2f} MB/h + landmarks {marks / hours / 1e6:.2f} MB/h"
    )
    return ix, fps, hours


@pytest.mark.parametrize("kind", ["chroma only", "chroma+landmarks"])
def test_query_10_hours(benchmark, big_index, pcm, kind):
    ix, fps, hours = big_index
    samples = pcm[0][5]
    start = 40 * 11025 + 1234  # out of phase with the item hop
    x = np.ascontiguousarray(samples[start : start + 10 * 11025])
    q = fingerprint.audio_fingerprint(x, 11025, landmarks=kind != "chroma only")
    benchmark.group = f"audio excerpt query 10 s, index {hours:.1f} h"
    found = benchmark(ix.query, q, 5)
    assert found and found[0].track_id == 5
    assert abs(found[0].offset - start / 11025) < 0.2
    record(benchmark, benchmark.group, f"fingerprint ({kind})")
