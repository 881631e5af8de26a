"""Engines and sessions: SQLite in WAL mode by default, PostgreSQL (psycopg 3) by URL.

Use one :class:`Database` per process::

    db = Database.from_config(config)           # or Database("sqlite:////var/lib/scc/central.db")
    with db.session() as session:                # read, or small writes: commits on success
        ...
    with db.session(write=True) as session:      # SQLite: BEGIN IMMEDIATE (takes the write lock
        ...                                      # up front, so a read-then-write never hits "locked")

SQLite notes: WAL lets the web read while the ingest writes; ``synchronous=NORMAL`` is durable
against process crashes (kill -9) and loses at most the last transactions on power loss; a
``busy_timeout`` makes concurrent writers wait instead of failing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# SQLite's page cache per connection. Readers (web, alerts, reports) scan history and profit from 64 MiB.
# The ingest writes: what it touches is each table's and index's newest pages and one page per camera
# row, a few MiB, and as the only writer it keeps every page it writes, so a 64 MiB cache just fills
# for an hour or more as the database grows (the soak saw +28.6%/h). 8 MiB is full within minutes, and
# bench_ingest showed no loss of throughput (one worker, 150,000 reports: 69-75% of the broker's rate at
# 64 MiB, 76-80% at 4-8 MiB, runs vary by ±5%).
READER_SQLITE_CACHE_MIB = 64
WRITER_SQLITE_CACHE_MIB = 8
_IMMEDIATE = "scc_sqlite_begin_immediate"
# Held while inserting events on PostgreSQL, so event ids become visible in increasing order and a
# change-feed reader polling "id > last seen" never skips one that a slower transaction commits late.
EVENTS_LOCK_KEY = 0x5CC0_E7E5


class EncodedJson(str):
    """JSON text already encoded (by pydantic, say): bound to a JSON column as it is, not encoded again."""


def _json_serializer(value: Any) -> str:
    return value if type(value) is EncodedJson else json.dumps(value)


def lock_event_ids(connection: Connection) -> None:
    """Call in a transaction before inserting events (no-op on SQLite: it has one writer anyway)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENTS_LOCK_KEY})


def write_lock_options() -> dict[str, bool]:
    """Execution options for a transaction that begins holding SQLite's write lock (ignored elsewhere)."""
    return {_IMMEDIATE: True}


def normalize_url(url: str | URL) -> URL:
    """Pick the drivers SCC ships with: pysqlite, and psycopg 3 for a bare ``postgresql://``."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


_T = TypeVar("_T")
# Keys per bound IN list: well under SQLite's limit on a statement's parameters (32,766; 999 before 3.32).
IN_LIST_CHUNK = 500


def chunked(items: Sequence[_T], size: int = IN_LIST_CHUNK) -> Iterator[Sequence[_T]]:
    """``items`` in consecutive slices of at most ``size`` (an IN list per statement, say)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dialect_insert(table: Table, postgres: bool) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, for ON CONFLICT clauses (SQLite and PostgreSQL spell them alike)."""
    return postgresql.insert(table) if postgres else sqlite.insert(table)


def make_engine(url: str | URL, sqlite_cache_mib: int = READER_SQLITE_CACHE_MIB, **kwargs: Any) -> Engine:
    """An Engine with SCC's settings for the URL's backend (extra kwargs go to create_engine)."""
    parsed = normalize_url(url)
    kwargs.setdefault("json_serializer", _json_serializer)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, sqlite_cache_mib, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def _sqlite_engine(url: URL, cache_mib: int, **kwargs: Any) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN is ours (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
            "temp_store=MEMORY",
            f"cache_size={-1024 * cache_mib}",  # negative: KiB, not pages
            "wal_autocheckpoint=10000",  # pages; fewer, larger checkpoints under a write-heavy load
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """An engine and its session factories; cheap to share across threads (not across forks)."""

    def __init__(self, url: str | URL, **engine_kwargs: Any) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(
            self.engine.execution_options(**write_lock_options()), expire_on_commit=False
        )

    @classmethod
    def from_config(cls, config: Any, **engine_kwargs: Any) -> Database:
        """From a CentralConfig (``config.database.url``)."""
        return cls(config.database.url, **engine_kwargs)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    def new_session(self, *, write: bool = False) -> Session:
        """A plain Session the caller commits and closes (Flask request scope, for example)."""
        return (self._write_sessions if write else self._sessions)()

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        with self.new_session(write=write) as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
