"""One change-feed poller per web process, shared by every open live stream.

Before, each open stream polled the ``events`` table itself every ``web.sse_poll_s``: 300 open screens
meant 300 queries a second. Now one thread per process polls, keeps the newest events in memory and
wakes the streams, which only wait on a condition and write. The thread starts with the first stream
(never in the app factory) and stops after a while with no stream open.

Streams have their own thread budget: at most ``web.stream_slots`` at a time per process, on threads
beyond ``web.threads`` (``gunicorn_conf`` adds the two), so open screens never take the threads pages
are served on. A stream asked for when every slot is taken is told to come back later (``busy``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from central.storage.db import Database
from central.storage.models import Event
from central.storage.queries import change_feed_position, events_after

log = logging.getLogger(__name__)

BUFFERED_EVENTS = 5000  # a stream further behind than this reads the table itself, once
IDLE_STOP_S = 30.0  # the poller stops after this long with no stream open


@dataclass(frozen=True, slots=True)
class Change:
    """One change-feed row, already turned into what private and anonymous streams may send."""

    id: int
    regency: str | None
    private: dict[str, object]
    public: dict[str, object] | None


class ChangeHub:
    """The process's one poller and its stream slots; see the module docstring."""

    def __init__(
        self,
        database: Database,
        poll_s: float,
        slots: int,
        describe: Callable[[Event], Change],
    ) -> None:
        self.database = database
        self.poll_s = poll_s
        self.describe = describe
        self._slots = threading.BoundedSemaphore(slots)
        self._condition = threading.Condition()
        self._changes: deque[Change] = deque(maxlen=BUFFERED_EVENTS)
        self._position = -1
        self._floor = -1  # every change after this id is in the buffer
        self._thread: threading.Thread | None = None
        self._last_stream_at = time.monotonic()
        self.open_streams = 0

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """A stream slot for as long as the stream runs; yields False when all are taken."""
        if not self._slots.acquire(blocking=False):
            yield False
            return
        with self._condition:
            self.open_streams += 1
            self._ensure_running()
        try:
            yield True
        finally:
            with self._condition:
                self.open_streams -= 1
                self._last_stream_at = time.monotonic()
            self._slots.release()

    def changes_after(self, cursor: int, timeout_s: float) -> list[Change]:
        """Changes newer than ``cursor``, waiting up to ``timeout_s`` for one; [] when none came."""
        with self._condition:
            self._condition.wait_for(lambda: self._position > cursor, timeout_s)
            if self._position <= cursor:
                return []
            if cursor >= self._floor:
                return [change for change in self._changes if change.id > cursor]
        return self._read(cursor)  # further behind than the buffer: the table, outside the lock

    def _read(self, cursor: int) -> list[Change]:
        with self.database.session() as session:
            return [self.describe(event) for event in events_after(session, cursor)]

    def _ensure_running(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="scc-live-hub", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            with self.database.session() as session:
                position = change_feed_position(session)
            with self._condition:
                self._changes.clear()
                self._position = self._floor = position
                self._condition.notify_all()
            while True:
                with self._condition:
                    if self.open_streams == 0 and time.monotonic() - self._last_stream_at > IDLE_STOP_S:
                        self._thread = None
                        return
                    position = self._position
                batch = self._read(position)
                if batch:
                    with self._condition:
                        self._changes.extend(batch)
                        if len(self._changes) == self._changes.maxlen:
                            self._floor = self._changes[0].id - 1  # older ones were dropped
                        self._position = batch[-1].id
                        self._condition.notify_all()
                if len(batch) < 200:
                    time.sleep(self.poll_s)
        except Exception:  # the database went away (shutdown, a test's teardown): streams time out and end
            log.exception("live updates: the change-feed poller stopped")
            with self._condition:
                self._thread = None
