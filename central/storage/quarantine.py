"""Reading the quarantine: refusals per agent and reason, and the latest examples (admin page, API, alerts).

The ingest writes it (``central/ingest/store.py``): one row per distinct refused message, with how
many times it came and when first and last.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, null, select
from sqlalchemy.orm import Session

from central.storage.models import QuarantinedMessage

# An agent counts as "being refused" while it had a refusal this recently (the alert and the regency page).
REFUSING_WINDOW = dt.timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class RefusalCount:
    """Refusals of one agent (None: the topic named no agent) for one reason category."""

    agent: str | None
    category: str
    messages: int  # counting repeats of one message
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


def refusal_counts(session: Session, since: dt.datetime | None = None) -> list[RefusalCount]:
    """Per agent and category, rows last seen at or after ``since`` (all when None); most recent first."""
    q = QuarantinedMessage
    # Grouped by an expression of agent_name, equal to it (NULL stays NULL), not by the bare column: else
    # SQLite (no statistics) walks the whole (agent_name, last_seen_at) index in group order rather than
    # seek ``since``'s range of last_seen_at, and the alert loop asks for the last minutes every tick.
    agent = func.coalesce(q.agent_name, null()).label("agent")
    query = select(agent, q.category, func.sum(q.times_seen), func.min(q.first_seen_at),
                   func.max(q.last_seen_at)).group_by(agent, q.category)
    if since is not None:
        query = query.where(q.last_seen_at >= since)
    counts = [RefusalCount(agent, category, int(total or 0), first, last)
              for agent, category, total, first, last in session.execute(query)]
    return sorted(counts, key=lambda c: c.last_seen_at, reverse=True)


def recent_refusals(session: Session, *, agent: str | None = None, limit: int = 20) -> list[QuarantinedMessage]:
    """The latest refused messages, newest first (optionally one agent's)."""
    query = select(QuarantinedMessage).order_by(QuarantinedMessage.last_seen_at.desc(), QuarantinedMessage.id.desc())
    if agent is not None:
        query = query.where(QuarantinedMessage.agent_name == agent)
    return list(session.scalars(query.limit(limit)))


def refusing_agents(session: Session, now: dt.datetime) -> dict[str, RefusalCount]:
    """Agents with refusals within :data:`REFUSING_WINDOW`: their most recent category's count, by agent."""
    found: dict[str, RefusalCount] = {}
    for count in refusal_counts(session, now - REFUSING_WINDOW):
        if count.agent is not None and count.agent not in found:
            found[count.agent] = count
    return found


def last_refusals(session: Session) -> dict[str, dt.datetime]:
    """Each agent's most recent refusal (agents never refused are absent)."""
    q = QuarantinedMessage
    # The alert loop asks this every tick. GROUP BY agent_name read the whole (agent_name, last_seen_at)
    # index, every refusal kept (30 days; a chatty agent's 100k: 23 ms a tick). Instead the agent names
    # are walked through that index one seek each (a recursive "next name after this one"), and each
    # one's newest is the end of its range: the cost is the number of agents, not of refusals.
    names = select(func.min(q.agent_name).label("name")).where(q.agent_name.is_not(None)).cte("names", recursive=True)
    following = select(func.min(q.agent_name)).where(q.agent_name > names.c.name).scalar_subquery()
    names = names.union_all(select(following).where(names.c.name.is_not(None)))
    newest = select(func.max(q.last_seen_at)).where(q.agent_name == names.c.name).scalar_subquery()
    rows = session.execute(select(names.c.name, newest).where(names.c.name.is_not(None)))
    return {agent: last for agent, last in rows if agent is not None and last is not None}
