"""`fingerprint serve`: run the fingerprint.v1 gRPC service until SIGTERM."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, Optional

import click

from ._common import EXIT_USAGE


@click.command(
    epilog="""\b
Examples:
  fingerprint serve --data-dir /var/lib/fingerprint --port 50051
  FINGERPRINT_TOKENS=$(cat tokens.env) fingerprint serve --data-dir data --host 0.0.0.0 \\
      --tls-cert server.crt --tls-key server.key
  fingerprint serve --config fingerprint.toml

\b
Every option can also be set in a TOML file (--config, top level or a [server] table) or as
FINGERPRINT_<OPTION> environment variables (e.g. FINGERPRINT_DATA_DIR, FINGERPRINT_MAX_BATCH);
flags win over env vars, env vars over the file. Tokens: a file of 'TOKEN SCOPE' lines
(--tokens-file) and/or FINGERPRINT_TOKENS='token:read,token2:admin'; scopes read < write < admin.
Without tokens the server listens on loopback only.
""",
)
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="TOML configuration file.")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Directory for the SQLite store and snapshots (required unless --in-memory).")
@click.option("--in-memory", is_flag=True, help="Keep everything in memory (lost at exit).")
@click.option("--host", default=None, help="Interface to listen on [default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to listen on (0: any free port) [default: 50051].")
@click.option("--address", default=None, help="HOST:PORT to listen on (instead of --host/--port).")
@click.option("--tokens-file", type=click.Path(exists=True, dir_okay=False),
              help="Bearer tokens, one 'TOKEN SCOPE' per line.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate chain.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key.")
@click.option("--max-message-bytes", type=int, default=None, help="Largest message in or out.")
@click.option("--max-batch", type=int, default=None, help="Most codes or ids in one request.")
@click.option("--max-k", type=int, default=None, help="Largest top-k.")
@click.option("--max-concurrent-streams", type=int, default=None, help="Streaming calls at once.")
@click.option("--workers", type=int, default=None, help="RPC worker threads.")
@click.option("--synchronous", type=click.Choice(["full", "normal", "extra"]), default=None,
              help="SQLite durability: full (default) survives power loss, normal a crash.")
@click.option("--grace-seconds", type=float, default=None,
              help="How long SIGTERM waits for in-flight calls.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON line {\"port\": N, ...} when ready.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
@click.pass_context
def serve(ctx: click.Context, config_file: Optional[str], data_dir: Optional[str], in_memory: bool,
          host: Optional[str], port: Optional[int], address: Optional[str], as_json: bool,
          log_level: str, **options: Any) -> None:
    """Run the gRPC matching service (fingerprint.v1) until SIGTERM or Ctrl-C.

    Collections of codes live in SQLite (WAL) under --data-dir; searches run in the Rust core on
    every core. SIGTERM stops accepting calls and drains in-flight ones.
    """
    from ..server import ConfigError, load_config, serve as run_server
    from ..server.app import split_address

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(config_file, overrides={"data_dir": data_dir, **options})
        if address is None:
            base_host, base_port = split_address(config.address)
            address = f"{host or base_host}:{base_port if port is None else port}"
        elif host is not None or port is not None:
            raise ConfigError("give --address or --host/--port, not both")
        config.address = address
        if config.data_dir is None and not in_memory:
            raise ConfigError("--data-dir is required (or --in-memory for a throwaway server)")
        if config.data_dir is not None and in_memory:
            raise ConfigError("--in-memory and --data-dir exclude each other")
    except (ConfigError, ValueError) as e:
        click.echo(f"fingerprint serve: {e}", err=True)
        ctx.exit(EXIT_USAGE)

    def ready(bound_port: int) -> None:
        if as_json:
            click.echo(json.dumps({"port": bound_port, "address": config.address,
                                   "auth": config.auth_enabled, "tls": bool(config.tls_cert)}))
        else:
            click.echo(f"fingerprint serve: listening on port {bound_port}")
        sys.stdout.flush()

    try:
        rc = run_server(config, ready)
    except (OSError, RuntimeError) as e:  # port in use, data directory locked, ...
        click.echo(f"fingerprint serve: {e}", err=True)
        rc = EXIT_USAGE
    ctx.exit(rc)
