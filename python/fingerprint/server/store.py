"""Durable storage of collections and items in SQLite (WAL), with one in-memory index each.

SQLite is the source of truth. Every change is one transaction; the in-memory `HammingIndex`
(and the id maps) change only after the commit returns, so searches never see uncommitted
items and an acknowledged add is on disk. At start each index is rebuilt from SQLite, or loaded
from a packed-code snapshot written at shutdown when the snapshot's generation still matches.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from .._index import HammingIndex
from ._status import AlreadyExistsError, LimitExceededError, NotFoundError

__all__ = ["Store", "CollectionState", "NewItem", "AddResult"]

log = logging.getLogger("fingerprint.server")

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_ID_BYTES = 512
MAX_METADATA_BYTES = 64 * 1024
SQL_CHUNK = 900  # below SQLite's default host-parameter limit

SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    algorithm INTEGER NOT NULL,
    bits INTEGER NOT NULL,
    create_time REAL NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    ext_id TEXT NOT NULL,
    code BLOB NOT NULL,
    metadata TEXT,
    UNIQUE (collection_id, ext_id)
);
"""


@dataclass
class CollectionState:
    """A collection's row plus its in-memory index and id maps (internal uint64 <-> external str)."""

    id: int
    name: str
    algorithm: int
    bits: int
    create_time: float
    generation: int
    index: HammingIndex
    ext_of: Dict[int, str] = field(default_factory=dict)
    int_of: Dict[str, int] = field(default_factory=dict)
    # Codes added one batch at a time since the index was last built in one piece, and when.
    loose: int = 0
    last_write: float = 0.0

    @property
    def code_bytes(self) -> int:
        """Bytes per code."""
        return self.bits // 8

    def __len__(self) -> int:
        return len(self.int_of)


@dataclass(frozen=True)
class NewItem:
    """An item to add: external id, packed code, optional metadata."""

    id: str
    code: bytes
    metadata: Optional[Dict[str, str]] = None


@dataclass
class AddResult:
    """Outcome of one committed batch: items stored, and (position, exception) of rejected ones."""

    stored: int = 0
    errors: List[Tuple[int, Exception]] = field(default_factory=list)


def check_name(name: str) -> str:
    """Validate a collection name."""
    if not NAME_RE.match(name or ""):
        raise ValueError(
            f"collection name must be 1 to 128 characters of [A-Za-z0-9._-] starting with a "
            f"letter or digit, got {name!r}"
        )
    return name


def check_item_id(item_id: str) -> str:
    """Validate an external item id."""
    if not item_id:
        raise ValueError("item id must not be empty")
    if len(item_id.encode()) > MAX_ID_BYTES:
        raise ValueError(f"item id is longer than {MAX_ID_BYTES} bytes")
    return item_id


