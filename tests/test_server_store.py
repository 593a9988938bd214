"""The server's SQLite-backed store directly: compaction, snapshots, reopen."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from fingerprint.server.store import NewItem, Store


def _items(start: int, n: int, codes: np.ndarray) -> list:
    return [NewItem(f"x{i}", codes[i].tobytes(), {"i": str(i)} if i % 2 else None) for i in range(start, start + n)]


def test_compaction_keeps_answers_and_runs_when_idle(tmp_path: Path) -> None:
    codes = np.random.default_rng(3).integers(0, 256, (3000, 16), dtype=np.uint8)
    store = Store(str(tmp_path))
    try:
        store.create("c", 0, 128)
        for s in range(0, 3000, 100):
            assert store.add("c", _items(s, 100, codes), 0).stored == 100
        state = store.get("c")
        before = store.search(state, codes[:50], 3, None, 10**6)
        assert state.loose == 3000
        deadline = time.monotonic() + 60
        while state.loose and time.monotonic() < deadline:  # the idle compactor picks it up
            time.sleep(0.1)
        assert state.loose == 0
        assert store.search(state, codes[:50], 3, None, 10**6) == before
        assert store.remove("c", ["x0", "x1"]) == (2, [])
        after = store.search(state, codes[:2], 1, 0, 10**6)
        assert after == [([], []), ([], [])]
        assert store.metadata([state.int_of["x3"]]) == {state.int_of["x3"]: {"i": "3"}}
    finally:
        store.close()
    reopened = Store(str(tmp_path))
    try:
        state = reopened.get("c")
        assert len(state) == 2998 and len(state.index) == 2998
        hits = reopened.search(state, codes[2:3], 1, 0, 10**6)
        assert hits == [([state.int_of["x2"]], [0])]
    finally:
        reopened.close()


def test_add_policies_and_validation() -> None:
    store = Store(None)
    try:
        store.create("p", 0, 64)
        r = store.add("p", [NewItem("a", b"\x00" * 8), NewItem("a", b"\x01" * 8), NewItem("b", b"\x00" * 7),
                            NewItem("x" * 600, b"\x00" * 8)], 0)
        assert r.stored == 1 and [pos for pos, _ in r.errors] == [1, 2, 3]
        r = store.add("p", [NewItem("a", b"\x02" * 8), NewItem("a", b"\x03" * 8)], 3)  # replace twice: last wins
        assert r.stored == 2 and not r.errors
        state = store.get("p")
        assert store.search(state, np.full((1, 8), 3, np.uint8), 1, 0, 10) == [([state.int_of["a"]], [0])]
        assert len(state) == 1 and len(state.index) == 1
        with pytest.raises(ValueError):
            store.create("bad/name", 0, 64)
        with pytest.raises(KeyError):
            store.get("nope")
    finally:
        store.close()
