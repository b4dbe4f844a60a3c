"""A persistent, crash-safe cache of zero-cost proxy values and on-device latencies.

One SQLite file (default `$HWNAS_CACHE_DIR/scores.sqlite`, else `~/.cache/hwnas/scores.sqlite`).
Proxy values are keyed by (canonical architecture key, dataset, proxy, network seed, input id), so
a repeated or isomorphic candidate costs one lookup and a second run of the same search does no
torch work. Latencies are keyed by (item, dataset, device, machine fingerprint), where an item is an
architecture string (not its isomorphism class: dead branches and zero ops still run and take time)
or one op of the lookup-table model.

Every write is one SQLite transaction in WAL mode: a process killed mid-write leaves the file with
either all or none of that write's rows, never a torn row (tested by killing a writer). Several
processes may share one file; writers wait up to `timeout` seconds for the lock.
A non-finite float is stored as text ('inf', '-inf', 'nan'): SQLite would turn NaN into NULL.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS proxy_values (
    arch_key TEXT NOT NULL, dataset TEXT NOT NULL, proxy TEXT NOT NULL, seed INTEGER NOT NULL,
    input_id TEXT NOT NULL, value NOT NULL, seconds REAL NOT NULL, input_source TEXT NOT NULL,
    PRIMARY KEY (arch_key, dataset, proxy, seed, input_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latencies (
    item TEXT NOT NULL, dataset TEXT NOT NULL, device TEXT NOT NULL, fingerprint TEXT NOT NULL,
    median_ms REAL NOT NULL, cv REAL NOT NULL, repeats INTEGER NOT NULL,
    PRIMARY KEY (item, dataset, device, fingerprint)
) WITHOUT ROWID;
"""
_SQLITE_VARIABLES: Final = 900  # below SQLite's default limit on parameters per statement


def default_cache_path() -> Path:
    """`$HWNAS_CACHE_DIR/scores.sqlite`, or `~/.cache/hwnas/scores.sqlite`."""
    folder = os.environ.get("HWNAS_CACHE_DIR") or Path.home() / ".cache" / "hwnas"
    return Path(folder) / "scores.sqlite"


def _encode(value: float) -> float | str:
    return value if math.isfinite(value) else repr(float(value))


def _decode(value: float | str) -> float:
    return float(value)


@dataclass(frozen=True, slots=True)
class ProxyEntry:
    """One cached proxy value with what it cost and which input it saw."""

    value: float
    seconds: float
    input_source: str


@dataclass(frozen=True, slots=True)
class LatencyEntry:
    """One cached latency measurement: median over repeats and their coefficient of variation."""

    median_ms: float
    cv: float
    repeats: int


class ScoreCache:
    """The SQLite-backed cache; open once and share (reads batch many keys per query)."""

    def __init__(self, path: str | Path | None = None, *, timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.executescript(SCHEMA)

    def close(self) -> None:
        """Close the connection (the file stays)."""
        self._connection.close()

    def __enter__(self) -> ScoreCache:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- proxies ----------------------------------------------------------------------------------
    def get_proxies(
        self, arch_keys: Sequence[str], *, dataset: str, proxies: Sequence[str], seed: int, input_id: str
    ) -> dict[str, dict[str, ProxyEntry]]:
        """For each key with any cached value, {proxy: entry} (only the proxies asked for)."""
        found: dict[str, dict[str, ProxyEntry]] = {}
        unique = list(dict.fromkeys(arch_keys))
        step = _SQLITE_VARIABLES - len(proxies) - 3
        for start in range(0, len(unique), step):
            chunk = unique[start : start + step]
            rows = self._connection.execute(
                "SELECT arch_key, proxy, value, seconds, input_source FROM proxy_values "
                f"WHERE dataset = ? AND seed = ? AND input_id = ? AND proxy IN ({','.join('?' * len(proxies))}) "
                f"AND arch_key IN ({','.join('?' * len(chunk))})",
                (dataset, seed, input_id, *proxies, *chunk),
            )
            for key, proxy, value, seconds, source in rows:
                found.setdefault(key, {})[proxy] = ProxyEntry(_decode(value), seconds, source)
        return found

    def put_proxies(
        self,
        entries: Iterable[tuple[str, str, ProxyEntry]],
        *,
        dataset: str,
        seed: int,
        input_id: str,
    ) -> None:
        """Store (arch_key, proxy, entry) rows in one transaction (all or nothing)."""
        rows = [
            (key, dataset, proxy, seed, input_id, _encode(e.value), e.seconds, e.input_source)
            for key, proxy, e in entries
        ]
        with self._transaction():
            self._connection.executemany("INSERT OR REPLACE INTO proxy_values VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    # ---- latencies --------------------------------------------------------------------------------
    def get_latencies(
        self, items: Sequence[str], *, dataset: str, device: str, fingerprint: str
    ) -> dict[str, LatencyEntry]:
        """Cached latency entries for the items measured for this dataset on this device and machine."""
        found: dict[str, LatencyEntry] = {}
        unique = list(dict.fromkeys(items))
        step = _SQLITE_VARIABLES - 3
        for start in range(0, len(unique), step):
            chunk = unique[start : start + step]
            rows = self._connection.execute(
                "SELECT item, median_ms, cv, repeats FROM latencies WHERE dataset = ? AND device = ? "
                f"AND fingerprint = ? AND item IN ({','.join('?' * len(chunk))})",
                (dataset, device, fingerprint, *chunk),
            )
            for item, median_ms, cv, repeats in rows:
                found[item] = LatencyEntry(median_ms, cv, repeats)
        return found

    def put_latencies(
        self, entries: Iterable[tuple[str, LatencyEntry]], *, dataset: str, device: str, fingerprint: str
    ) -> None:
        """Store (item, entry) rows in one transaction."""
        rows = [(item, dataset, device, fingerprint, e.median_ms, e.cv, e.repeats) for item, e in entries]
        with self._transaction():
            self._connection.executemany("INSERT OR REPLACE INTO latencies VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def integrity_ok(self) -> bool:
        """SQLite's own integrity check of the file."""
        return bool(self._connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    def _transaction(self) -> _Transaction:
        return _Transaction(self._connection)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (the connection is in autocommit mode)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        self._connection.execute("COMMIT" if exc_type is None else "ROLLBACK")
