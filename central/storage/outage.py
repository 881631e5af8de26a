"""When central's database refuses writes (down, unreachable, or its disk full): recognise it, say it once.

A full disk is not bad data: a report that could not be stored must stay unacknowledged and be retried,
never quarantined, and the operator needs one clear line naming the file and the condition (and one when
writes work again), not a traceback per batch or per timer tick. The ingest, the alerts service and the
web all use this module so that the three say the same thing.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

# Below this much free space the SQLite database's filesystem counts as full: a batch of reports, the WAL
# growing past its checkpoint, or SQLite's temporary files need a few MiB at once.
FULL_BELOW_BYTES = 4 * 2**20

_DISK_FULL_HINTS = ("database or disk is full", "no space left on device", "could not extend file", "disk full")


def is_unavailable(error: BaseException) -> bool:
    """The database is down, unreachable or full (retry later), rather than refusing this data."""
    if isinstance(error, InterfaceError):
        return True
    if isinstance(error, OperationalError):
        message = str(error.orig).lower() if error.orig is not None else ""
        # SQLite reports refused *data* (e.g. too many variables) as OperationalError too.
        return is_disk_full(error) or not any(hint in message for hint in ("too many", "too big", "no such"))
    return isinstance(error, DBAPIError) and error.connection_invalidated


def is_disk_full(error: BaseException) -> bool:
    """SQLite's SQLITE_FULL or PostgreSQL's disk_full (53100), whatever wraps it."""
    original = error.orig if isinstance(error, DBAPIError) else error
    if getattr(original, "sqlite_errorcode", None) == 13:  # SQLITE_FULL
        return True
    if getattr(original, "sqlstate", None) == "53100" or getattr(original, "pgcode", None) == "53100":
        return True
    text = str(original).lower()
    return any(hint in text for hint in _DISK_FULL_HINTS)


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve()


@dataclass(frozen=True, slots=True)
class DiskSpace:
    path: Path  # the database file whose filesystem this is
    free_bytes: int
    total_bytes: int

    @property
    def full(self) -> bool:
        return self.free_bytes < FULL_BELOW_BYTES


def disk_space(url: URL) -> DiskSpace | None:
    """Free and total space of the SQLite database's filesystem; None for PostgreSQL (not our disk)."""
    path = sqlite_path(url)
    if path is None:
        return None
    try:
        usage = shutil.disk_usage(path.parent)
    except OSError:
        return None
    return DiskSpace(path, usage.free, usage.total)


def _where(url: URL) -> str:
    path = sqlite_path(url)
    return str(path) if path is not None else url.render_as_string(hide_password=True)


def describe(url: URL, error: BaseException) -> tuple[str, str]:
    """The condition ('disk full' or 'unavailable') and one line saying which database and why."""
    space = disk_space(url)
    detail = str(error.orig if isinstance(error, DBAPIError) and error.orig is not None else error).splitlines()
    cause = f"{type(error).__name__}: {detail[0] if detail else ''}"
    if is_disk_full(error) or (space is not None and space.full):
        free = f"; {space.free_bytes} bytes free on its filesystem" if space is not None else ""
        return "disk full", f"central database {_where(url)}: disk full ({cause}{free})"
    return "unavailable", f"central database {_where(url)}: unavailable ({cause})"


class WriteOutage:
    """Says once that writes to the database fail, and once when they work again.

    ``failed`` logs at ERROR the first time (and again only if the condition changes, say from disk full to
    unreachable); repeats go to DEBUG. ``recovered`` logs how long it lasted, if anything failed.
    """

    def __init__(self, logger: logging.Logger, url: URL | str, consequence: str) -> None:
        self._log = logger
        self._url = make_url(url)
        self._consequence = consequence  # e.g. "reports stay unacknowledged and are retried"
        self.failing: str | None = None  # the line said, while writes fail
        self.condition: str | None = None  # "disk full" or "unavailable", while writes fail
        self.failures = 0
        self._since = 0.0

    @property
    def disk_full(self) -> bool:
        return self.condition == "disk full"

    def failed(self, error: BaseException) -> str:
        condition, line = describe(self._url, error)
        self.failures += 1
        if condition != self.condition:
            if self.condition is None:
                self._since = time.monotonic()
            self._log.error("%s; %s", line, self._consequence)
        else:
            self._log.debug("still failing: %s", line)
        self.condition, self.failing = condition, line
        return line

    def recovered(self) -> None:
        if self.condition is None:
            return
        self._log.warning("central database %s: writable again after %.0f s (was %s; %d failed attempts)",
                          _where(self._url), time.monotonic() - self._since, self.condition, self.failures)
        self.condition = self.failing = None
        self.failures = 0
