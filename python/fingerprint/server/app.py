"""`create_server(address, config) -> (server, port)` and the process-level `serve()` loop."""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import threading
from concurrent import futures
from pathlib import Path
from types import FrameType
from typing import Any, List, Optional, Tuple

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..v1 import (
    collection_service_pb2,
    hash_service_pb2,
    ingest_service_pb2,
    match_service_pb2,
)
from .auth import AuthInterceptor
from .config import ServerConfig
from .servicer import Servicers, add_servicers
from .store import Store

__all__ = ["Server", "create_server", "serve", "SERVICE_NAMES"]

log = logging.getLogger("fingerprint.server")

SERVICE_NAMES = tuple(
    m.DESCRIPTOR.services_by_name[n].full_name
    for m, n in (
        (collection_service_pb2, "CollectionService"),
        (hash_service_pb2, "HashService"),
        (ingest_service_pb2, "IngestService"),
        (match_service_pb2, "MatchService"),
    )
)


def split_address(address: str) -> Tuple[str, str]:
    """("host", "port") of "host:port" or "[v6]:port"."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address must be HOST:PORT, got {address!r}")
    return host, port


def is_loopback(host: str) -> bool:
    """Whether `host` names only the loopback interface."""
    h = host.strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


class Server:
    """A running fingerprint service: the gRPC server, its store and its health status."""

    def __init__(self, grpc_server: grpc.Server, store: Store, health_servicer: health.HealthServicer,
                 config: ServerConfig, address: str, port: int) -> None:
        self.grpc_server = grpc_server
        self.store = store
        self.health = health_servicer
        self.config = config
        self.address = address
        self.port = port
        self._stopped = threading.Event()

    def start(self) -> "Server":
        """Start serving; returns self."""
        self.grpc_server.start()
        for name in ("",) + SERVICE_NAMES:
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self

    def stop(self, grace: Optional[float] = None) -> None:
        """Refuse new calls, let in-flight ones finish for up to `grace` seconds, close the store."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        grace = self.config.grace_seconds if grace is None else grace
        self.health.enter_graceful_shutdown()
        self.grpc_server.stop(grace).wait()
        self.store.close(snapshot=self.config.snapshots)

    def wait_for_termination(self, timeout: Optional[float] = None) -> bool:
        """Block until the server stops (or `timeout`); True if it stopped."""
        return self.grpc_server.wait_for_termination(timeout)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop(0)


def create_server(address: str = "127.0.0.1:0", config: Optional[ServerConfig] = None
                  ) -> Tuple[Server, int]:
    """Build the server and bind `address` (port 0 picks a free port); returns (server, port).

    The server is not started: call `server.start()`. With no tokens configured the host is
    forced to loopback (the service has no other protection) and a warning says so.
    """
    config = (config or ServerConfig()).validate()
    host, port = split_address(address)
    if not config.auth_enabled and not is_loopback(host):
        loop = "[::1]" if ":" in host.strip("[]") else "127.0.0.1"
        log.warning("no bearer tokens configured: binding %s:%s instead of %s (loopback only); "
                    "configure tokens to serve other hosts", loop, port, address)
        host = loop
    elif not config.auth_enabled:
        log.warning("no bearer tokens configured: authentication is off, listening on loopback only")
    bound = f"{host}:{port}"
    store = Store(config.data_dir, synchronous=config.synchronous, snapshots=config.snapshots,
                  search_threads=config.search_threads)
    try:
        options = [
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        interceptors = [AuthInterceptor(config.tokens)] if config.auth_enabled else []
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="fingerprint-rpc"),
            interceptors=interceptors,
            options=options,
            maximum_concurrent_rpcs=config.workers * 4,
        )
        servicers = Servicers(store, config)
        add_servicers(server, servicers)
        health_servicer = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            SERVICE_NAMES + (health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                             reflection.SERVICE_NAME),
            server,
        )
        if config.tls_cert and config.tls_key:
            creds = grpc.ssl_server_credentials(
                [(Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes())])
            bound_port = server.add_secure_port(bound, creds)
        else:
            if config.auth_enabled and not is_loopback(host):
                log.warning("bearer tokens over plaintext on %s: configure tls_cert/tls_key", bound)
            bound_port = server.add_insecure_port(bound)
        if bound_port == 0:
            raise OSError(f"cannot listen on {bound}")
    except BaseException:
        store.close(snapshot=False)
        raise
    log.info("fingerprint.v1 on %s:%d (%s, %s, data: %s)", host, bound_port,
             "TLS" if config.tls_cert else "plaintext",
             f"{len(config.tokens)} tokens" if config.auth_enabled else "no auth",
             config.data_dir or "in memory")
    return Server(server, store, health_servicer, config, bound, bound_port), bound_port


def serve(config: ServerConfig, ready: Optional[Any] = None) -> int:
    """Run until SIGTERM/SIGINT, then drain in-flight calls for `grace_seconds`; returns 0.

    `ready(port)` is called once the server listens (the CLI prints the port).
    """
    server, port = create_server(config.address, config)
    server.start()
    stop = threading.Event()

    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        log.info("signal %d: draining in-flight calls (up to %.0fs)", signum, config.grace_seconds)
        stop.set()

    previous: List[Any] = [signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)]
    try:
        if ready is not None:
            ready(port)
        while not stop.wait(0.5):
            pass
        server.stop()
        log.info("stopped (pid %d)", os.getpid())
    finally:
        for s, h in zip((signal.SIGTERM, signal.SIGINT), previous):
            signal.signal(s, h)
    return 0