def _lock_dir(data_dir: Path) -> Optional[IO[bytes]]:
    """Hold an exclusive lock on data_dir/LOCK so two servers never share a data directory."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock
        return None
    fh = open(data_dir / "LOCK", "ab")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise RuntimeError(f"data directory {data_dir} is in use by another server") from None
    return fh


class Store:
    """Collections and items in `data_dir/fingerprint.sqlite3` (or in memory when data_dir is None)."""

    def __init__(
        self,
        data_dir: Optional[str],
        *,
        synchronous: str = "full",
        snapshots: bool = True,
        search_threads: Optional[int] = None,
    ) -> None:
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.snapshots = snapshots and self.data_dir is not None
        self.search_threads = search_threads
        self._synchronous = synchronous.upper()
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            (self.data_dir / "snapshots").mkdir(exist_ok=True)
            self._lock_file = _lock_dir(self.data_dir)
            self._db_uri = str(self.data_dir / "fingerprint.sqlite3")
        else:
            self._lock_file = None
            self._db_uri = ":memory:"
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._readers: List[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._db = self._connect()
        self._db.executescript(SCHEMA)
        self._collections: Dict[str, CollectionState] = {}
        self._closed = False
        self._load()
        self._stop = threading.Event()
        self._compactor = threading.Thread(target=self._compact_when_idle, name="fingerprint-compact",
                                           daemon=True)
        self._compactor.start()

    # ---------------------------------------------------------------- connections

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._db_uri, isolation_level=None, check_same_thread=False,
                             timeout=60.0)
        if self.data_dir is not None:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RuntimeError(f"SQLite refused WAL mode (got {mode})")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (WAL lets readers run beside the writer)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
            with self._readers_lock:
                self._readers.append(db)
        return db

    # ---------------------------------------------------------------- start-up

    def _snapshot_path(self, coll_id: int, generation: int) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "snapshots" / f"c{coll_id}-g{generation}.fpi"

    def _load(self) -> None:
        t0 = time.monotonic()
        rows = self._db.execute(
            "SELECT id, name, algorithm, bits, create_time, generation FROM collections"
        ).fetchall()
        total = 0
        for cid, name, algorithm, bits, ctime, gen in rows:
            state = CollectionState(cid, name, algorithm, bits, ctime, gen, HammingIndex(bits, "auto"))
            snap = self._snapshot_path(cid, gen) if self.snapshots else None
            loaded = False
            if snap is not None and snap.exists():
                try:
                    state.index = HammingIndex.load(snap)
                    loaded = True
                except Exception as e:  # a bad snapshot only costs the rebuild
                    log.warning("snapshot %s unusable (%s); rebuilding from SQLite", snap, e)
            if loaded:
                cur = self._db.execute(
                    "SELECT id, ext_id FROM items WHERE collection_id = ? ORDER BY id", (cid,)
                )
                for iid, ext in cur:
                    state.ext_of[iid] = ext
                    state.int_of[ext] = iid
                if len(state.index) != len(state.int_of):
                    log.warning("snapshot %s has %d codes, SQLite %d; rebuilding", snap,
                                len(state.index), len(state.int_of))
                    loaded = False
                    state.ext_of.clear()
                    state.int_of.clear()
                    state.index = HammingIndex(bits, "auto")
            if not loaded:
                cur = self._db.execute(
                    "SELECT id, ext_id, code FROM items WHERE collection_id = ? ORDER BY id", (cid,)
                )
                id_parts: List[npt.NDArray[np.uint64]] = []
                code_parts: List[bytes] = []
                while True:
                    chunk = cur.fetchmany(65536)
                    if not chunk:
                        break
                    id_parts.append(np.fromiter((r[0] for r in chunk), dtype=np.uint64, count=len(chunk)))
                    code_parts.append(b"".join(r[2] for r in chunk))
                    for iid, ext, _ in chunk:
                        state.ext_of[iid] = ext
                        state.int_of[ext] = iid
                if id_parts:  # one add: an index built in one piece searches fastest
                    ids = np.concatenate(id_parts)
                    codes = np.frombuffer(b"".join(code_parts), dtype=np.uint8)
                    state.index.add(codes.reshape(len(ids), bits // 8), ids)
            self._collections[name] = state
            total += len(state)
            log.info("collection %s: %d items (%s)", name, len(state),
                     "snapshot" if loaded else "rebuilt from SQLite")
        self._remove_stale_snapshots()
        log.info("loaded %d collections, %d items in %.2fs", len(rows), total, time.monotonic() - t0)

    def _remove_stale_snapshots(self) -> None:
        if self.data_dir is None:
            return
        keep = {self._snapshot_path(c.id, c.generation).name for c in self._collections.values()}
        for p in (self.data_dir / "snapshots").glob("*.fpi"):
            if p.name not in keep:
                p.unlink(missing_ok=True)

    def write_snapshots(self) -> int:
        """Save each collection's packed codes tagged with its generation; returns files written."""
        if not self.snapshots:
            return 0
        written = 0
        with self._write_lock:
            for c in self._collections.values():
                path = self._snapshot_path(c.id, c.generation)
                if not path.exists():
                    c.index.save(path)
                    written += 1
            self._remove_stale_snapshots()
        return written

    # ---------------------------------------------------------------- compaction

    def compact(self, state: CollectionState) -> None:
        """Rebuild a collection's index in one piece (codes added in many small batches search
        about 25% slower than the same codes added at once). Searches keep using the old index
        until the new one is swapped in."""
        with self._write_lock:
            if state.loose == 0 or self._collections.get(state.name) is not state:
                return
            fresh = HammingIndex(state.bits, "auto")
            if len(state.index):
                fresh.add(state.index.codes(), state.index.ids())
            state.index = fresh
            state.loose = 0

    def _compact_when_idle(self) -> None:
        """Background: compact collections that have had loose adds and no writes for a second."""
        while not self._stop.wait(0.5):
            now = time.monotonic()
            for state in list(self._collections.values()):
                if state.loose and now - state.last_write > 1.0:
                    try:
                        self.compact(state)
                    except Exception:  # never kill the thread; searches still work uncompacted
                        log.exception("compacting %s failed", state.name)

    def close(self, snapshot: bool = True) -> None:
        """Write snapshots (if enabled), checkpoint the WAL and close every connection."""
        if self._closed:
            return
        self._stop.set()
        self._compactor.join(timeout=60)
        if snapshot:
            try:
                self.write_snapshots()
            except Exception:
                log.exception("writing snapshots failed (the next start rebuilds from SQLite)")
        with self._write_lock:
            self._closed = True
            if self.data_dir is not None:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
        with self._readers_lock:
            for db in self._readers:
                try:
                    db.close()
                except sqlite3.ProgrammingError:
                    pass
            self._readers.clear()
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock

    # ---------------------------------------------------------------- collections

    def get(self, name: str) -> CollectionState:
        """The collection called `name`; raises NotFoundError."""
        state = self._collections.get(name)
        if state is None:
            raise NotFoundError(f"collection {name!r} not found")
        return state

    def list(self) -> List[CollectionState]:
        """Every collection, sorted by name."""
        return sorted(self._collections.values(), key=lambda c: c.name)

    def create(self, name: str, algorithm: int, bits: int) -> CollectionState:
        """Create an empty collection; raises AlreadyExistsError."""
        check_name(name)
        with self._write_lock:
            if name in self._collections:
                raise AlreadyExistsError(f"collection {name!r} already exists")
            now = time.time()
            cur = self._db.execute(
                "INSERT INTO collections (name, algorithm, bits, create_time) VALUES (?, ?, ?, ?)",
                (name, algorithm, bits, now),
            )
            state = CollectionState(int(cur.lastrowid or 0), name, algorithm, bits, now, 0,
                                    HammingIndex(bits, "auto"))
            self._collections[name] = state
            return state

    def delete(self, name: str) -> int:
        """Delete a collection and its items; returns how many items went."""
        with self._write_lock:
            state = self.get(name)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM items WHERE collection_id = ?", (state.id,))
                self._db.execute("DELETE FROM collections WHERE id = ?", (state.id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            del self._collections[name]
            self._remove_stale_snapshots()
            return len(state)

    # ---------------------------------------------------------------- items

    def add(self, name: str, items: Sequence[NewItem], policy: int) -> AddResult:
        """Add a batch in one transaction; the index changes only after the commit.

        `policy`: 0/1 error on an existing id, 2 skip it (counted as stored), 3 replace it.
        Bad items (wrong code width, bad id, existing id) are reported and the rest stored.
        """
        result = AddResult()
        with self._write_lock:
            state = self.get(name)
            nbytes = state.code_bytes
            rows: List[Tuple[int, str, bytes, Optional[str]]] = []  # (position, id, code, meta)
            seen: Dict[str, int] = {}
            replaced: List[int] = []
            for pos, item in enumerate(items):
                try:
                    check_item_id(item.id)
                    if len(item.code) != nbytes:
                        raise ValueError(
                            f"code is {len(item.code)} bytes; collection {name!r} holds "
                            f"{state.bits}-bit codes ({nbytes} bytes)"
                        )
                    meta = None
                    if item.metadata:
                        meta = json.dumps(dict(item.metadata), sort_keys=True)
                        if len(meta) > MAX_METADATA_BYTES:
                            raise LimitExceededError(f"metadata is over {MAX_METADATA_BYTES} bytes")
                    exists = item.id in seen or item.id in state.int_of
                    if exists and policy == 2:
                        result.stored += 1
                        continue
                    if exists and policy != 3:
                        raise AlreadyExistsError(f"item {item.id!r} already exists in {name!r}")
                    if item.id in seen:  # replaced twice within one batch: keep the last
                        rows[seen[item.id]] = (pos, item.id, item.code, meta)
                        result.stored += 1
                        continue
                    if item.id in state.int_of:
                        replaced.append(state.int_of[item.id])
                    seen[item.id] = len(rows)
                    rows.append((pos, item.id, item.code, meta))
                except (ValueError, LimitExceededError) as e:
                    result.errors.append((pos, e))
            if not rows:
                return result
            new_ids: List[int] = []
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for chunk_start in range(0, len(replaced), SQL_CHUNK):
                    chunk = replaced[chunk_start:chunk_start + SQL_CHUNK]
                    db.execute(f"DELETE FROM items WHERE id IN ({','.join('?' * len(chunk))})", chunk)
                for _, ext, code, meta in rows:
                    cur = db.execute(
                        "INSERT INTO items (collection_id, ext_id, code, metadata) VALUES (?, ?, ?, ?)",
                        (state.id, ext, code, meta),
                    )
                    new_ids.append(int(cur.lastrowid or 0))
                db.execute("UPDATE collections SET generation = generation + 1 WHERE id = ?",
                           (state.id,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            # Durable now: publish to the in-memory index.
            state.generation += 1
            if replaced:
                state.index.remove(np.array(replaced, dtype=np.uint64))
                for old in replaced:
                    state.ext_of.pop(old, None)
            codes = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.uint8).reshape(len(rows), nbytes)
            state.index.add(codes, np.array(new_ids, dtype=np.uint64))
            for (_, ext, _, _), iid in zip(rows, new_ids):
                state.ext_of[iid] = ext
                state.int_of[ext] = iid
            result.stored += len(rows)
            state.loose += len(rows)
            state.last_write = time.monotonic()
            if state.loose >= max(65536, len(state) // 2):  # during long ingests too
                self.compact(state)
            return result

    def remove(self, name: str, ids: Iterable[str]) -> Tuple[int, List[str]]:
        """Remove items by external id in one transaction; returns (removed, missing ids)."""
        with self._write_lock:
            state = self.get(name)
            present: List[int] = []
            missing: List[str] = []
            for ext in dict.fromkeys(ids):
                iid = state.int_of.get(ext)
                (missing.append(ext) if iid is None else present.append(iid))
            if not present:
                return 0, missing
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for s in range(0, len(present), SQL_CHUNK):
                    chunk = present[s:s + SQL_CHUNK]
                    db.execute(f"DELETE FROM items WHERE id IN ({','.join('?' * len(chunk))})", chunk)
                db.execute("UPDATE collections SET generation = generation + 1 WHERE id = ?",
                           (state.id,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            state.generation += 1
            state.index.remove(np.array(present, dtype=np.uint64))
            for iid in present:
                ext = state.ext_of.pop(iid)
                state.int_of.pop(ext, None)
            return len(present), missing

    def metadata(self, internal_ids: Sequence[int]) -> Dict[int, Dict[str, str]]:
        """Metadata of items by internal id (items without metadata are left out)."""
        uniq = list(dict.fromkeys(int(i) for i in internal_ids))
        if self.data_dir is None:  # one in-memory connection: share the writer's, under its lock
            with self._write_lock:
                return self._metadata(self._db, uniq)
        return self._metadata(self._reader(), uniq)

    @staticmethod
    def _metadata(db: sqlite3.Connection, uniq: List[int]) -> Dict[int, Dict[str, str]]:
        out: Dict[int, Dict[str, str]] = {}
        for s in range(0, len(uniq), SQL_CHUNK):
            chunk = uniq[s:s + SQL_CHUNK]
            for iid, meta in db.execute(
                f"SELECT id, metadata FROM items WHERE id IN ({','.join('?' * len(chunk))}) "
                "AND metadata IS NOT NULL",
                chunk,
            ):
                out[iid] = json.loads(meta)
        return out

    # ---------------------------------------------------------------- search

    def search(
        self,
        state: CollectionState,
        queries: npt.NDArray[np.uint8],
        k: int,
        max_distance: Optional[int],
        max_results: int,
    ) -> List[Tuple[List[int], List[int]]]:
        """Per query: (internal ids, distances), nearest first; see MatchService in the proto."""
        out: List[Tuple[List[int], List[int]]] = []
        if k > 0:
            dist, ids = state.index.search(queries, k, threads=self.search_threads)
            for drow, irow in zip(dist.tolist(), ids.tolist()):
                keep = [(i, d) for i, d in zip(irow, drow)
                        if i >= 0 and (max_distance is None or d <= max_distance)]
                out.append(([i for i, _ in keep], [d for _, d in keep]))
            return out
        assert max_distance is not None
        offsets, ids, dist = state.index.range_search(queries, max_distance, threads=self.search_threads)
        if int(offsets[-1]) > max_results:
            raise LimitExceededError(
                f"{int(offsets[-1])} matches within distance {max_distance} is over the limit of "
                f"{max_results}; lower max_distance or set k"
            )
        ids_l, dist_l, off = ids.tolist(), dist.tolist(), offsets.tolist()
        for q in range(len(off) - 1):
            out.append((ids_l[off[q]:off[q + 1]], dist_l[off[q]:off[q + 1]]))
        return out
