"""Agent presence (birth and last will): online or offline, and an offline agent's cameras go unknown."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from central.ingest.apply.agents import agents
from central.ingest.apply.context import Batch
from central.ingest.apply.rows import cameras, newest
from central.ingest.batch import Accepted
from central.storage.models import EventKind
from central.storage.text import clean_text
from central.storage.transitions import AGENT_OFFLINE_REASON, CameraNow, cameras_unknown, event_row
from shared.messages import AgentBirth, AgentOffline, CameraState

_WATCHED = select(
    cameras.c.id, cameras.c.camera_id, cameras.c.regency_code, cameras.c.status, cameras.c.status_since,
    cameras.c.last_check_at,
)


def apply(batch: Batch, entries: list[Accepted[AgentBirth | AgentOffline]]) -> None:
    # Arrival order, not ts: an agent builds its last will before the birth of the same connection.
    # Of messages that arrived at the same moment, births go first.
    entries.sort(key=lambda a: (a.item.received_at, isinstance(a.message, AgentOffline)))
    conn = batch.conn
    events = batch.transitions.events
    names = {e.message.agent for e in entries}
    online = dict(conn.execute(select(agents.c.name, agents.c.online).where(agents.c.name.in_(names))).all())
    for entry in entries:
        message = entry.message
        agent = message.agent
        if isinstance(message, AgentBirth):
            conn.execute(
                update(agents).where(agents.c.name == agent).values(
                    online=True, presence_since=entry.ts, presence_ts=entry.ts, offline_reason="",
                    agent_version=clean_text(message.agent_version), hostname=clean_text(message.hostname),
                    started_at=message.started_at, cameras_configured=message.cameras_configured,
                    websites_configured=message.websites_configured,
                )
            )
            if not online.get(agent):
                events.append(event_row(EventKind.AGENT_ONLINE, entry.ts, entry.regency, agent, agent,
                                        old="offline", new="online", message=clean_text(message.agent_version)))
            online[agent] = True
        else:
            # A last will carries the ts of when it was armed; the broker sends it when the link died.
            when = entry.item.received_at if message.reason == "connection_lost" else entry.ts
            conn.execute(
                update(agents).where(agents.c.name == agent).values(
                    online=False, presence_since=when, presence_ts=entry.ts, offline_reason=message.reason
                )
            )
            if online.get(agent, True):
                events.append(event_row(EventKind.AGENT_OFFLINE, when, entry.regency, agent, agent, old="online",
                                        new="offline", reason=message.reason))
            online[agent] = False
            _unwatched(batch, agent, entry.regency, when)
        batch.transitions.republish.regencies.add(entry.regency)


def _unwatched(batch: Batch, agent: str, regency: str, when: dt.datetime) -> None:
    """The offline agent's cameras' status is unknown from ``when`` on: nobody is watching them."""
    rows = batch.conn.execute(
        # A lost camera stays offline (lost): the agent was not watching it anyway.
        _WATCHED.where(cameras.c.agent_name == agent, cameras.c.status != CameraState.UNKNOWN.value,
                       cameras.c.lost_at.is_(None))
    )
    unwatched = []
    for row in rows:
        current_ts = newest(row.last_check_at, row.status_since)
        if current_ts is not None and current_ts > when:
            continue  # reported after the link died (store-and-forward backlog)
        unwatched.append(CameraNow(row.id, row.camera_id, row.regency_code, row.status, row.status_since))
    cameras_unknown(batch.conn, batch.transitions, unwatched, [agent] * len(unwatched), AGENT_OFFLINE_REASON, when,
                    regency=regency)
