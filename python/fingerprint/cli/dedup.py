"""`fingerprint dedup`: find the groups of near-duplicates in folders (and/or against a bank)."""

from __future__ import annotations

import csv
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

import click

from . import _bank
from ._common import (
    ALGORITHMS,
    DEFAULT_AUDIO_SCORE,
    EXIT_MATCH,
    EXIT_OK,
    CliError,
    audio_available,
    check_threshold,
    collect,
    fingerprint_audio,
    hash_files,
    human_bytes,
    open_output,
    print_failed,
    stdout_used,
    timer,
)
from ._groups import BankMatch, Group, audio_groups, bank_matches, image_groups


@click.command(
    epilog="""\b
Examples:
  fingerprint dedup examples/images --report report.html
  fingerprint dedup photos/ downloads/ --json groups.json --csv groups.csv
  fingerprint dedup incoming/ --against bank.fpi --no-within --fail-on-match
"""
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-a", "--algorithm", type=click.Choice(ALGORITHMS), default=None,
              help="Image hash (default: pdq, or the bank's with --against).")
@click.option("-t", "--threshold", type=int, default=None,
              help="Largest Hamming distance of a match (default: pdq 48, phash/dhash 10, "
              "ahash/whash 8).")
@click.option("--flips/--no-flips", default=True, show_default=True,
              help="PDQ only: also match rotated and mirrored copies (8 orientations).")
@click.option("--audio-score", type=click.FloatRange(0, 1), default=DEFAULT_AUDIO_SCORE,
              show_default=True, help="Smallest alignment score of an audio match.")
@click.option("--against", "bank_path", type=click.Path(dir_okay=False), default=None,
              help="Also find which files are copies of items in this bank (`index build`).")
@click.option("--within/--no-within", default=True, show_default=True,
              help="Group near-duplicates within the given folders.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the results as JSON ('-' for stdout).")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write one row per grouped file or bank match as CSV ('-' for stdout).")
