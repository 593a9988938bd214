"""Thread scaling of the parallel paths, with faiss at the same thread counts.

    python benches/scaling.py [--threads 1,2,4,8,16] [--ceiling] [--data ../shared/data]

Measures, best of `--reps` runs each, at every thread count:
- `hash_images` (PDQ and pHash) over the real photos in `data/images`, as encoded bytes
  in memory (decode included, no file system), the list repeated so every thread has work;
- `audio_fingerprints` over the music in `data/audio/tracks` (decode, resample, chroma);
- `AudioIndex.query_many` of the clips in `data/audio/clips` against those tracks (decode,
  fingerprint with landmarks, query);
- `HammingIndex.search` at 256 and 64 bits (1M random codes, 2000 queries, k=10) next to
  faiss `IndexBinaryFlat` with `omp_set_num_threads` at the same count;
- `find_duplicates` (flat) over 100k random 256-bit codes at radius 31.
Prints the speed-up over one thread. `--ceiling` adds the machine's own limit for each row:
t independent one-thread processes of the same case run at once (no shared work, no
synchronisation), so shared caches, memory bandwidth, SMT siblings and turbo clocks show up
there too and "near-linear" can be judged against what the cores can give.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np

import fingerprint as fp

HERE = Path(__file__).resolve().parent


def best(fn: Callable[[], object], reps: int) -> float:
    fn()  # warm-up: page faults, thread pools, caches
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def read_rate_gbs() -> float:
    """One core's read rate over a 512 MiB array (numpy sum), GB/s."""
    a = np.ones(64 * 1024 * 1024, dtype=np.float64)
    t = best(lambda: a.sum(), 3)
    return a.nbytes / t / 1e9


