"""benches/robustness_robust.py runs end to end on a few images (so it cannot rot)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benches" / "robustness_robust.py"


def test_robust_robustness_script_prints_a_table() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--limit", "3", "--pad", "2000"],
        capture_output=True,
        text=True,
        timeout=280,
        check=True,
    ).stdout
    lines = [line for line in out.splitlines() if line.startswith("|")]
    # Header, separator, 19 edits, mean recall, false-match rate.
    assert len(lines) == 23, out
    assert "robust" in lines[0] and "pdq+dihedral" in lines[0]
    assert lines[-1].startswith("| false-match rate")
    # Re-encoding is found by every method; flips only by the dihedral-aware ones.
    jpeg_row = next(line for line in lines if line.startswith("| jpeg q30"))
    assert jpeg_row.count("100%") == 4, jpeg_row
    flip_row = next(line for line in lines if line.startswith("| hflip"))
    assert flip_row.split("|")[-2].strip() == "100%", flip_row
    assert "codes per image" in out
