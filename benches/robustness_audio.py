"""Robustness of AudioIndex excerpt search on the dev corpus (a script, not a test).

Indexes the tracks in ../shared/data/audio/tracks, cuts 10 s and 30 s excerpts at seeded
random offsets, edits them (codecs, gain, noise, low-pass, tempo, pitch) and prints a
markdown table of top-1 identification with the right offset (within one Chromaprint item,
0.124 s), then false matches: excerpts of each track against an index of the *other* tracks
(the edited cells' draw, the whole track, and `--unrelated` more unedited 10 s excerpts per
track), and silence / noise / tone queries against the full index.

    python benches/robustness_audio.py              # full table (about a minute)
    python benches/robustness_audio.py --quick      # 2 tracks, 1 edit: the smoke test

Edits are numpy/scipy (phase-vocoder tempo and pitch, Butterworth low-pass); the codec
edits round-trip through Debian's ffmpeg (`apt-get install -y ffmpeg`): MP3 64 kbit/s
(libmp3lame) and Opus 32 kbit/s in Ogg (libopus).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from scipy import signal

import fingerprint

ROOT = Path(__file__).resolve().parent.parent
TRACKS = ROOT.parent / "shared" / "data" / "audio" / "tracks"
RATE = 22050
ITEM = 1365 / 11025
SEMITONE = 2 ** (1 / 12)


def decode(path: Path) -> np.ndarray:
    """Mono float32 samples at 22050 Hz through our own decoder-independent path (ffmpeg)."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(out, dtype=np.float32).copy()


def codec(x: np.ndarray, args: List[str], fmt: str) -> np.ndarray:
    """Encode with ffmpeg and decode back to 22050 Hz mono float32."""
    enc = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", "-"]
        + args
        + ["-f", fmt, "-"],
        input=x.astype(np.float32).tobytes(),
        check=True,
        capture_output=True,
    ).stdout
    dec = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", fmt, "-i", "-", "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"],
        input=enc,
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(dec, dtype=np.float32).copy()


