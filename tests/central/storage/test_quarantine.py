"""The refusal summaries the regency page, the API and the alert loop read from the quarantine."""

from __future__ import annotations

import datetime as dt

from central.storage.db import Database
from central.storage.models import QuarantinedMessage
from central.storage.quarantine import last_refusals, refusal_counts

T0 = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def _refused(n: int, agent: str | None, category: str, minutes_ago: int, times: int = 1) -> QuarantinedMessage:
    seen = T0 - dt.timedelta(minutes=minutes_ago)
    return QuarantinedMessage(digest=f"{n:064d}", topic=f"scc/v1/x/{n}", agent_name=agent, category=category,
                              reason="bad", payload=b"x", payload_size=1, first_seen_at=seen - dt.timedelta(minutes=1),
                              last_seen_at=seen, times_seen=times)


def test_counts_since_a_moment_and_each_agents_last_refusal(database: Database) -> None:
    with database.session() as session:
        session.add_all([
            _refused(1, "agent-a", "decode", 2, times=3), _refused(2, "agent-a", "decode", 5),
            _refused(3, "agent-a", "unknown_camera", 40), _refused(4, "agent-b", "decode", 90),
            _refused(5, None, "decode", 1), _refused(6, None, "decode", 3), _refused(7, "agent-c", "camera_cap", 10),
        ])
    with database.session() as session:
        recent = refusal_counts(session, T0 - dt.timedelta(minutes=15))
        everything = refusal_counts(session)
        last = last_refusals(session)
    assert [(c.agent, c.category, c.messages) for c in recent] == [
        (None, "decode", 2), ("agent-a", "decode", 4), ("agent-c", "camera_cap", 1)]
    assert recent[1].first_seen_at == T0 - dt.timedelta(minutes=6)
    assert recent[1].last_seen_at == T0 - dt.timedelta(minutes=2)
    assert {(c.agent, c.category) for c in everything} == {
        (None, "decode"), ("agent-a", "decode"), ("agent-a", "unknown_camera"), ("agent-b", "decode"),
        ("agent-c", "camera_cap")}
    assert last == {"agent-a": T0 - dt.timedelta(minutes=2), "agent-b": T0 - dt.timedelta(minutes=90),
                    "agent-c": T0 - dt.timedelta(minutes=10)}


def test_no_refusals_no_last_refusals(database: Database) -> None:
    with database.session() as session:
        assert last_refusals(session) == {} and refusal_counts(session) == []
