"""Build a HammingIndex from the bundled example codes, save it, reopen it mapped, search it.

Run: python examples/search_codes.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import fingerprint

HERE = Path(__file__).resolve().parent
THRESHOLD = 31  # PDQ's usual match radius, of 256 bits


def read_hex(path: Path) -> np.ndarray:
    """One hex code per line -> (n, bytes) uint8."""
    rows = [bytes.fromhex(line) for line in path.read_text().split()]
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), -1)


def main() -> int:
    bank = read_hex(HERE / "bank.hex")
    queries = read_hex(HERE / "queries.hex")
    index = fingerprint.HammingIndex(bank.shape[1] * 8)
    index.add(bank)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bank.fpi"
        index.save(path)
        index = fingerprint.HammingIndex.load(path, mmap=True)
        print(f"index: {len(index)} codes of {index.bits} bits, SIMD {fingerprint.simd_level()}")
        distances, ids = index.search(queries, k=1)
        matched = 0
        for qi, (d, i) in enumerate(zip(distances[:, 0], ids[:, 0])):
            verdict = f"copy of bank item {i}" if d <= THRESHOLD else "no match"
            matched += d <= THRESHOLD
            print(f"query {qi}: nearest id {i:5d} at distance {d:3d} -> {verdict}")
        pairs = fingerprint.find_duplicates(bank, THRESHOLD)
        print(f"{matched} of {len(queries)} queries matched; {len(pairs[0])} near-duplicate pairs inside the bank")
    return 0 if matched == 5 else 1


if __name__ == "__main__":
    sys.exit(main())
