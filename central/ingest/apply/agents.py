"""Every batch: its agents exist in the agents table (in the registry's regency), and were seen when they last spoke."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, bindparam, case, or_, select, update

from central.ingest.apply.context import Batch
from central.ingest.batch import Accepted
from central.storage.models import Agent, Camera, Website
from shared.messages import Envelope

log = logging.getLogger(__name__)

agents = cast(Table, Agent.__table__)
_MOVED_WITH_AGENT = (cast(Table, Camera.__table__), cast(Table, Website.__table__))
# One statement per batch (executemany, one row per agent): neither time ever moves back (two workers
# may write one agent's batches out of order).
_TOUCH = (
    update(agents)
    .where(agents.c.name == bindparam("b_name"))
    .values(
        last_seen_at=case((or_(agents.c.last_seen_at.is_(None), agents.c.last_seen_at < bindparam("b_ts")),
                           bindparam("b_ts")), else_=agents.c.last_seen_at),
        heard_at=case((or_(agents.c.heard_at.is_(None), agents.c.heard_at < bindparam("b_heard")),
                       bindparam("b_heard")), else_=agents.c.heard_at),
    )
)


def ensure_agents(batch: Batch, fresh: Sequence[Accepted[Envelope]]) -> None:
    """Insert agents never seen; move an agent re-enrolled for another regency, its cameras and websites too."""
    wanted = {a.message.agent: a.regency for a in fresh}
    unknown = {name: regency for name, regency in wanted.items() if batch.known_agents.get(name) != regency}
    if not unknown:
        return
    conn = batch.conn
    existing = dict(
        conn.execute(select(agents.c.name, agents.c.regency_code).where(agents.c.name.in_(unknown))).all()
    )
    missing = [name for name in unknown if name not in existing]
    if missing:
        conn.execute(
            batch.insert(agents).on_conflict_do_nothing(index_elements=["name"]),
            [{"name": name, "regency_code": unknown[name]} for name in missing],
        )
    moved = [name for name, regency in existing.items() if regency != unknown[name]]
    for name in moved:
        log.info("agent %s moved to regency %s (registry)", name, unknown[name])
        conn.execute(update(agents).where(agents.c.name == name).values(regency_code=unknown[name]))
        for table in _MOVED_WITH_AGENT:
            conn.execute(update(table).where(table.c.agent_name == name).values(regency_code=unknown[name]))


def touch_agents(batch: Batch, fresh: Sequence[Accepted[Envelope]]) -> None:
    """Each agent's last_seen_at (the newest ts of its messages) and heard_at (when central received the
    newest), never moved back."""
    newest: dict[str, dt.datetime] = {}
    heard: dict[str, dt.datetime] = {}
    for entry in fresh:
        ts = entry.ts
        received = entry.item.received_at
        agent = entry.message.agent
        if agent not in newest or ts > newest[agent]:
            newest[agent] = ts
        if agent not in heard or received > heard[agent]:
            heard[agent] = received
    batch.conn.execute(_TOUCH, [{"b_name": name, "b_ts": ts, "b_heard": heard[name]} for name, ts in newest.items()])
