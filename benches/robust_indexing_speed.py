"""Indexing time per image of RobustImageIndex against plain PDQ, one thread each, same process.

Times `_core.robust_features` (what `RobustImageIndex.add_many` calls per batch), `add_many`
into a fresh index, and `hash_images(..., "pdq", threads=1)` on the encoded files of
../shared/data/images/{originals,distractors}, read into memory first; prints the median over
`--reps` repetitions of each.

    python benches/robust_indexing_speed.py --reps 7
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import fingerprint as fp
from fingerprint import _core
from fingerprint._robust import INDEX_KEYPOINTS, MIN_SEPARATION

IMAGES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "images"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    files = sorted(p for d in ("originals", "distractors") for p in (IMAGES / d).iterdir() if p.is_file())
    data = [p.read_bytes() for p in files]
    n = len(data)
    # Warm up pools and thread-local buffers.
    fp.hash_images(data[:4], "pdq", threads=1)
    _core.robust_features(data[:4], INDEX_KEYPOINTS, MIN_SEPARATION, 1)
    times = {"robust_features": [], "add_many": [], "pdq": []}
    for _ in range(args.reps):
        t = time.perf_counter()
        _core.robust_features(data, INDEX_KEYPOINTS, MIN_SEPARATION, 1)
        times["robust_features"].append(time.perf_counter() - t)
        t = time.perf_counter()
        fp.hash_images(data, "pdq", threads=1)
        times["pdq"].append(time.perf_counter() - t)
        t = time.perf_counter()
        fp.RobustImageIndex(threads=1).add_many(list(range(n)), data)
        times["add_many"].append(time.perf_counter() - t)
    ms = {k: 1e3 * statistics.median(v) / n for k, v in times.items()}
    print(f"{n} files, {args.reps} repetitions, one thread, median ms per image: "
          f"robust features {ms['robust_features']:.2f}, add_many {ms['add_many']:.2f}, "
          f"plain PDQ {ms['pdq']:.2f}; PDQ's time over robust: features "
          f"{ms['pdq'] / ms['robust_features']:.3f}, add_many {ms['pdq'] / ms['add_many']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
