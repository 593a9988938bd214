"""The fingerprint.v1 gRPC service: `create_server(address, config) -> (server, port)`.

>>> from fingerprint.server import create_server, ServerConfig
>>> server, port = create_server("127.0.0.1:0", ServerConfig())  # doctest: +SKIP
>>> server.start()  # doctest: +SKIP
"""

from __future__ import annotations

from ._status import STATUS_TABLE, status_for
from .app import Server, create_server, serve
from .config import ConfigError, ServerConfig, load_config

__all__ = [
    "Server",
    "ServerConfig",
    "ConfigError",
    "STATUS_TABLE",
    "create_server",
    "load_config",
    "serve",
    "status_for",
]
