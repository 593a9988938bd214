"""The robustness script in benches/ runs end to end on a few images (so it cannot rot)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benches" / "robustness_images.py"


def test_robustness_script_prints_a_table() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--limit", "3"],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    ).stdout
    lines = [line for line in out.splitlines() if line.startswith("|")]
    # Header, separator, 13 edits, mean recall, false-match rate.
    assert len(lines) == 17, out
    assert "pdq" in lines[0] and "false-match rate" in lines[-1]
    # Untouched-ish edits must be found by every hash on these images.
    jpeg_row = next(line for line in lines if line.startswith("| jpeg q30"))
    assert jpeg_row.count("100%") == 5, jpeg_row
