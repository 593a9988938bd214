"""Index files written by `fingerprint index build`: the .fpi plus a JSON sidecar of paths.

The sidecar `bank.fpi.json` records the algorithm and the path of every id, so `search` can
print paths. Both files are written atomically (temporary file, fsync, rename); the sidecar
is written last and records the index's length, so a half-finished update is detected.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import fingerprint

from ._common import ALGORITHMS, CliError

FORMAT = "fingerprint-bank"
VERSION = 1


def sidecar_path(bank: str) -> str:
    """The JSON sidecar beside an index file."""
    return bank + ".json"


@dataclass
class Bank:
    """An index with its algorithm and the path of each id."""

    path: str
    index: "fingerprint.HammingIndex"
    algorithm: str
    paths: Dict[int, str] = field(default_factory=dict)
    failed: List[Dict[str, str]] = field(default_factory=list)

    def next_id(self) -> int:
        """The first id above every id in use."""
        ids = self.index.ids()
        return int(ids.max()) + 1 if len(ids) else 0


def write_json_atomic(path: str, data: Any) -> None:
    """Write JSON to `path` via a temporary file in the same folder, fsync, rename."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def save(bank: Bank) -> None:
    """Write the index, then its sidecar."""
    bank.index.save(bank.path)
    write_json_atomic(
        sidecar_path(bank.path),
        {
            "format": FORMAT,
            "version": VERSION,
            "algorithm": bank.algorithm,
            "bits": bank.index.bits,
            "count": len(bank.index),
            "paths": {str(k): v for k, v in sorted(bank.paths.items())},
            "failed": bank.failed,
        },
    )


def load(path: str) -> Bank:
    """Read an index and its sidecar; raises `CliError` when either is missing or they disagree."""
    if not os.path.isfile(path):
        raise CliError(f"no such index file: {path}")
    try:
        index = fingerprint.HammingIndex.load(path)
    except (fingerprint.FingerprintError, OSError, ValueError) as e:
        raise CliError(f"cannot read index {path}: {e}") from e
    side = sidecar_path(path)
    meta: Optional[Dict[str, Any]] = None
    if os.path.isfile(side):
        try:
            with open(side, encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError) as e:
            raise CliError(f"cannot read {side}: {e}") from e
    if meta is None:
        raise CliError(
            f"{side} is missing: {path} was not written by `fingerprint index build` "
            "(the sidecar records the algorithm and the paths)"
        )
    if meta.get("format") != FORMAT or meta.get("algorithm") not in ALGORITHMS:
        raise CliError(f"{side} is not a fingerprint bank sidecar")
    if meta.get("count") != len(index) or meta.get("bits") != index.bits:
        raise CliError(
            f"{path} ({len(index)} codes, {index.bits} bits) and {side} "
            f"({meta.get('count')} codes, {meta.get('bits')} bits) disagree; rebuild the bank"
        )
    paths = {int(k): str(v) for k, v in meta.get("paths", {}).items()}
    return Bank(path, index, str(meta["algorithm"]), paths, list(meta.get("failed", [])))
