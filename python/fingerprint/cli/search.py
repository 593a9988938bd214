"""`fingerprint search BANK FILE...`: the nearest bank items to each file."""

from __future__ import annotations

import json
from typing import Dict, List, Optional, Tuple

import click
import numpy as np

from . import _bank
from ._common import (
    EXIT_MATCH,
    EXIT_OK,
    TRANSFORMS,
    check_threshold,
    collect,
    hash_files,
    print_failed,
)


@click.command(
    epilog="""\b
Examples:
  fingerprint search bank.fpi query.jpg
  fingerprint search bank.fpi incoming/ -k 3 --threshold 30 --json
""",
)
@click.argument("bank_path", metavar="BANK", type=click.Path(dir_okay=False))
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-k", type=click.IntRange(1), default=5, show_default=True, help="Results per file.")
@click.option("-t", "--threshold", type=int, default=None,
              help="Largest distance listed (default: the algorithm's dedup threshold).")
@click.option("--flips/--no-flips", default=True, show_default=True,
              help="PDQ banks: also search the rotations and mirrors of each file.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line.")
@click.option("--hidden", is_flag=True, help="Include hidden files and folders.")
@click.option("--fail-on-match", is_flag=True, help="Exit with code 1 when any file has a match.")
@click.option("--threads", type=click.IntRange(1), default=None, help="Worker threads (default: all cores).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def search(bank_path: str, paths: Tuple[str, ...], k: int, threshold: Optional[int], flips: bool,
           as_json: bool, hidden: bool, fail_on_match: bool, threads: Optional[int],
           quiet: bool) -> None:
    """For each image under PATHS, list the k nearest items of BANK within the threshold."""
    bank = _bank.load(bank_path)
    threshold = check_threshold(bank.algorithm, threshold)
    images, _audio = collect(paths, hidden)
    use_flips = flips and bank.algorithm == "pdq"
    hashed = hash_files(images, bank.algorithm, flips=use_flips, threads=threads, quiet=quiet)
    n, nb = hashed.codes.shape[0], hashed.codes.shape[1]
    if hashed.variants is not None:
        queries = np.concatenate([hashed.codes[:, None, :], hashed.variants], axis=1).reshape(-1, nb)
        per = 8
    else:
        queries, per = hashed.codes, 1
    any_match = False
    if n:
        dists, ids = bank.index.search(np.ascontiguousarray(queries), k, threads=threads)
    for i, path in enumerate(hashed.paths):
        best: Dict[int, Tuple[int, str]] = {}
        for t in range(per):
            row = i * per + t
            for d, bid in zip(dists[row].tolist(), ids[row].tolist()):
                if bid < 0 or d > threshold:
                    continue
                if bid not in best or d < best[bid][0]:
                    best[bid] = (d, TRANSFORMS[t])
        hits = sorted(best.items(), key=lambda kv: (kv[1][0], kv[0]))[:k]
        any_match |= bool(hits)
        results: List[Dict[str, object]] = [
            {"id": bid, "path": bank.paths.get(bid), "distance": d, "transform": t}
            for bid, (d, t) in hits
        ]
        if as_json:
            click.echo(json.dumps({"query": path, "results": results}, ensure_ascii=False))
        else:
            click.echo(f"{path}: {len(results)} match(es)")
            for r in results:
                tr = "" if r["transform"] == "none" else f" ({r['transform']})"
                click.echo(f"  {r['distance']:>4}{tr}  {r['path'] or '#' + str(r['id'])}")
    print_failed(hashed.failed, err=True)
    raise SystemExit(EXIT_MATCH if fail_on_match and any_match else EXIT_OK)