def stretch(x: np.ndarray, rate: float, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """Phase-vocoder time stretch: `rate` > 1 plays faster (shorter), pitch unchanged."""
    win = np.hanning(n_fft).astype(np.float64)
    pad = np.concatenate([np.zeros(n_fft), x.astype(np.float64), np.zeros(n_fft)])
    frames = 1 + (len(pad) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.fft.rfft(pad[idx] * win, axis=1)
    mag, ang = np.abs(spec), np.angle(spec)
    omega = 2 * np.pi * hop * np.arange(spec.shape[1]) / n_fft
    steps = np.arange(0, frames - 1, rate)
    i = steps.astype(int)
    frac = (steps - i)[:, None]
    out_mag = (1 - frac) * mag[i] + frac * mag[i + 1]
    dphi = ang[i + 1] - ang[i] - omega
    dphi -= 2 * np.pi * np.round(dphi / (2 * np.pi))
    phase = ang[0] + np.concatenate([np.zeros((1, len(omega))), np.cumsum(omega + dphi, axis=0)[:-1]])
    frames_out = np.fft.irfft(out_mag * np.exp(1j * phase), n=n_fft, axis=1) * win
    y = np.zeros(hop * (len(steps) - 1) + n_fft)
    norm = np.zeros_like(y)
    for k, f in enumerate(frames_out):
        y[k * hop : k * hop + n_fft] += f
        norm[k * hop : k * hop + n_fft] += win**2
    y /= np.maximum(norm, 1e-3)
    trim = int(round(n_fft / rate))
    return y[trim : trim + int(round(len(x) / rate))].astype(np.float32)


def pitch(x: np.ndarray, semitones: float) -> np.ndarray:
    """Pitch shift keeping the duration: stretch longer, then resample back."""
    r = SEMITONE**semitones
    y = stretch(x, 1 / r)
    return signal.resample(y, len(x)).astype(np.float32)


def noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    power = float(np.mean(x.astype(np.float64) ** 2))
    n = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(x))
    return (x + n).astype(np.float32)


def lowpass(x: np.ndarray, hz: float) -> np.ndarray:
    sos = signal.butter(8, hz, fs=RATE, output="sos")
    return signal.sosfiltfilt(sos, x).astype(np.float32)


Edit = Callable[[np.ndarray, np.random.Generator], np.ndarray]
# name -> (edit, time scale of the result relative to the original)
EDITS: Dict[str, Tuple[Edit, float]] = {
    "none": (lambda x, r: x, 1.0),
    "mp3 64k": (lambda x, r: codec(x, ["-c:a", "libmp3lame", "-b:a", "64k"], "mp3"), 1.0),
    "ogg/opus 32k": (lambda x, r: codec(x, ["-c:a", "libopus", "-b:a", "32k"], "ogg"), 1.0),
    "gain -10 dB": (lambda x, r: (x * 10 ** (-10 / 20)).astype(np.float32), 1.0),
    "noise 10 dB": (lambda x, r: noise(x, 10, r), 1.0),
    "noise 0 dB": (lambda x, r: noise(x, 0, r), 1.0),
    "low-pass 3 kHz": (lambda x, r: lowpass(x, 3000), 1.0),
    "tempo +2%": (lambda x, r: stretch(x, 1.02), 1.02),
    "tempo +5%": (lambda x, r: stretch(x, 1.05), 1.05),
    "pitch +1 st": (lambda x, r: pitch(x, 1.0), 1.0),
}


def fp(x: np.ndarray) -> fingerprint.AudioFingerprint:
    """A query's fingerprint, as `AudioIndex.query` makes it from a source."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    return fingerprint.audio_fingerprint(x, RATE, landmarks=True, phases=True)


def excerpts(
    audio: List[np.ndarray], length: float, per_track: int, rng: np.random.Generator
) -> List[Tuple[int, float, np.ndarray]]:
    out = []
    n = int(length * RATE)
    for t, x in enumerate(audio):
        for _ in range(per_track):
            start = int(rng.integers(0, len(x) - n))
            out.append((t, start / RATE, x[start : start + n]))
    return out


def correct(m: fingerprint.AudioMatch, track: int, offset: float) -> bool:
    return m.track_id == track and abs(m.offset_items - round(offset / ITEM)) <= 1


def in_repeats(m: fingerprint.AudioMatch, offset: float) -> bool:
    """Whether the right place is among the other places the match names (a track that
    plays the passage twice)."""
    return any(abs(r - offset) <= 1.5 * ITEM for r in m.repeats)


def similarity(audio: np.ndarray, offset: float, found: float, length: float) -> float:
    """How alike the track's audio is at `found` and at `offset`: the peak normalised
    cross-correlation of the two spans over lags within one item. Near 1 the track repeats
    itself there (a loop, a copied bar), and a fingerprint can hardly tell the places apart."""
    n = int(length * RATE)
    a = audio[int(offset * RATE) : int(offset * RATE) + n].astype(np.float64)
    lo = max(0, int((found - ITEM) * RATE))
    b = audio[lo : int((found + ITEM) * RATE) + n].astype(np.float64)
    if len(a) < n or len(b) < n or not a.any():
        return 0.0
    corr = signal.correlate(b, a, mode="valid", method="fft")
    energy = np.convolve(b * b, np.ones(n), mode="valid")
    return float(np.max(corr / np.sqrt(np.maximum(energy, 1e-12) * (a * a).sum())))


def run(
    tracks: List[Path], edits: List[str], lengths: List[float], per_track: int, seed: int, unrelated: int
) -> str:
    t0 = time.perf_counter()
    audio = [decode(p) for p in tracks]
    index = fingerprint.AudioIndex()
    for i, p in enumerate(tracks):
        index.add(i, p)
    lines = [
        f"Top-1 identification with the right offset (within one item, 0.124 s): {len(tracks)} "
        f"tracks indexed, {per_track} excerpts per track and cell, seed {seed}.",
        "",
        "| edit | " + " | ".join(f"{length:g} s" for length in lengths) + " | matched by (chroma/landmark) |",
        "|---|" + "---|" * len(lengths) + "---|",
    ]
    repeats: List[str] = []  # right track, wrong place
    for name in edits:
        edit, _ = EDITS[name]
        cells, methods = [], {"chroma": 0, "landmark": 0}
        for length in lengths:
            rng = np.random.default_rng([seed, int(length), list(EDITS).index(name)])
            ok = total = 0
            for track, offset, x in excerpts(audio, length, per_track, rng):
                found = index.query(fp(edit(x, rng)), top=1)
                total += 1
                if found and correct(found[0], track, offset):
                    ok += 1
                    methods[found[0].method] += 1
                elif found and found[0].track_id == track:
                    at = found[0].offset_items * ITEM
                    alike = similarity(audio[track], offset, at, length)
                    named = in_repeats(found[0], offset)
                    repeats.append(f"{name} {length:g} s, track {track}: {offset:.2f} s found at {at:.2f} s "
                                   f"(waveform correlation {alike:.2f}"
                                   f"{'; the right place is among its repeats' if named else ''})")
            cells.append(f"{ok}/{total} ({100 * ok / total:.0f}%)")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {methods['chroma']}/{methods['landmark']} |")

    if repeats:
        lines += ["", f"Misses in the right track at another place ({len(repeats)}): " + "; ".join(repeats) + "."]

    # False matches: each track's excerpts against an index of the other tracks.
    false = queries = sweep = sweep_false = 0
    worst: Optional[str] = None
    for held in range(len(tracks)):
        others = fingerprint.AudioIndex()
        for i, p in enumerate(tracks):
            if i != held:
                others.add(i, p)
        rng = np.random.default_rng([seed, held, 99])
        qs = [x for length in lengths for _, _, x in excerpts([audio[held]], length, per_track, rng)]
        qs.append(audio[held])  # the whole track
        for x in qs:
            queries += 1
            found = others.query(fp(x), top=1)
            if found:
                false += 1
                worst = repr(found[0])
        # Many more unedited 10 s excerpts: chance matches between tracks in the same key
        # and style are rare (about 1e-3), so a few hundred queries would not see them.
        rng = np.random.default_rng([seed, held, 98])
        for _, at, x in excerpts([audio[held]], 10.0, unrelated, rng):
            sweep += 1
            found = others.query(fp(x), top=1)
            if found:
                sweep_false += 1
                worst = f"track {held} at {at:.2f} s: {found[0]!r}"
    rng = np.random.default_rng(seed)
    junk = {}
    for length in lengths:
        n = int(length * RATE)
        t = np.arange(n) / RATE
        junk[f"silence {length:g} s"] = np.zeros(n, np.float32)
        junk[f"white noise {length:g} s"] = rng.normal(0, 0.1, n).astype(np.float32)
        junk[f"pink-ish noise {length:g} s"] = lowpass(rng.normal(0, 0.3, n).astype(np.float32), 500)
        junk[f"440 Hz tone {length:g} s"] = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    junk_false = 0
    for name, x in junk.items():
        if index.query(fp(x), top=1):
            junk_false += 1
            worst = name
    lines += [
        "",
        "| false matches | queries | matched |",
        "|---|---|---|",
        f"| excerpts and whole tracks vs an index without their track | {queries} | {false} |",
        f"| more unedited 10 s excerpts, same | {sweep} | {sweep_false} |",
        f"| silence, white/pink noise, pure tone vs the full index | {len(junk)} | {junk_false} |",
        "",
        f"({time.perf_counter() - t0:.0f} s{'; last false match: ' + worst if worst else ''})",
    ]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 tracks, 1 edit, 1 excerpt per cell")
    ap.add_argument("--tracks", type=int, default=None, help="index only the first N tracks")
    ap.add_argument("--edits", nargs="*", default=None, choices=list(EDITS), metavar="EDIT")
    ap.add_argument("--per-track", type=int, default=5, help="excerpts per track and cell")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--unrelated", type=int, default=200,
                    help="extra unedited 10 s excerpts per track for the false-match sweep")
    args = ap.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        print("ffmpeg not found: apt-get install -y ffmpeg", file=sys.stderr)
        return 2
    tracks = sorted(TRACKS.glob("*.ogg"))
    edits = args.edits or list(EDITS)
    per_track = args.per_track
    if args.quick:
        tracks, edits, per_track = tracks[:2], args.edits or ["noise 10 dB"], 1
        args.unrelated = min(args.unrelated, 3)
    if args.tracks:
        tracks = tracks[: args.tracks]
    print(run(tracks, edits, [10.0, 30.0], per_track, args.seed, args.unrelated))
    return 0


if __name__ == "__main__":
    sys.exit(main())
