"""`fingerprint hash`: one line per file, `hex  algorithm  path` (imagehash-compatible hex)."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Tuple

import click

import fingerprint

from ._common import (
    ALGORITHMS,
    EXIT_OK,
    chunk_size,
    chunks,
    collect,
    fingerprint_audio,
    print_failed,
)


@click.command(
    name="hash",
    epilog="""\b
Examples:
  fingerprint hash photo.jpg
  fingerprint hash -a phash photos/ --json > hashes.jsonl
""",
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-a", "--algorithm", type=click.Choice(ALGORITHMS), default="pdq", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of text.")
@click.option("--hidden", is_flag=True, help="Include hidden files and folders.")
@click.option("--threads", type=click.IntRange(1), default=None, help="Worker threads (default: all cores).")
def hash_cmd(
    paths: Tuple[str, ...], algorithm: str, as_json: bool, hidden: bool, threads: Optional[int]
) -> None:
    """Print the perceptual hash of each image (and Chromaprint of each audio file).

    The hex is imagehash's for ahash/dhash/phash/whash (str(imagehash.phash(img))) and PDQ's
    reference hex for pdq. Folders are walked recursively; unreadable files are listed at the
    end on stderr and do not stop the run.
    """
    images, audio = collect(paths, hidden)
    failed = []
    for batch in chunks(images, chunk_size(threads)):
        result = fingerprint.hash_images(list(batch), algorithm, threads)
        for i, path in enumerate(batch):
            if not result.ok[i]:
                failed.append((path, result.errors[i] or "unknown error"))
                continue
            h = result[i]
            _emit(as_json, h.hex, algorithm, path, h.quality)
    if audio:
        items, audio_failed = fingerprint_audio(audio, threads=threads, quiet=True)
        failed.extend(audio_failed)
        for it in items:
            _emit(as_json, it.fingerprint.encode(), "chromaprint", it.path, None,  # type: ignore[attr-defined]
                  duration=it.duration)
    print_failed(failed, err=True)
    raise SystemExit(EXIT_OK)


def _emit(as_json: bool, code: str, algorithm: str, path: str, quality: Optional[int],
          duration: Optional[float] = None) -> None:
    """One output line."""
    if as_json:
        rec: Dict[str, Any] = {"path": path, "algorithm": algorithm, "hash": code}
        if quality is not None:
            rec["quality"] = quality
        if duration is not None:
            rec["duration"] = round(duration, 3)
        click.echo(json.dumps(rec, ensure_ascii=False))
    else:
        click.echo(f"{code}  {algorithm}  {path}")
