"""Whether this ingest worker can see the field and store what it sees, and since when.

Presence counts an agent's grace period (``[ingest] agent_offline_grace_s``) only while central itself
could have heard the agent come back (``apply/presence.py``). The worker is blind while its broker link
is down (a broker restart or crash: no birth reaches it, though the wills the broker sent as it went down
have) and while its writes fail (a full disk, a lost database: births arrive and cannot be stored). When
it sees again, every agent gets a fresh grace period to send its birth, counted from that moment: a
central outage longer than the grace period then takes no live agent offline, and an agent that is
really gone still goes offline (and alerts) a grace period after central could see again.

Paho's network thread reports the link, the worker's thread the writes; hence the lock.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Sight:
    """Linked (subscribed at the broker) and storing (the last write worked): seeing, since a wall-clock time."""

    def __init__(self, clock: Clock = _utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._linked = False  # a new worker sees nothing until its first subscription
        self._storing = True  # until a write fails: a new worker has not failed any yet
        self._since: dt.datetime | None = None

    @property
    def since(self) -> dt.datetime | None:
        """When this worker last began to see and store; None while it is blind."""
        with self._lock:
            return self._since

    def linked(self, up: bool) -> None:
        """The broker link came up (subscribed: messages flow) or went down."""
        with self._lock:
            self._linked = up
            self._update()

    def storing(self, up: bool) -> None:
        """A write worked, or failed because the database is unavailable or its disk full."""
        with self._lock:
            self._storing = up
            self._update()

    def _update(self) -> None:
        """Under the lock: a new ``since`` when blindness ends, none while it lasts."""
        if not (self._linked and self._storing):
            self._since = None
        elif self._since is None:
            self._since = self._clock()
