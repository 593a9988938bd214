"""The thread-scaling script runs end to end on tiny inputs, ceiling processes included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_mode_measures_every_case(tmp_path: Path) -> None:
    out = tmp_path / "scaling.json"
    r = subprocess.run(
        [sys.executable, str(ROOT / "benches" / "scaling.py"), "--quick", "--ceiling",
         "--threads", "1,2", "--reps", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(out.read_text())
    cases = {"hash_images pdq", "hash_images phash", "audio_fingerprints", "AudioIndex.query_many", "search 256-bit",
             "search 64-bit", "find_duplicates"}
    assert cases <= set(result["seconds"]), result["seconds"].keys()
    for name in cases:
        assert set(result["seconds"][name]) == {"1", "2"}
        assert all(t > 0 for t in result["seconds"][name].values())
        assert result["ceiling"][name]["2"] > 0
    assert "search 256-bit vs faiss" in r.stdout  # faiss is a test dependency
