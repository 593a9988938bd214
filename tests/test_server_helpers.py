"""Helpers shared by tests/test_server_*.py (no tests here): a real server process, media bytes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "images"


def wav_bytes(seconds: float = 5.0, seed: int = 0, rate: int = 11025) -> bytes:
    """A mono 16-bit WAV of noise, enough for a Chromaprint fingerprint."""
    rng = np.random.default_rng(seed)
    samples = (rng.standard_normal(int(rate * seconds)) * 3000).astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def image_bytes(name: str = "originals/crab.jpg") -> bytes:
    """A real JPEG from examples/images."""
    return (EXAMPLES / name).read_bytes()


def start_server_process(data_dir: Path, *extra: str, env: Optional[Dict[str, str]] = None,
                         timeout: float = 120.0) -> "tuple[subprocess.Popen[str], int]":
    """`python -m fingerprint.cli serve --json` on a free port; returns (process, port)."""
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fingerprint.cli", "serve", "--data-dir", str(data_dir),
         "--port", "0", "--json", "--log-level", "warning", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=full_env,
    )
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the server is listening (or exits)
    if not line:
        err = proc.stderr.read() if proc.stderr else ""
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        stop_process(proc)
        raise AssertionError(f"server did not start (rc={proc.returncode}): {err}")
    import json

    return proc, int(json.loads(line)["port"])


def stop_process(proc: "subprocess.Popen[str]") -> None:
    """Kill a server process if it is still running and reap it."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=60)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def codes_for(ids: List[int], nbytes: int) -> np.ndarray:
    """Deterministic codes keyed by integer id (so a restarted server's content can be checked)."""
    out = np.empty((len(ids), nbytes), dtype=np.uint8)
    for row, i in enumerate(ids):
        out[row] = np.random.default_rng(i).integers(0, 256, nbytes, dtype=np.uint8)
    return out


def metadata_of(i: int) -> Dict[str, Any]:
    """Deterministic metadata for item i."""
    return {"n": str(i), "check": str(i * 7919 % 1000003)}
