"""`fingerprint index build|add|info`: banks of image hashes for `search` and `dedup --against`."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional, Tuple

import click
import numpy as np

import fingerprint

from . import _bank
from ._common import ALGORITHMS, EXIT_OK, collect, hash_files, human_bytes, print_failed


@click.group(
    epilog="""\b
Examples:
  fingerprint index build photos/ -o bank.fpi
  fingerprint index add bank.fpi new_photos/
  fingerprint index info bank.fpi --json
"""
)
def index() -> None:
    """Build, extend and describe index files (a .fpi plus its .fpi.json path list)."""


@index.command(
    epilog="""\b
Example:
  fingerprint index build photos/ archive/ -o bank.fpi -a pdq
"""
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Index file to write (its sidecar is OUTPUT.json).")
@click.option("-a", "--algorithm", type=click.Choice(ALGORITHMS), default="pdq", show_default=True)
@click.option("--method", type=click.Choice(["flat", "mih", "auto"]), default="auto",
              show_default=True, help="Search method stored with the index.")
@click.option("--hidden", is_flag=True, help="Include hidden files and folders.")
@click.option("--threads", type=click.IntRange(1), default=None, help="Worker threads (default: all cores).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def build(paths: Tuple[str, ...], output: str, algorithm: str, method: str, hidden: bool,
          threads: Optional[int], quiet: bool) -> None:
    """Hash the images under PATHS into a new index file OUTPUT (replacing it)."""
    images, audio = collect(paths, hidden)
    hashed = hash_files(images, algorithm, flips=False, threads=threads, quiet=quiet)
    idx = fingerprint.HammingIndex(hashed.bits, method=method)
    if len(hashed.paths):
        idx.add(hashed.codes, np.arange(len(hashed.paths), dtype=np.uint64))
    bank = _bank.Bank(
        output, idx, algorithm,
        {i: os.path.abspath(p) for i, p in enumerate(hashed.paths)},
        [{"path": p, "error": e} for p, e in hashed.failed],
    )
    _bank.save(bank)
    click.echo(f"Indexed {len(hashed.paths)} images with {algorithm} into {output} "
               f"(paths in {_bank.sidecar_path(output)}).")
    if audio:
        click.echo(f"Skipped {len(audio)} audio file(s): banks hold image hashes only.", err=True)
    print_failed(hashed.failed, err=True)
    raise SystemExit(EXIT_OK)


@index.command(
    epilog="""\b
Example:
  fingerprint index add bank.fpi new_photos/ more.jpg
"""
)
@click.argument("bank_path", metavar="BANK", type=click.Path(dir_okay=False))
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--hidden", is_flag=True, help="Include hidden files and folders.")
@click.option("--threads", type=click.IntRange(1), default=None, help="Worker threads (default: all cores).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def add(bank_path: str, paths: Tuple[str, ...], hidden: bool, threads: Optional[int],
        quiet: bool) -> None:
    """Add the images under PATHS to BANK; files already in it (same absolute path) are skipped."""
    bank = _bank.load(bank_path)
    images, _audio = collect(paths, hidden)
    known = set(bank.paths.values())
    new = [p for p in images if os.path.abspath(p) not in known]
    hashed = hash_files(new, bank.algorithm, flips=False, threads=threads, quiet=quiet)
    start = bank.next_id()
    if len(hashed.paths):
        ids = np.arange(start, start + len(hashed.paths), dtype=np.uint64)
        bank.index.add(hashed.codes, ids)
        for k, p in enumerate(hashed.paths):
            bank.paths[start + k] = os.path.abspath(p)
    bank.failed.extend({"path": p, "error": e} for p, e in hashed.failed)
    _bank.save(bank)
    click.echo(f"Added {len(hashed.paths)} images to {bank_path} ({len(images) - len(new)} already "
               f"there); it now holds {len(bank.index)}.")
    print_failed(hashed.failed, err=True)
    raise SystemExit(EXIT_OK)


@index.command(
    epilog="""\b
Example:
  fingerprint index info bank.fpi
"""
)
@click.argument("bank_path", metavar="BANK", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(bank_path: str, as_json: bool) -> None:
    """Describe BANK: algorithm, size, search method, files."""
    bank = _bank.load(bank_path)
    data: Dict[str, Any] = {
        "path": bank_path,
        "algorithm": bank.algorithm,
        "bits": bank.index.bits,
        "count": len(bank.index),
        "method": bank.index.method,
        "file_bytes": os.path.getsize(bank_path),
        "sidecar": _bank.sidecar_path(bank_path),
        "paths": len(bank.paths),
        "failed": len(bank.failed),
    }
    if as_json:
        click.echo(json.dumps(data))
    else:
        click.echo(f"{bank_path}: {data['count']} codes of {data['bits']} bits ({bank.algorithm}), "
                   f"method {data['method']}, {human_bytes(data['file_bytes'])}")
        click.echo(f"paths: {data['sidecar']} ({data['paths']} files, {data['failed']} failed "
                   "when built)")
    raise SystemExit(EXIT_OK)
