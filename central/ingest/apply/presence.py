"""Agent presence (birth and last will): online or offline, and an offline agent's cameras go unknown.

A last will (``connection_lost``) does not take the agent offline at once: it records when the link
died (``link_lost_at``) and the agent stays online for ``offline_grace_s``. A birth within that time
clears it and nothing changed, so a broker restart (every agent drops and reconnects within seconds)
makes no status changes, events or alerts. :func:`settle_lost_links`, run by the worker every few
seconds, takes the agents still gone after the grace period offline as of when their link died (or when
central could see again, if later). A clean ``shutdown`` goes offline at once: an operator stopped the agent.

The grace period counts only while central could see: a birth that central could not receive (its
broker link down) or not store (its disk full) says nothing about the agent. :func:`offline_as_of`
decides it against ``ingest/sight.py``'s record of when the worker last began to see and store.

Silence: a last will is not certain to come. An agent killed while the broker was down (or during its
crash) never has its will sent, and a half-open link may never be noticed. An agent not heard from
(no message of any kind received, ``agents.heard_at``) for ``silence`` goes offline (``no_report``),
counted the same way by :func:`offline_as_of` (:func:`settle_silent_agents`); the next message of any
kind from it, if it is news and not a backlog, brings it back online (:func:`heard_again`), as a birth does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, Select, or_, select, update

from central.ingest.apply.agents import agents
from central.ingest.apply.context import Batch
from central.ingest.apply.rows import cameras, newest
from central.ingest.batch import Accepted
from central.storage.models import NO_REPORT_REASON, EventKind
from central.storage.text import clean_text
from central.storage.transitions import (
    AGENT_OFFLINE_REASON,
    CameraNow,
    Republish,
    Transitions,
    cameras_unknown,
    event_row,
)
from shared.messages import AgentBirth, AgentOffline, CameraState, Envelope

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
                    online=True, presence_ts=entry.ts, offline_reason="", link_lost_at=None,
                    agent_version=clean_text(message.agent_version), hostname=clean_text(message.hostname),
                    started_at=message.started_at, cameras_configured=message.cameras_configured,
                    websites_configured=message.websites_configured,
                )
            )
            if not online.get(agent):
                conn.execute(update(agents).where(agents.c.name == agent).values(presence_since=entry.ts))
                events.append(event_row(EventKind.AGENT_ONLINE, entry.ts, entry.regency, agent, agent,
                                        old="offline", new="online", message=clean_text(message.agent_version)))
            online[agent] = True
        else:
            # A last will carries the ts of when it was armed; the broker sends it when the link died.
            when = entry.item.received_at if message.reason == "connection_lost" else entry.ts
            if message.reason == "connection_lost" and batch.settings.offline_grace_s > 0:
                if online.get(agent, True):  # the first will of a run: the grace period starts when the link died
                    conn.execute(update(agents).where(agents.c.name == agent, agents.c.link_lost_at.is_(None))
                                 .values(link_lost_at=when, presence_ts=entry.ts))
                continue
            conn.execute(
                update(agents).where(agents.c.name == agent).values(
                    online=False, presence_since=when, presence_ts=entry.ts, offline_reason=message.reason
                )
            )
            if online.get(agent, True):
                events.append(event_row(EventKind.AGENT_OFFLINE, when, entry.regency, agent, agent, old="online",
                                        new="offline", reason=message.reason))
            online[agent] = False
            _unwatched(conn, batch.transitions, agent, entry.regency, when)
        batch.transitions.republish.regencies.add(entry.regency)


def heard_again(batch: Batch, fresh: Sequence[Accepted[Envelope]]) -> None:
    """Agents of the batch that went offline for their silence are online again as of when they were heard.

    Any message says the agent is alive, if it is news: written (its ts) within the silence window before
    central received it. A message that waited longer somewhere says only that the agent was alive back
    then: one queued at the broker for an ingest worker that was down, delivered when that worker came
    back, would otherwise bring a dead agent online for another window and alert its death twice. An
    agent whose clock runs behind by more than the window comes back by its next birth instead. Only
    silence is undone so (a will or a shutdown waits for the birth of the next connection). One statement
    per batch, by primary key, that almost always changes nothing: the cost of every report stays what it was.
    """
    silence = batch.settings.agent_silence_s
    window = dt.timedelta(seconds=silence) if silence > 0 else dt.timedelta.max  # 0: silence never judged
    heard: dict[str, dt.datetime] = {}
    for entry in fresh:
        received = entry.item.received_at
        agent = entry.message.agent
        if received - entry.ts <= window and (agent not in heard or received < heard[agent]):
            heard[agent] = received
    if not heard:
        return
    back = batch.conn.execute(
        update(agents).where(agents.c.name.in_(heard), agents.c.online.is_(False),
                             agents.c.offline_reason == NO_REPORT_REASON)
        .values(online=True, offline_reason="").returning(agents.c.name, agents.c.regency_code)
    ).all()
    for name, regency in back:  # rare: each its own moment (the batch's earliest was another agent's)
        batch.conn.execute(update(agents).where(agents.c.name == name).values(presence_since=heard[name]))
        batch.transitions.events.append(event_row(EventKind.AGENT_ONLINE, heard[name], regency, name, name,
                                                  old="offline", new="online"))
        batch.transitions.republish.regencies.add(regency)


def links_lost(conn: Connection) -> bool:
    """Whether any agent's link died and its grace period is running."""
    return conn.execute(select(agents.c.name).where(agents.c.link_lost_at.is_not(None)).limit(1)).first() is not None


