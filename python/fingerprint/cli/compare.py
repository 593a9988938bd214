"""`fingerprint compare A B`: the distance between two files and a verdict."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

import click

import fingerprint

from ._common import (
    ALGORITHMS,
    DEFAULT_AUDIO_SCORE,
    EXIT_MATCH,
    EXIT_OK,
    TRANSFORMS,
    CliError,
    check_threshold,
    kind_of,
)


@click.command(
    epilog="""\b
Examples:
  fingerprint compare original.jpg copy.jpg
  fingerprint compare -a phash a.png b.png --json
  fingerprint compare song.ogg clip.mp3
""",
)
@click.argument("a", type=click.Path(exists=True, dir_okay=False))
@click.argument("b", type=click.Path(exists=True, dir_okay=False))
@click.option("-a", "--algorithm", type=click.Choice(ALGORITHMS), default="pdq", show_default=True)
@click.option("-t", "--threshold", type=int, default=None,
              help="Largest distance called a match (default per algorithm, pdq 48).")
@click.option("--flips/--no-flips", default=True, show_default=True,
              help="PDQ only: the smallest distance over rotations and mirrors of B.")
@click.option("--audio-score", type=click.FloatRange(0, 1), default=DEFAULT_AUDIO_SCORE,
              show_default=True, help="Smallest alignment score called a match (audio).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--fail-on-match", is_flag=True, help="Exit with code 1 when A and B match.")
def compare(a: str, b: str, algorithm: str, threshold: Optional[int], flips: bool,
            audio_score: float, as_json: bool, fail_on_match: bool) -> None:
    """Compare two images (Hamming distance) or two audio files (alignment score and offset)."""
    ka, kb = kind_of(a), kind_of(b)
    if "audio" in (ka, kb):
        if ka != kb:
            raise CliError("cannot compare an image with an audio file")
        result = _audio(a, b, audio_score)
    else:
        result = _image(a, b, algorithm, check_threshold(algorithm, threshold), flips)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        verdict = "MATCH" if result["match"] else "different"
        if result["kind"] == "image":
            t = "" if result["transform"] == "none" else f" ({result['transform']} of B)"
            click.echo(
                f"{verdict}: distance {result['distance']}{t} of {result['bits']} bits "
                f"({result['algorithm']}, threshold {result['threshold']})"
            )
        else:
            click.echo(
                f"{verdict}: score {result['score']:.3f}, B starts {result['offset']:+.2f} s into A, "
                f"bit error rate {result['bit_error_rate']:.3f} (threshold {result['threshold']})"
            )
    raise SystemExit(EXIT_MATCH if fail_on_match and result["match"] else EXIT_OK)


def _image(a: str, b: str, algorithm: str, threshold: int, flips: bool) -> Dict[str, Any]:
    """Distance of two images, over B's 8 orientations for PDQ with flips."""
    try:
        if algorithm == "pdq" and flips:
            ha = fingerprint.pdq(a)
            variants = fingerprint.pdq_dihedral(b)
            dists = [ha - v for v in variants]
            t = min(range(8), key=lambda k: (dists[k], k))
            distance, transform, hb = dists[t], TRANSFORMS[t], variants[0]
        else:
            fn = getattr(fingerprint, algorithm)
            ha, hb = fn(a), fn(b)
            distance, transform = ha - hb, "none"
    except (fingerprint.FingerprintError, OSError, ValueError) as e:
        raise CliError(str(e)) from e
    return {
        "kind": "image", "a": a, "b": b, "algorithm": algorithm, "bits": ha.bits,
        "hash_a": ha.hex, "hash_b": hb.hex, "distance": distance, "transform": transform,
        "threshold": threshold, "match": distance <= threshold,
    }


def _audio(a: str, b: str, min_score: float) -> Dict[str, Any]:
    """Alignment of two recordings."""
    try:
        m = fingerprint.compare_audio(a, b)
    except (fingerprint.FingerprintError, OSError, ValueError) as e:
        raise CliError(str(e)) from e
    return {
        "kind": "audio", "a": a, "b": b, "score": m.score, "offset": m.offset,
        "bit_error_rate": m.bit_error_rate, "span_a": list(m.span_a), "span_b": list(m.span_b),
        "threshold": min_score, "match": m.score >= min_score,
    }