def media(folder: Path, suffixes: tuple, min_items: int) -> List[bytes]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in suffixes)
    if not files:
        raise SystemExit(f"no {suffixes} files under {folder}")
    blobs = [p.read_bytes() for p in files]
    return blobs * max(1, -(-min_items // len(blobs)))


def build_cases(data: Path, most: int, skip: set) -> Dict[str, Tuple[str, Callable[[], Callable[[int], object]]]]:
    """name -> (work description, factory of `run(threads)`): media are read here, codes are
    drawn (from fixed seeds) by the factories, so a spawned process rebuilds the same case."""
    cases: Dict[str, Tuple[str, Callable[[], Callable[[int], object]]]] = {}
    if "images" not in skip:
        photos = media(data / "images", (".jpg", ".jpeg", ".png"), PER_THREAD[0] * most)
        for algo in ("pdq", "phash"):
            def images(a: str = algo) -> Callable[[int], object]:
                return lambda t: fp.hash_images(photos, a, threads=t)
            cases[f"hash_images {algo}"] = (f"{len(photos)} images", images)
    if "audio" not in skip:
        tracks = media(data / "audio" / "tracks", (".ogg", ".mp3", ".flac", ".wav"), PER_THREAD[1] * most)

        def audio() -> Callable[[int], object]:
            return lambda t: fp.audio_fingerprints(tracks, t)
        cases["audio_fingerprints"] = (f"{len(tracks)} tracks", audio)
        clips = media(data / "audio" / "clips", (".ogg", ".mp3", ".flac", ".wav"), PER_THREAD[2] * most)
        files = sorted(p for p in (data / "audio" / "tracks").iterdir() if p.suffix == ".ogg")[:INDEXED]

        def queries() -> Callable[[int], object]:
            index = fp.AudioIndex()
            index.add_many(list(range(len(files))), files)
            return lambda t: index.query_many(clips, top=1, threads=t)
        cases["AudioIndex.query_many"] = (f"{len(clips)} clips of 20-30 s, {len(files)} tracks", queries)
    if "search" not in skip:
        for bits in (256, 64):
            def ours(b: int = bits) -> Callable[[int], object]:
                codes, queries = bank(b)
                index = fp.HammingIndex(b)
                index.add(codes)
                return lambda t: index.search(queries, 10, threads=t)
            cases[f"search {bits}-bit"] = (f"{BANK:,} codes x {QUERIES} queries, k=10", ours)
            if has_faiss():
                def peer(b: int = bits) -> Callable[[int], object]:
                    import faiss  # type: ignore[import-not-found]
                    codes, queries = bank(b)
                    flat = faiss.IndexBinaryFlat(b)
                    flat.add(codes)

                    def run(t: int) -> object:
                        faiss.omp_set_num_threads(t)
                        return flat.search(queries, 10)
                    return run
                cases[f"faiss {bits}-bit"] = (f"{BANK:,} codes x {QUERIES} queries, k=10", peer)
    if "dedup" not in skip:
        def dedup() -> Callable[[int], object]:
            codes = np.random.default_rng(11).integers(0, 256, (DEDUP, 32), dtype=np.uint8)
            return lambda t: fp.find_duplicates(codes, 31, method="flat", threads=t)
        cases["find_duplicates"] = (f"{DEDUP:,} x 256-bit, radius 31, flat", dedup)
    return cases


BANK, QUERIES, DEDUP = 1_000_000, 2000, 100_000
# Images, tracks and clips per thread of the largest count, so every worker has a fair share.
PER_THREAD = (32, 6, 12)
# Tracks indexed for the query case (all of them unless --quick).
INDEXED = 1_000


def shrink() -> None:
    """`--quick`: tiny inputs, for the smoke test."""
    global BANK, QUERIES, DEDUP, PER_THREAD, INDEXED
    BANK, QUERIES, DEDUP, PER_THREAD, INDEXED = 20_000, 50, 3_000, (1, 1, 1), 2


def bank(bits: int) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 256, (BANK, bits // 8), dtype=np.uint8)
    return codes, rng.integers(0, 256, (QUERIES, bits // 8), dtype=np.uint8)


def has_faiss() -> bool:
    try:
        import faiss  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


def ceiling_worker(data: Path, most: int, name: str, quick: bool, barrier, out) -> None:
    """One of t independent single-thread processes running `name` at the same time."""
    if quick:
        shrink()
    run = build_cases(data, most, set())[name][1]()
    run(1)  # warm-up
    barrier.wait()
    t = time.perf_counter()
    run(1)
    out.put(time.perf_counter() - t)


def ceiling(data: Path, most: int, name: str, quick: bool, t: int, one: float) -> float:
    """The machine's own limit: t processes each running the one-thread case at once share the
    cores with no synchronisation; returns their combined speed-up over one alone."""
    ctx = mp.get_context("spawn")  # rayon's pools do not survive fork
    barrier, out = ctx.Barrier(t), ctx.Queue()
    procs = [ctx.Process(target=ceiling_worker, args=(data, most, name, quick, barrier, out))
             for _ in range(t)]
    for p in procs:
        p.start()
    walls = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return t * one / max(walls)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE.parent / ".." / "shared" / "data")
    ap.add_argument("--threads", default=None, help="comma list (default 1,2,4,.. up to cores)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip", default="", help="comma list of: images,audio,search,dedup")
    ap.add_argument("--ceiling", action="store_true",
                    help="also run t one-thread processes at once: the machine's own limit")
    ap.add_argument("--quick", action="store_true", help="tiny inputs (the smoke test)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.quick:
        shrink()
    cores = os.cpu_count() or 1
    if args.threads:
        counts = [int(t) for t in args.threads.split(",")]
    else:
        counts = sorted({min(2**i, cores) for i in range(cores.bit_length() + 1)})
    most = max(counts)
    print(f"CPU: {cpu_model()} ({cores} logical cores), SIMD: {fp.simd_level()}")
    print(f"one-core read rate (numpy sum, 512 MiB): {read_rate_gbs():.1f} GB/s")

    cases = build_cases(args.data, most, set(filter(None, args.skip.split(","))))
    results: Dict[str, Dict[int, float]] = {}
    limits: Dict[str, Dict[int, float]] = {}
    print(f"\n{'case':<20} {'threads':>7} {'seconds':>8} {'speed-up':>8} {'ceiling':>8}  work")
    for name, (work, factory) in cases.items():
        fn = factory()
        results[name], limits[name] = {}, {}
        for t in counts:
            secs = best(lambda: fn(t), args.reps)
            results[name][t] = secs
            up = results[name][counts[0]] / secs * counts[0]
            lim = ""
            if args.ceiling and t > 1:
                limits[name][t] = ceiling(args.data, most, name, args.quick, t, results[name][1])
                lim = f"{limits[name][t]:.2f}x"
            print(f"{name:<20} {t:>7} {secs:>8.4f} {up:>7.2f}x {lim:>8}  {work}", flush=True)
    for bits in (256, 64):
        ours, peer = results.get(f"search {bits}-bit"), results.get(f"faiss {bits}-bit")
        if ours and peer:
            ratios = ", ".join(f"{t} thr {peer[t] / ours[t]:.2f}x" for t in counts)
            print(f"search {bits}-bit vs faiss (faiss time / ours): {ratios}")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_model(), "cores": cores, "seconds": results,
                                         "ceiling": limits}, indent=1))


if __name__ == "__main__":
    main()