def offline_as_of(link_lost_at: dt.datetime, seeing_since: dt.datetime | None, now: dt.datetime,
                  grace: dt.timedelta) -> dt.datetime | None:
    """When an agent whose link died at ``link_lost_at`` counts as offline, or None: not (yet) known.

    The one rule for both ways an agent is found gone: its last will (``link_lost_at``, ``grace`` the
    offline grace period) and its silence (``link_lost_at`` when it was last heard, ``grace`` the silence
    window; :func:`settle_silent_agents`): central cannot tell a dead agent from its own deafness, so
    both count only while it could hear.

    The grace period runs from the later of the link's death and the moment central began to see again
    (``seeing_since``; None while it is blind: nothing is decided then). Why: when the broker goes down
    (SIGTERM) it sends every agent's will to the ingest as it closes, and the ingest is then disconnected
    too (by its own reconnect backoff, often longer than the agents); counted from the wills, the grace ran
    out while nobody could hear a birth and every live agent went offline and alerted (the 30-minute soak,
    seed 23). Counted from when central
    could hear again, each agent has the whole grace period to reconnect and send its birth, and one that
    does not is offline (and alerts) as of then: central did not know it was gone before.
    """
    if seeing_since is None:
        return None
    start = max(link_lost_at, seeing_since)
    return start if now - start >= grace else None


def settle_lost_links(conn: Connection, now: dt.datetime, grace: dt.timedelta,
                      seeing_since: dt.datetime | None) -> Republish:
    """Agents whose link died and that have not come back within the grace period go offline
    (:func:`offline_as_of`); ``seeing_since`` is when this worker last began to see and store."""
    transitions = Transitions()
    if seeing_since is None:
        return transitions.republish
    lost = conn.execute(select(agents.c.name, agents.c.regency_code, agents.c.link_lost_at)
                        .where(agents.c.link_lost_at.is_not(None), agents.c.link_lost_at <= now - grace)).all()
    for name, regency, link_lost_at in lost:
        when = offline_as_of(link_lost_at, seeing_since, now, grace)
        if when is None:
            continue
        # Guarded by link_lost_at: a birth committed by another worker meanwhile wins.
        changed = conn.execute(
            update(agents).where(agents.c.name == name, agents.c.link_lost_at == link_lost_at).values(
                online=False, presence_since=when, offline_reason="connection_lost", link_lost_at=None)
        ).rowcount
        if not changed:
            continue
        transitions.events.append(event_row(EventKind.AGENT_OFFLINE, when, regency, name, name, old="online",
                                            new="offline", reason="connection_lost"))
        _unwatched(conn, transitions, name, regency, when)
        transitions.republish.regencies.add(regency)
    transitions.write_events(conn)
    return transitions.republish


def silent_agents(conn: Connection, now: dt.datetime, silence: dt.timedelta) -> bool:
    """Whether any online agent (its link not already in a grace period) has been silent for ``silence``."""
    return conn.execute(_silent(now, silence).limit(1)).first() is not None


def _silent(now: dt.datetime, silence: dt.timedelta) -> Select[str, str, dt.datetime | None]:
    # Never heard (an agent online from before heard_at existed): counted from when central could see.
    return select(agents.c.name, agents.c.regency_code, agents.c.heard_at).where(
        agents.c.online.is_(True), agents.c.link_lost_at.is_(None),
        or_(agents.c.heard_at.is_(None), agents.c.heard_at <= now - silence))


def settle_silent_agents(conn: Connection, now: dt.datetime, silence: dt.timedelta,
                         seeing_since: dt.datetime | None) -> Republish:
    """Online agents not heard from for ``silence`` go offline (``no_report``) as :func:`offline_as_of`
    says, their cameras unknown: their will never came (killed while the broker was down, a half-open
    link). An agent whose link died is left to :func:`settle_lost_links` (its will says more)."""
    transitions = Transitions()
    if seeing_since is None or now - seeing_since < silence:
        return transitions.republish  # nobody's silence can have lasted long enough yet
    for name, regency, heard_at in conn.execute(_silent(now, silence)).all():
        when = offline_as_of(heard_at or seeing_since, seeing_since, now, silence)
        if when is None:
            continue
        # Guarded by heard_at: a message another worker stored meanwhile wins.
        heard = agents.c.heard_at.is_(None) if heard_at is None else agents.c.heard_at == heard_at
        changed = conn.execute(
            update(agents).where(agents.c.name == name, agents.c.online.is_(True), agents.c.link_lost_at.is_(None),
                                 heard).values(online=False, presence_since=when, offline_reason=NO_REPORT_REASON)
        ).rowcount
        if not changed:
            continue
        transitions.events.append(event_row(EventKind.AGENT_OFFLINE, when, regency, name, name, old="online",
                                            new="offline", reason=NO_REPORT_REASON))
        _unwatched(conn, transitions, name, regency, when)
        transitions.republish.regencies.add(regency)
    transitions.write_events(conn)
    return transitions.republish


def _unwatched(conn: Connection, transitions: Transitions, agent: str, regency: str, when: dt.datetime) -> None:
    """The offline agent's cameras' status is unknown from ``when`` on: nobody is watching them."""
    rows = conn.execute(
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
    cameras_unknown(conn, transitions, unwatched, [agent] * len(unwatched), AGENT_OFFLINE_REASON, when,
                    regency=regency)
