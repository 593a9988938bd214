"""AudioIndex on a larger music corpus of your own (a script, not a test).

The dev corpus holds 10 tracks, too few to see how excerpt search behaves when an index
holds hours of music in one style. Point this script at folders of audio files (any format
the index decodes; hundreds of tracks, hours of music): it splits the tracks into two
seeded halves, indexes one half and queries the other with unedited 10 s excerpts (every
match is a false match, each is listed with what matched it), then swaps the halves; and
it queries each half with excerpts of its own tracks, edited, for top-1 identification
with the right offset in the larger index, and times the queries.

    python benches/corpus_audio.py --corpus /path/to/music --per-track 12

The dev tracks (`../shared/data/audio/tracks`) are added unless `--no-dev`. Tracks shorter
than 40 s are skipped. Needs Debian's ffmpeg, as `robustness_audio.py` does.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

import fingerprint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from robustness_audio import EDITS, ITEM, RATE, TRACKS, correct, decode, excerpts, fp, in_repeats  # noqa: E402

AUDIO = {".ogg", ".oga", ".opus", ".mp3", ".flac", ".wav", ".m4a"}


def collect(folders: List[Path], dev: bool) -> List[Path]:
    files = sorted(p for d in folders for p in d.rglob("*") if p.suffix.lower() in AUDIO)
    if dev:
        files = sorted(TRACKS.glob("*.ogg")) + files
    return files


def miss(misses: Dict[str, int], edit: str, kind: str) -> None:
    misses[f"{edit}, {kind}"] = misses.get(f"{edit}, {kind}", 0) + 1


def build(paths: List[Path], ids: List[int]) -> Tuple[fingerprint.AudioIndex, float]:
    index = fingerprint.AudioIndex()
    hours = 0.0
    for i in ids:
        f = fingerprint.audio_fingerprint(str(paths[i]), landmarks=True)
        index.add(i, f)
        hours += f.duration / 3600
    return index, hours


def run(paths: List[Path], per_track: int, edited: int, edits: List[str], seed: int) -> str:
    t0 = time.perf_counter()
    audio, unread = [], []
    for p in paths:
        try:
            audio.append(decode(p))
        except subprocess.CalledProcessError:  # ffmpeg refuses it: leave it out
            audio.append(np.zeros(0, np.float32))
            unread.append(p.name)
    keep = [i for i, x in enumerate(audio) if len(x) >= 40 * RATE]
    order = np.random.default_rng(seed).permutation(keep)
    halves = [sorted(order[: len(order) // 2].tolist()), sorted(order[len(order) // 2 :].tolist())]
    hours_all = sum(len(audio[i]) for i in keep) / RATE / 3600
    lines = [
        f"{len(keep)} tracks ({hours_all:.1f} h) in two halves, seed {seed}"
        + (f"; ffmpeg could not read {len(unread)}: {', '.join(unread)}." if unread else "."),
        "",
        "| indexed half | hours | queries from the other half | false matches | "
        + " | ".join(f"{e} top-1" for e in edits)
        + " | query ms (median, p99) |",
        "|---|---|---|---|" + "---|" * len(edits) + "---|",
    ]
    found_false: List[str] = []
    misses: Dict[str, int] = {}  # "edit: what was found instead" -> count
    for h, ids in enumerate(halves):
        others = halves[1 - h]
        index, hours = build(paths, ids)
        rng = np.random.default_rng([seed, h])
        false = queries = 0
        times: List[float] = []
        for t in others:
            for _, at, x in excerpts([audio[t]], 10.0, per_track, rng):
                q = fp(x)
                s = time.perf_counter()
                found = index.query(q, top=1)
                times.append(time.perf_counter() - s)
                queries += 1
                if found:
                    false += 1
                    m = found[0]
                    found_false.append(
                        f"{paths[t].name} at {at:.1f} s -> {paths[m.track_id].name} at {m.offset:.1f} s "
                        f"({m.method}, BER {m.bit_error_rate:.3f}, landmarks {m.landmarks}, "
                        f"tempo {m.time_scale:.3f}, pitch {m.pitch_shift:+.2f} st)"
                    )
        cells = []
        for name in edits:
            edit, _ = EDITS[name]
            ok = total = 0
            for t in ids:
                for _, offset, x in excerpts([audio[t]], 10.0, edited, rng):
                    found = index.query(fp(edit(x, rng)), top=1)
                    total += 1
                    if found and correct(found[0], t, offset):
                        ok += 1
                    elif not found:
                        miss(misses, name, "nothing")
                    elif found[0].track_id != t:
                        miss(misses, name, "another track")
                    elif in_repeats(found[0], offset):
                        miss(misses, name, "a repeat (right place in `repeats`)")
                    else:
                        miss(misses, name, "another place")
            cells.append(f"{ok}/{total}")
        ms = 1000 * np.array(times)
        lines.append(
            f"| {'AB'[h]} ({len(ids)} tracks) | {hours:.1f} | {queries} | {false} | "
            + " | ".join(cells)
            + f" | {np.median(ms):.1f}, {np.percentile(ms, 99):.1f} |"
        )
    if misses:
        lines += ["", "Edited misses: " + "; ".join(f"{k} {v}" for k, v in sorted(misses.items())) + "."]
    if found_false:
        lines += ["", "False matches: " + "; ".join(found_false) + "."]
    lines += ["", f"({time.perf_counter() - t0:.0f} s; top-1 means the right track within one item, {ITEM:.3f} s)"]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, nargs="+", required=True, help="folders of audio files")
    ap.add_argument("--no-dev", action="store_true", help="leave out the dev tracks")
    ap.add_argument("--per-track", type=int, default=12, help="unrelated 10 s excerpts per track")
    ap.add_argument("--edited", type=int, default=2, help="edited 10 s excerpts per indexed track and edit")
    ap.add_argument("--edits", nargs="*", default=["none", "noise 0 dB", "tempo +5%", "pitch +1 st"],
                    choices=list(EDITS), metavar="EDIT")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        print("ffmpeg not found: apt-get install -y ffmpeg", file=sys.stderr)
        return 2
    paths = collect(args.corpus, not args.no_dev)
    print(run(paths, args.per_track, args.edited, args.edits, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
