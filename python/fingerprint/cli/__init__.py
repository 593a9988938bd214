"""The `fingerprint` command: find the copies in a folder, and show them.

Exit codes: 0 done, 1 copies found (only with --fail-on-match), 2 usage error or unusable input.
"""

from __future__ import annotations

import sys
from typing import List, Optional

import click

import fingerprint

from .compare import compare
from .dedup import dedup
from .hash import hash_cmd
from .index import index
from .search import search
from .serve import serve

__all__ = ["main", "cli"]


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
Examples:
  fingerprint dedup examples/images --report report.html
  fingerprint hash photo.jpg
  fingerprint index build photos/ -o bank.fpi && fingerprint search bank.fpi query.jpg
  fingerprint compare a.jpg b.jpg

Exit codes: 0 done, 1 copies found with --fail-on-match, 2 usage error.
""",
)
@click.version_option(fingerprint.__version__, prog_name="fingerprint")
def cli() -> None:
    """Perceptual fingerprints for finding copies of images and audio."""


cli.add_command(dedup)
cli.add_command(hash_cmd)
cli.add_command(index)
cli.add_command(search)
cli.add_command(compare)
cli.add_command(serve)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the `fingerprint` script."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="fingerprint")
