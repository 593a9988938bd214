"""The README's main job runs and finds the planted copies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_search_codes_example_finds_planted_copies_only():
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "search_codes.py")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "5 of 8 queries matched" in out
    assert out.count("-> copy of bank item") == 5
    assert out.count("-> no match") == 3
