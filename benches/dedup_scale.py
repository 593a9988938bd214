"""`fingerprint dedup` on a large generated folder: phase times, peak memory, decode-only baseline.

Generates N JPEGs (seeded) from the shared photos: random crops, sizes and qualities, plus a
planted near-copy (re-encoded, resized) for one file in every 50. Then it runs the real command
(`fingerprint dedup DIR --timings --json ...`) in a subprocess, reads its peak RSS from the OS,
and times dedup's hash phase against a full decode of a sample of the same files (alternating
chunks, same threads, so that other load on the machine hits both alike).

    python benches/dedup_scale.py --n 100000 --dir /tmp/fp-100k      # generate (once) and run
    python benches/dedup_scale.py --n 2000                            # a quick run
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import List, Tuple

import numpy as np

IMAGES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "images"
PLANT_EVERY = 50


def _sources() -> List[Path]:
    return sorted(p for d in ("originals", "distractors") for p in (IMAGES / d).glob("*.jpg"))


def _make(args: Tuple[int, int, str]) -> int:
    """Write files [start, stop) of the folder; returns how many were written."""
    from PIL import Image

    start, stop, folder = args
    sources = _sources()
    opened = {}
    written = 0
    for i in range(start, stop):
        out = Path(folder) / f"{i // 1000:03d}" / f"img_{i:06d}.jpg"
        if out.exists():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(i)
        src = sources[int(rng.integers(len(sources)))]
        if src not in opened:
            with Image.open(src) as im:
                opened[src] = im.convert("RGB")
        im = opened[src]
        keep = rng.uniform(0.3, 1.0)
        w, h = max(16, int(im.width * keep)), max(16, int(im.height * keep))
        x, y = int(rng.integers(0, im.width - w + 1)), int(rng.integers(0, im.height - h + 1))
        side = int(rng.integers(240, 641))
        scale = side / max(w, h)
        tile = im.crop((x, y, x + w, y + h)).resize((max(8, int(w * scale)), max(8, int(h * scale))))
        buf = io.BytesIO()
        tile.save(buf, "JPEG", quality=int(rng.integers(60, 96)))
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, out)
        written += 1
        if i % PLANT_EVERY == 0:
            copy = out.with_name(out.stem + "_copy.jpg")
            small = tile.resize((max(8, tile.width * 3 // 4), max(8, tile.height * 3 // 4)))
            buf = io.BytesIO()
            small.save(buf, "JPEG", quality=70)
            copy.write_bytes(buf.getvalue())
            written += 1
    return written


def generate(folder: Path, n: int, workers: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    step = 500
    jobs = [(s, min(n, s + step), str(folder)) for s in range(0, n, step)]
    with ProcessPoolExecutor(workers) as pool:
        for _ in pool.map(_make, jobs):
            pass


def hash_vs_decode(paths: List[str], threads: int, algorithm: str) -> Tuple[float, float]:
    """Seconds to fully decode `paths` and to run dedup's hash phase on them, measured in
    alternating chunks so that load from other processes hits both alike."""
    import fingerprint as fp
    from fingerprint.cli._common import hash_files

    def one(p: str) -> None:
        try:
            fp.decode_image(p)
        except fp.FingerprintError:
            pass

    decode = hashing = 0.0
    with ThreadPoolExecutor(threads) as pool:
        # Warm up both (thread pools, page cache of the first files) before timing.
        list(pool.map(one, paths[:16]))
        hash_files(paths[:16], algorithm, flips=algorithm == "pdq", threads=threads, quiet=True)
        for k in range(0, len(paths), 256):
            chunk = paths[k : k + 256]
            start = time.perf_counter()
            for _ in pool.map(one, chunk):
                pass
            decode += time.perf_counter() - start
            start = time.perf_counter()
            hash_files(chunk, algorithm, flips=algorithm == "pdq", threads=threads, quiet=True)
            hashing += time.perf_counter() - start
    return decode, hashing


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="images to generate (plus 1 in 50 planted copies)")
    ap.add_argument("--dir", type=Path, default=None, help="folder (default: /tmp/fp-dedup-N)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--algorithm", default="pdq")
    args = ap.parse_args(argv)
    folder = args.dir or Path(f"/tmp/fp-dedup-{args.n}")
    t = time.perf_counter()
    generate(folder, args.n, args.threads)
    paths = sorted(str(p) for p in folder.rglob("*.jpg"))
    size = sum(os.path.getsize(p) for p in paths)
    print(f"folder: {folder}: {len(paths)} files, {size / 1e6:.0f} MB (ready in {time.perf_counter() - t:.0f} s)")

    out = folder.with_suffix(".json")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cmd = [sys.executable, "-m", "fingerprint", "dedup", str(folder), "--algorithm", args.algorithm,
           "--threads", str(args.threads), "--quiet", "--timings", "--json", str(out)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    peak_mb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    result = json.loads(out.read_text())
    phases = result["timings"]
    groups = result["groups"]
    planted = sum(1 for p in paths if p.endswith("_copy.jpg"))
    found = sum(
        1 for g in groups for m in g["members"]
        if m["path"].endswith("_copy.jpg")
        and any(o["path"] == m["path"].replace("_copy.jpg", ".jpg") for o in g["members"])
    )
    sample = paths[:: max(1, len(paths) // 2500)]
    decode, hashing = hash_vs_decode(sample, args.threads, args.algorithm)
    print(f"dedup wall {wall:.1f} s, peak RSS {peak_mb:.0f} MB, threads {args.threads}")
    print("phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()))
    print(f"group phase = {100 * phases['group'] / wall:.1f}% of the wall time")
    print(f"hash phase vs full decode on {len(sample)} of the files, alternating chunks: decode "
          f"{decode:.2f} s, hash {hashing:.2f} s = {hashing / decode:.2f}x")
    print(f"groups: {len(groups)}; planted copies found with their original: {found}/{planted}; "
          f"failed: {len(result['failed'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