@click.option("--report", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
@click.option("--hidden", is_flag=True, help="Include hidden files and folders.")
@click.option("--fail-on-match", is_flag=True, help="Exit with code 1 when copies are found.")
@click.option("--threads", type=click.IntRange(1), default=None, help="Worker threads (default: all cores).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--timings", is_flag=True, help="Print the time of each phase on stderr.")
def dedup(
    paths: Tuple[str, ...],
    algorithm: Optional[str],
    threshold: Optional[int],
    flips: bool,
    audio_score: float,
    bank_path: Optional[str],
    within: bool,
    json_out: Optional[str],
    csv_out: Optional[str],
    report: Optional[str],
    hidden: bool,
    fail_on_match: bool,
    threads: Optional[int],
    quiet: bool,
    timings: bool,
) -> None:
    """Find near-duplicate images (and audio) in PATHS and pick the best original of each group.

    Folders are walked recursively. Pairs within the threshold are joined into groups; the best
    original is the largest resolution, then the highest quality, then the largest file. Files
    that cannot be decoded are listed at the end and never stop the run.
    """
    if not within and bank_path is None:
        raise click.UsageError("--no-within needs --against BANK (otherwise there is nothing to do)")
    clock = timer()
    phases: Dict[str, float] = {}
    bank = _bank.load(bank_path) if bank_path else None
    if bank is not None:
        if algorithm is not None and algorithm != bank.algorithm:
            raise click.UsageError(
                f"--algorithm {algorithm} differs from the bank's algorithm {bank.algorithm}"
            )
        algorithm = bank.algorithm
    algorithm = algorithm or "pdq"
    threshold = check_threshold(algorithm, threshold)
    use_flips = flips and algorithm == "pdq"
    echo_err = stdout_used(json_out, csv_out)

    t = timer()
    images, audio = collect(paths, hidden)
    phases["walk"] = t()
    t = timer()
    hashed = hash_files(images, algorithm, flips=use_flips, threads=threads, quiet=quiet)
    phases["hash"] = t()
    failed: List[Tuple[str, str]] = list(hashed.failed)
    audio_items: List[Any] = []
    if audio:
        t = timer()
        audio_items, audio_failed = fingerprint_audio(audio, threads=threads, quiet=quiet)
        failed.extend(audio_failed)
        phases["audio"] = t()

    t = timer()
    groups: List[Group] = []
    if within:
        groups = image_groups(hashed, threshold, threads)
        if audio_items:
            groups += audio_groups(audio_items, audio_score)
    matches: List[BankMatch] = []
    if bank is not None:
        matches = bank_matches(hashed, bank.index, bank.paths, threshold, threads)
    phases["group"] = t()

    files = len(images) + len(audio)
    if report:
        t = timer()
        from ._report import render

        html_text = render(
            groups, algorithm=algorithm, threshold=threshold, files=files, failed=failed,
            bank_matches=matches, bank=bank_path,
        )
        with open_output(report) as f:
            f.write(html_text)
        phases["report"] = t()
    if json_out:
        with open_output(json_out) as f:
            json.dump(
                _to_json(groups, matches, failed, algorithm, threshold, use_flips, files, bank_path,
                         phases),
                f, indent=1, ensure_ascii=False,
            )
            f.write("\n")
    if csv_out:
        with open_output(csv_out) as f:
            _write_csv(f, groups, matches)
    phases["total"] = clock()

    _summary(groups, matches, files, len(hashed.paths) + len(audio_items), algorithm, threshold,
             use_flips, bank_path, report, echo_err)
    print_failed(failed, err=echo_err)
    if timings:
        click.echo(
            "timings: " + ", ".join(f"{k} {v:.3f}s" for k, v in phases.items()), err=True
        )
    found = bool(groups) or bool(matches)
    raise SystemExit(EXIT_MATCH if fail_on_match and found else EXIT_OK)


def _summary(
    groups: Sequence[Group], matches: Sequence[BankMatch], files: int, read: int, algorithm: str,
    threshold: int, flips: bool, bank: Optional[str], report: Optional[str], err: bool,
) -> None:
    """The short human summary table."""
    how = f"{algorithm}, distance <= {threshold}" + (", flips and rotations" if flips else "")
    if files == 0:
        click.echo("No image or audio files found.", err=err)
        return
    copies = sum(len(g.members) - 1 for g in groups)
    click.echo(
        f"Scanned {files} files ({read} read) with {how}: {len(groups)} group(s), "
        f"{copies} copies.",
        err=err,
    )
    for n, g in enumerate(groups, 1):
        best = g.best
        what = f"{best.width}x{best.height}" if g.kind == "image" else f"{best.duration or 0:.1f} s"
        click.echo(f"\nGroup {n} ({g.kind}, {len(g.members)} files)", err=err)
        click.echo(f"  keep  {best.path}  [{what}, {human_bytes(best.bytes)}]", err=err)
        for m in g.members[1:]:
            if g.kind == "image":
                t = "" if m.transform == "none" else f" {m.transform}"
                detail = f"{m.width}x{m.height}, {human_bytes(m.bytes)}, distance {m.distance:g}{t}"
            else:
                detail = f"{m.duration or 0:.1f} s, score {m.distance:.2f} at {m.offset or 0:.1f} s"
            click.echo(f"  copy  {m.path}  [{detail}]", err=err)
    if bank is not None:
        click.echo(f"\n{len(matches)} match(es) in {bank}", err=err)
        for b in matches:
            t = "" if b.transform == "none" else f" {b.transform}"
            click.echo(f"  {b.path}  ~  {b.bank_path or b.bank_id}  [distance {b.distance}{t}]",
                       err=err)
    if report:
        click.echo(f"\nReport: {report}", err=err)
    if not audio_available():
        click.echo("(audio fingerprints are not available in this build: images only)", err=True)


def _to_json(
    groups: Sequence[Group], matches: Sequence[BankMatch], failed: Sequence[Tuple[str, str]],
    algorithm: str, threshold: int, flips: bool, files: int, bank: Optional[str],
    phases: Dict[str, float],
) -> Dict[str, Any]:
    """The machine-readable result."""
    def member(m: Any) -> Dict[str, Any]:
        d = {k: v for k, v in vars(m).items() if v is not None}
        return d

    return {
        "version": 1,
        "algorithm": algorithm,
        "threshold": threshold,
        "flips": flips,
        "files": files,
        "groups": [
            {
                "id": n,
                "kind": g.kind,
                "best": g.best.path,
                "members": [member(m) for m in g.members],
                "pairs": [member(p) for p in g.pairs],
            }
            for n, g in enumerate(groups, 1)
        ],
        "bank": bank,
        "bank_matches": [vars(b) for b in matches],
        "failed": [{"path": p, "error": e} for p, e in failed],
        "timings": {k: round(v, 4) for k, v in phases.items()},
    }


CSV_FIELDS = ["group", "kind", "role", "path", "match", "distance", "transform", "width", "height",
              "bytes", "quality", "duration", "offset"]


def _write_csv(f: Any, groups: Sequence[Group], matches: Sequence[BankMatch]) -> None:
    """One row per grouped file (role best/copy, match = the best original) and per bank match."""
    w = csv.DictWriter(f, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for n, g in enumerate(groups, 1):
        for k, m in enumerate(g.members):
            w.writerow({
                "group": n, "kind": g.kind, "role": "best" if k == 0 else "copy", "path": m.path,
                "match": g.best.path, "distance": m.distance, "transform": m.transform,
                "width": m.width or "", "height": m.height or "", "bytes": m.bytes,
                "quality": "" if m.quality is None else m.quality,
                "duration": "" if m.duration is None else round(m.duration, 3),
                "offset": "" if m.offset is None else round(m.offset, 3),
            })
    for b in matches:
        w.writerow({
            "group": "", "kind": "image", "role": "bank", "path": b.path,
            "match": b.bank_path or b.bank_id, "distance": b.distance, "transform": b.transform,
        })


__all__ = ["dedup"]
