"""The server as a process: kill -9 during bulk ingest loses no acknowledged item and shows no
half-written one; SIGTERM drains in-flight calls; snapshots speed restarts and stale ones are ignored."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List

import grpc
import numpy as np
import pytest

from fingerprint.v1 import (
    collection_service_pb2 as cpb,
    collection_service_pb2_grpc as cgrpc,
    ingest_service_pb2 as ipb,
    ingest_service_pb2_grpc as igrpc,
    match_service_pb2 as mpb,
    match_service_pb2_grpc as mgrpc,
)

from test_server_helpers import codes_for, metadata_of, start_server_process, stop_process

TIMEOUT = 120.0
NBYTES = 32  # 256-bit codes
CALL_ITEMS = 200
ENV = {"FINGERPRINT_COMMIT_BATCH": "50"}


def one(collection: str = "", on_conflict: int = 0, **item: object) -> ipb.AddItemsRequest:
    """An AddItems message carrying one item."""
    return ipb.AddItemsRequest(collection=collection, on_conflict=on_conflict, items=[ipb.Item(**item)])


def _requests(ids: List[int], collection: str, pace: float = 0.0,
              started: "threading.Event | None" = None,
              hold: "threading.Event | None" = None) -> Iterator[ipb.AddItemsRequest]:
    """AddItems messages for `ids`; `started` is set a quarter in, `hold` pauses at 60%."""
    codes = codes_for(ids, NBYTES)
    for n, (i, code) in enumerate(zip(ids, codes)):
        if started is not None and n == len(ids) // 4:
            started.set()
        if hold is not None and n == len(ids) * 6 // 10:
            hold.wait(TIMEOUT)
        if pace:
            time.sleep(pace)
        yield one(collection=collection if n == 0 else "", id=f"item-{i}",
                                  code=code.tobytes(), metadata=metadata_of(i))


def _visible(channel: grpc.Channel, collection: str, ids: List[int]) -> Dict[int, bool]:
    """For each id: True if stored intact (exact code and metadata), absent otherwise; asserts no torn item."""
    match = mgrpc.MatchServiceStub(channel)
    out: Dict[int, bool] = {}
    codes = codes_for(ids, NBYTES)
    r = match.Search(mpb.SearchRequest(collection=collection, codes=codes.tobytes(), k=1, max_distance=0,
                                       include_metadata=True), timeout=TIMEOUT)
    for i, qm in zip(ids, r.results):
        if len(qm.ids) == 0:
            out[i] = False
            continue
        assert list(qm.ids) == [f"item-{i}"], "a code is stored under the wrong id"
        assert dict(qm.metadata[0].entries) == metadata_of(i), "metadata torn from its code"
        out[i] = True
    return out


def _count(channel: grpc.Channel, collection: str) -> int:
    return int(cgrpc.CollectionServiceStub(channel).DescribeCollection(
        cpb.DescribeCollectionRequest(name=collection), timeout=TIMEOUT).collection.item_count)


def test_kill_9_during_bulk_ingest_keeps_every_acknowledged_item(tmp_path: Path) -> None:
    proc, port = start_server_process(tmp_path, env=ENV)
    acked: List[int] = []
    in_flight = list(range(5 * CALL_ITEMS, 5 * CALL_ITEMS + 1000))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            cgrpc.CollectionServiceStub(ch).CreateCollection(
                cpb.CreateCollectionRequest(name="bulk", bits=8 * NBYTES), timeout=TIMEOUT)
            ingest = igrpc.IngestServiceStub(ch)
            for call in range(5):
                ids = list(range(call * CALL_ITEMS, (call + 1) * CALL_ITEMS))
                r = ingest.AddItems(_requests(ids, "bulk"), timeout=TIMEOUT)
                assert r.stored == CALL_ITEMS and not r.errors
                acked.extend(ids)
            # A slow bulk ingest is in flight (some batches committed, none acknowledged) at the kill.
            hold = threading.Event()
            failure: List[BaseException] = []

            def ingest_in_flight() -> None:
                try:
                    ingest.AddItems(_requests(in_flight, "bulk", hold=hold), timeout=TIMEOUT)
                except grpc.RpcError as e:
                    failure.append(e)

            t = threading.Thread(target=ingest_in_flight)
            t.start()
            # Wait until the server has committed most of what was sent (600 items, batches of 50),
            # then kill it while the stream is still open.
            deadline = time.monotonic() + TIMEOUT
            while _count(ch, "bulk") < len(acked) + 500:
                assert time.monotonic() < deadline, "the in-flight ingest never committed"
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=TIMEOUT)
            hold.set()
            t.join(TIMEOUT)
            assert failure and failure[0].code() == grpc.StatusCode.UNAVAILABLE, "the in-flight call was acked"
    finally:
        stop_process(proc)

    db = sqlite3.connect(tmp_path / "fingerprint.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()

    proc, port = start_server_process(tmp_path, env=ENV)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            seen = _visible(ch, "bulk", acked)
            assert all(seen.values()), f"{sum(not v for v in seen.values())} acknowledged items lost"
            partial = _visible(ch, "bulk", in_flight)
            shown = [i for i in in_flight if partial[i]]
            # Whole commits of the stream, in order: a prefix of what was sent, nothing else.
            assert shown == in_flight[:len(shown)]
            assert 500 <= len(shown) <= 600
            assert _count(ch, "bulk") == len(acked) + len(shown)
            # The store takes new writes after the crash.
            more = list(range(10_000, 10_010))
            assert igrpc.IngestServiceStub(ch).AddItems(_requests(more, "bulk"), timeout=TIMEOUT).stored == 10
    finally:
        stop_process(proc)


def test_sigterm_drains_in_flight_calls_and_snapshots(tmp_path: Path) -> None:
    proc, port = start_server_process(tmp_path, "--log-level", "info", env=ENV)
    ids = list(range(40))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            cgrpc.CollectionServiceStub(ch).CreateCollection(
                cpb.CreateCollectionRequest(name="drain", bits=8 * NBYTES), timeout=TIMEOUT)
            started = threading.Event()
            results: list = []

            def slow_ingest() -> None:
                try:
                    results.append(igrpc.IngestServiceStub(ch).AddItems(
                        _requests(ids, "drain", pace=0.05, started=started), timeout=TIMEOUT))
                except grpc.RpcError as e:
                    results.append(e)

            t = threading.Thread(target=slow_ingest)
            t.start()
            assert started.wait(TIMEOUT)
            proc.send_signal(signal.SIGTERM)
            t.join(TIMEOUT)
            assert not isinstance(results[0], grpc.RpcError), results[0]
            assert results[0].stored == len(ids)
            assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        stop_process(proc)
    snapshots = list((tmp_path / "snapshots").glob("*.fpi"))
    assert len(snapshots) == 1

    proc, port = start_server_process(tmp_path, "--log-level", "info", env=ENV)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            assert all(_visible(ch, "drain", ids).values())
            more = list(range(100, 110))
            assert igrpc.IngestServiceStub(ch).AddItems(_requests(more, "drain"), timeout=TIMEOUT).stored == 10
        proc.send_signal(signal.SIGKILL)  # the snapshot on disk is now one generation behind
        proc.wait(timeout=TIMEOUT)
    finally:
        stop_process(proc)
    assert proc.stderr is not None

    proc, port = start_server_process(tmp_path, "--log-level", "info", env=ENV)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            assert _count(ch, "drain") == 50
            assert all(_visible(ch, "drain", ids + more).values())
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
        err = proc.stderr.read() if proc.stderr else ""
        stop_process(proc)
    assert "rebuilt from SQLite" in err  # the stale snapshot was not used


def test_snapshot_is_used_on_clean_restart(tmp_path: Path) -> None:
    proc, port = start_server_process(tmp_path, env=ENV)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            cgrpc.CollectionServiceStub(ch).CreateCollection(
                cpb.CreateCollectionRequest(name="snap", bits=8 * NBYTES), timeout=TIMEOUT)
            igrpc.IngestServiceStub(ch).AddItems(_requests(list(range(300)), "snap"), timeout=TIMEOUT)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
        stop_process(proc)
    proc, port = start_server_process(tmp_path, "--log-level", "info", env=ENV)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            assert all(_visible(ch, "snap", list(range(300))).values())
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
        err = proc.stderr.read() if proc.stderr else ""
        stop_process(proc)
    assert "collection snap: 300 items (snapshot)" in err


def test_second_server_on_same_data_dir_is_refused(tmp_path: Path) -> None:
    proc, _ = start_server_process(tmp_path)
    try:
        with pytest.raises(AssertionError, match="in use by another server"):
            start_server_process(tmp_path)
    finally:
        stop_process(proc)


def test_serve_needs_a_data_dir() -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "fingerprint.cli", "serve"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "--data-dir is required" in r.stderr
