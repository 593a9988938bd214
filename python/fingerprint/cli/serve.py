"""`fingerprint serve`: the gRPC service is not part of this version; say so and exit 2."""

from __future__ import annotations

from typing import Optional

import click

from ._common import EXIT_USAGE


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    epilog="""\b
Example:
  fingerprint serve --address 0.0.0.0:50051   # exits 2 in this version
""",
)
@click.option("--address", default="127.0.0.1:50051", show_default=True,
              help="Where the service would listen.")
@click.pass_context
def serve(ctx: click.Context, address: Optional[str]) -> None:
    """Run the gRPC matching service (not available in this version).

    The service (fingerprint.v1) has not been built yet; this command exits with code 2.
    """
    click.echo(
        "fingerprint serve: the gRPC service is not available in this version of fingerprint "
        f"({address} was not opened). Use the library or the other commands.",
        err=True,
    )
    ctx.exit(EXIT_USAGE)
