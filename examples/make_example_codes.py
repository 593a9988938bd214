"""Regenerate examples/bank.hex and examples/queries.hex (seeded, reproducible).

The bank holds 2,000 random 256-bit codes (PDQ-sized). The queries are 5 bank codes
with a few bits flipped, as a re-encoded or resized copy would flip them, plus 3
unrelated codes that must not match.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> None:
    rng = np.random.default_rng(2026)
    bank = rng.integers(0, 256, (2000, 32), dtype=np.uint8)
    planted = [17, 404, 999, 1500, 1999]
    flips = [3, 9, 14, 21, 30]
    queries = []
    for row, nflip in zip(planted, flips):
        q = np.unpackbits(bank[row])
        q[rng.choice(256, nflip, replace=False)] ^= 1
        queries.append(np.packbits(q))
    queries += list(rng.integers(0, 256, (3, 32), dtype=np.uint8))
    (HERE / "bank.hex").write_text("".join(c.tobytes().hex() + "\n" for c in bank))
    (HERE / "queries.hex").write_text("".join(bytes(q).hex() + "\n" for q in queries))


if __name__ == "__main__":
    main()
