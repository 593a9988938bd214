"""The larger-corpus audio script runs end to end, here on the dev tracks as its corpus."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_halves_are_indexed_and_queried(shared_data: Path) -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "benches" / "corpus_audio.py"), "--corpus",
         str(shared_data / "audio" / "tracks"), "--no-dev", "--per-track", "1", "--edited", "1",
         "--edits", "none", "noise 10 dB"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("10 tracks"), out
    rows = re.findall(r"^\| ([AB]) \((\d+) tracks\) \| [\d.]+ \| (\d+) \| (\d+) \| (\d+)/(\d+) \| (\d+)/(\d+) \|", out, re.M)
    assert [(h, int(n)) for h, n, *_ in rows] == [("A", 5), ("B", 5)], out
    for _, _, queries, false, ok_none, n_none, ok_noise, n_noise in rows:
        assert (int(queries), int(false)) == (5, 0), out  # one excerpt per track of the other half
        assert ok_none == n_none == "5" and ok_noise == n_noise == "5", out
