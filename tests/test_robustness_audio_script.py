"""The robustness script runs end to end in its quick mode (2 tracks, 1 edit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_mode_prints_the_tables() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "benches" / "robustness_audio.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "| edit | 10 s | 30 s |" in out
    assert "| noise 10 dB | 2/2 (100%) | 2/2 (100%) |" in out, out
    assert "| excerpts and whole tracks vs an index without their track | 6 | 0 |" in out, out
    assert "| more unedited 10 s excerpts, same | 6 | 0 |" in out, out
    assert "| silence, white/pink noise, pure tone vs the full index | 8 | 0 |" in out, out
