"""Central's sight as a whole: every ingest worker's ``Sight`` (``sight.py``) recorded, and combined.

With several workers sharing the subscription, the broker gives each message to one of them, and keeps
those for a worker that is disconnected in that worker's queue: an agent's birth may wait there while
another, connected worker would count the agent's grace period as heard. So presence settles against
central's sight, not one worker's: central is blind while any live worker is blind, and sees since the
latest moment any of them began to see (``combined_since``).

Each worker records its own sight with a heartbeat every settle period (``record``, one small upsert).
A worker whose heartbeat is older than ``DEAD_AFTER`` (a few settle periods) is dead (killed, stopped):
it must not blind central forever. Messages queued for it are unread until it comes back, so central
counts as seeing only from when it was found dead (its last heartbeat plus ``DEAD_AFTER``): an agent
whose birth waits in that queue gets a fresh grace period from then, as after any blind spell.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import cast

from sqlalchemy import Connection, Table, select

from central.storage.db import dialect_insert
from central.storage.models import IngestSight

# Five of the worker's 2 s settle periods: a live worker's heartbeat is never that old (a batch taking
# longer delays its heartbeat; a worker stuck that long is as good as dead for hearing births).
DEAD_AFTER = dt.timedelta(seconds=10)

sights = cast(Table, IngestSight.__table__)


def combined_since(own: dt.datetime | None, others: Iterable[tuple[dt.datetime | None, dt.datetime]],
                   now: dt.datetime, dead_after: dt.timedelta = DEAD_AFTER) -> dt.datetime | None:
    """Since when central as a whole sees, or None while it is blind.

    ``own`` is this worker's sight (its memory is fresher than its row), ``others`` the other workers'
    recorded (since, heartbeat_at). A live worker that is blind blinds central; the latest ``since``
    among the live ones wins; a dead worker counts as having begun to see when it was found dead.
    """
    if own is None:
        return None
    since = own
    for other, heartbeat in others:
        if now - heartbeat > dead_after:
            since = max(since, heartbeat + dead_after)
        elif other is None:
            return None
        else:
            since = max(since, other)
    return since


def record(conn: Connection, worker: int, since: dt.datetime | None, now: dt.datetime) -> None:
    """This worker's sight and heartbeat (an upsert of its one row)."""
    insert = dialect_insert(sights, conn.dialect.name == "postgresql")
    conn.execute(insert.values(worker=worker, since=since, heartbeat_at=now)
                 .on_conflict_do_update(index_elements=["worker"], set_={"since": since, "heartbeat_at": now}))


def seeing_since(conn: Connection, worker: int, own: dt.datetime | None, now: dt.datetime,
                 dead_after: dt.timedelta = DEAD_AFTER) -> dt.datetime | None:
    """Record this worker's sight, and return central's (``combined_since``) from the others' rows."""
    record(conn, worker, own, now)
    others = conn.execute(select(sights.c.since, sights.c.heartbeat_at).where(sights.c.worker != worker)).all()
    return combined_since(own, [(since, heartbeat) for since, heartbeat in others], now, dead_after)
