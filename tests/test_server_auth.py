"""Bearer tokens and scopes, TLS, loopback-only binding without tokens, and configuration."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Iterator, Tuple

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import fingerprint
from fingerprint.server import ConfigError, ServerConfig, create_server, load_config
from fingerprint.server.config import parse_env_tokens, parse_tokens
from fingerprint.v1 import (
    collection_service_pb2 as cpb,
    collection_service_pb2_grpc as cgrpc,
    ingest_service_pb2 as ipb,
    ingest_service_pb2_grpc as igrpc,
    match_service_pb2 as mpb,
    match_service_pb2_grpc as mgrpc,
)

TIMEOUT = 60.0


def one(collection: str = "", on_conflict: int = 0, **item: object) -> ipb.AddItemsRequest:
    """An AddItems message carrying one item."""
    return ipb.AddItemsRequest(collection=collection, on_conflict=on_conflict, items=[ipb.Item(**item)])
READ, WRITE, ADMIN = "r" * 24, "w" * 24, "a" * 24


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tokens = tmp_path_factory.mktemp("auth") / "tokens"
    tokens.write_text(f"# token scope\n{READ} read\n{WRITE} write\n")
    config = load_config(env={"FINGERPRINT_TOKENS": f"{ADMIN}:admin"},
                         overrides={"tokens_file": str(tokens)})
    assert len(config.tokens) == 3 and READ not in repr(config)
    srv, port = create_server("127.0.0.1:0", config)
    srv.start()
    yield port
    srv.stop(5)


def _md(token: str) -> Tuple[Tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def test_scopes(secured: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{secured}") as ch:
        coll, ing, match = cgrpc.CollectionServiceStub(ch), igrpc.IngestServiceStub(ch), mgrpc.MatchServiceStub(ch)
        create = cpb.CreateCollectionRequest(name="auth", bits=64)
        for token, status in [(READ, grpc.StatusCode.PERMISSION_DENIED), (WRITE, grpc.StatusCode.PERMISSION_DENIED)]:
            with pytest.raises(grpc.RpcError) as e:
                coll.CreateCollection(create, metadata=_md(token), timeout=TIMEOUT)
            assert e.value.code() == status and "admin" in e.value.details()
        coll.CreateCollection(create, metadata=_md(ADMIN), timeout=TIMEOUT)
        add = [one(collection="auth", id="x", code=b"\x00" * 8)]
        with pytest.raises(grpc.RpcError) as e:
            ing.AddItems(iter(add), metadata=_md(READ), timeout=TIMEOUT)
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert ing.AddItems(iter(add), metadata=_md(WRITE), timeout=TIMEOUT).stored == 1
        search = mpb.SearchRequest(collection="auth", codes=b"\x00" * 8, k=1)
        for token in (READ, WRITE, ADMIN):
            assert list(match.Search(search, metadata=_md(token), timeout=TIMEOUT).results[0].ids) == ["x"]
        # Streams are refused the same way.
        with pytest.raises(grpc.RpcError) as e:
            list(match.MatchStream(iter([mpb.MatchStreamRequest(collection="auth", code=b"\x00" * 8, k=1)]),
                                   timeout=TIMEOUT))
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("metadata, words", [
    ((), "missing"),
    ((("authorization", f"Basic {READ}"),), "Bearer"),
    ((("authorization", "Bearer "),), "Bearer"),
    ((("authorization", "Bearer not-a-configured-token"),), "unknown"),
])
def test_unauthenticated(secured: int, metadata: tuple, words: str) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{secured}") as ch:
        with pytest.raises(grpc.RpcError) as e:
            cgrpc.CollectionServiceStub(ch).ListCollections(cpb.ListCollectionsRequest(), metadata=metadata,
                                                            timeout=TIMEOUT)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED and words in e.value.details()


def test_health_needs_no_token(secured: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{secured}") as ch:
        r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
        assert r.status == health_pb2.HealthCheckResponse.SERVING


def test_client_sends_token(secured: int) -> None:
    with fingerprint.Client(f"127.0.0.1:{secured}", token=ADMIN) as c:
        # Its own collection, so the test does not depend on test_scopes having run first.
        c.create_collection("auth-client")
        assert "auth-client" in [x.name for x in c.list_collections()]
    with fingerprint.Client(f"127.0.0.1:{secured}") as c:
        with pytest.raises(grpc.RpcError) as e:
            c.list_collections()
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_no_tokens_binds_loopback_only(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fingerprint.server"):
        srv, port = create_server("0.0.0.0:0", ServerConfig())
    try:
        assert srv.address == "127.0.0.1:0" and port > 0
        assert any("loopback only" in r.getMessage() for r in caplog.records)
    finally:
        srv.stop(0)


def test_tls(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=120,
    )
    config = ServerConfig(tls_cert=str(cert), tls_key=str(key))
    config.tokens = parse_env_tokens(f"{ADMIN}:admin")
    srv, port = create_server("127.0.0.1:0", config)
    srv.start()
    try:
        with fingerprint.Client(f"localhost:{port}", token=ADMIN, root_certificates=cert.read_bytes()) as c:
            assert c.create_collection("tls", None, 64).bits == 64
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:  # plaintext is refused
            with pytest.raises(grpc.RpcError) as e:
                cgrpc.CollectionServiceStub(ch).ListCollections(cpb.ListCollectionsRequest(),
                                                                metadata=_md(ADMIN), timeout=10)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        srv.stop(0)


def test_config_sources_and_precedence(tmp_path: Path) -> None:
    toml = tmp_path / "f.toml"
    toml.write_text('[server]\nmax_batch = 10\nmax_k = 7\nsynchronous = "normal"\nsnapshots = false\n')
    config = load_config(str(toml), env={"FINGERPRINT_MAX_K": "9", "FINGERPRINT_WORKERS": "3"},
                         overrides={"workers": 5, "max_message_bytes": None})
    assert (config.max_batch, config.max_k, config.workers, config.synchronous, config.snapshots) == \
        (10, 9, 5, "normal", False)
    assert config.max_message_bytes == ServerConfig().max_message_bytes
    for text in ("bogus = 1\n", "max_batch = 0\n", "max_batch = 'x'\n", 'synchronous = "off"\n', "[[[\n"):
        toml.write_text(text)
        with pytest.raises(ConfigError):
            load_config(str(toml), env={})
    with pytest.raises(ConfigError):
        load_config(env={}, overrides={"tls_cert": str(toml)})  # key missing
    with pytest.raises(ConfigError):
        parse_tokens("short read\n", "t")
    with pytest.raises(ConfigError):
        parse_tokens(f"{READ} superuser\n", "t")
    with pytest.raises(ConfigError):
        parse_env_tokens(READ)
    assert set(parse_tokens(f"{READ} read  # comment\n\n{ADMIN} ADMIN\n", "t").values()) == {"read", "admin"}
