"""Ingest workers sharing one SQLite file take write turns through a blocking file lock."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator

from central.storage.db import Database

log = logging.getLogger(__name__)


class WriteTurns:
    """Serializes this process's write transactions with the other ingest workers' on the same SQLite file.

    SQLite serializes writers anyway, but a writer that finds the database locked waits in SQLite's
    busy handler, which sleeps 1, 2, 5, ... up to 100 ms between attempts: with several workers the
    file sat idle for much of each wait. A blocking flock wakes the next worker when the lock is
    released. The kernel drops the lock with its process (kill -9 included). PostgreSQL, a
    ``:memory:`` database, or a lock file that cannot be opened: no turns, the database decides alone.
    """

    def __init__(self, database: Database) -> None:
        self._fd: int | None = None
        path = database.url.database if database.is_sqlite else None
        if not path or path == ":memory:" or path.startswith("file:"):
            return
        try:
            self._fd = os.open(f"{path}-ingest.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            log.warning("no ingest write turns (%s): concurrent workers fall back on SQLite's busy wait", error)

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        if self._fd is None:
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
