"""Central's own outages against agents' presence and alerts, on scripted timelines like the soak's.

A timeline is central's blind spells (its broker link down, its ingest down, its disk full) and what it
received when, played second by second through the real writer, the presence settling the ingest
worker runs every 2 s (with its ``Sight``) and the alert service every 5 s, with the soak's alert rules
(agent offline fires after 1 minute). What must hold (issue #20, "every incident alerted exactly once,
no storm"): central being blind takes no live agent offline (no event, no alert), and an agent really
gone during it is offline, and alerts once, a grace period after central could see again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from central.alerts.service import AlertService
from central.alerts.tables import AlertRecord
from central.config import parse_config
from central.ingest.agents import AgentDirectory
from central.ingest.apply import presence
from central.ingest.sight import Sight
from central.ingest.store import BatchWriter, Received, StoreSettings
from central.storage.db import Database
from central.storage.models import Agent, Event
from tests.central import factories as f
from tests.central.alerts.conftest import Clock

ALIVE = "agent-plg"  # comes back after central's outage
GONE = "agent-muba"  # dies during it
T = f.T0 + dt.timedelta(hours=1)
GRACE = dt.timedelta(seconds=60)  # the default [ingest] agent_offline_grace_s


def at(second: float) -> dt.datetime:
    return T + dt.timedelta(seconds=second)


@dataclass
class Timeline:
    """What central receives (second -> messages, one batch each) and when it cannot see or store."""

    end: int
    blind: list[tuple[int, int]] = field(default_factory=list)  # [start, end) seconds
    silence: dt.timedelta | None = None  # [ingest] agent_silence_s, settled with the grace period when set
    batches: dict[int, list[tuple[Any, float]]] = field(default_factory=dict)  # message and its receipt second

    def receive(self, second: int, message: Any, received: float | None = None) -> None:
        """Stored at ``second``; received then, or earlier (a backlog kept while the disk was full)."""
        self.batches.setdefault(second, []).append((message, second if received is None else received))

    def is_blind(self, second: int) -> bool:
        return any(start <= second < stop for start, stop in self.blind)


def play(database: Database, timeline: Timeline) -> tuple[list[AlertRecord], list[tuple[str, str, dt.datetime]]]:
    """Run the timeline; the agent_offline alerts and the agent events (subject, kind, ts) it left."""
    directory = AgentDirectory.fixed(f.registry({ALIVE: "16.71", GONE: "16.06"}))
    writer = BatchWriter(database, directory, StoreSettings(offline_grace_s=GRACE.total_seconds()))
    clock = Clock(at(-30))
    sight = Sight(clock=clock)
    sight.linked(True)
    config = parse_config({"database": {"url": database.url.render_as_string(hide_password=False)}, "alerts": {
        "rules": {"agent": {"offline": {"fire_after_minutes": 1, "resolve_after_minutes": 0.5}}}}})
    alerts = AlertService(config, database, clock=clock, senders={})
    writer.write([Received(*f.wire(f.birth(agent, at(-30))), at(-30)) for agent in (ALIVE, GONE)])
    for second in range(timeline.end):
        clock.now = at(second)
        blind = timeline.is_blind(second)
        if blind != timeline.is_blind(second - 1):
            sight.linked(not blind)  # the worker's link (or writes, alike for Sight) went down or came back
        for message, received in timeline.batches.get(second, []):
            assert not blind, "a timeline stores nothing while central is blind"
            writer.write([Received(*f.wire(message), at(received))])
            _settle(database, at(second), sight, timeline.silence)  # between batches, as the worker may
        if second % 2 == 0:  # the worker's SETTLE_INTERVAL_S
            _settle(database, at(second), sight, timeline.silence)
        if second % 5 == 0:
            alerts.evaluate_once()
    with database.session() as session:
        fired = list(session.scalars(select(AlertRecord).where(AlertRecord.rule == "agent_offline")))
        events = [(e.subject, e.kind, e.ts) for e in session.scalars(
            select(Event).where(Event.kind.in_(("agent_online", "agent_offline")), Event.ts >= T).order_by(Event.id))]
    return fired, events


def _settle(database: Database, now: dt.datetime, sight: Sight, silence: dt.timedelta | None) -> None:
    with database.session(write=True) as session:
        presence.settle_lost_links(session.connection(), now, GRACE, sight.since)
        if silence is not None:
            presence.settle_silent_agents(session.connection(), now, silence, sight.since)


def offline_since(database: Database, agent: str) -> dt.datetime | None:
    with database.session() as session:
        row = session.get(Agent, agent)
        assert row is not None
        return None if row.online else row.presence_since


@pytest.mark.parametrize("outage_s", [30, 73])
def test_a_broker_restart_takes_no_live_agent_offline_and_one_that_died_alerts_once_after_it(
    database: Database, outage_s: int
) -> None:
    # SIGTERM: the broker sends every agent's will to the ingest as it closes (the soak saw all at once),
    # and the ingest is disconnected until it is back. Agents reconnect by their backoff, some seconds
    # after the ingest; their births were queued for it. One agent died meanwhile: no birth ever.
    back = 100 + outage_s
    timeline = Timeline(end=back + 150, blind=[(101, back)])  # the wills, then the link drops
    timeline.receive(100, f.offline(ALIVE, at(-30)))
    timeline.receive(100, f.offline(GONE, at(-30)))
    timeline.receive(back + 14, f.birth(ALIVE, at(back + 14)))
    fired, events = play(database, timeline)
    assert [(a.subject_id, a.started_at) for a in fired] == [(GONE, at(back))]
    assert events == [(GONE, "agent_offline", at(back))]
    assert offline_since(database, ALIVE) is None


def test_the_ingest_down_longer_than_the_grace_period_alerts_only_for_the_agent_that_died_meanwhile(
    database: Database,
) -> None:
    # The ingest killed for 72 s: the agents stay connected to the broker, which queues their reports and
    # the dead agent's will for the ingest's session; the ingest reads them when it is back.
    timeline = Timeline(end=330, blind=[(100, 172)])
    timeline.receive(172, f.offline(GONE, at(-30)))
    timeline.receive(173, f.host_metrics(ALIVE, at(150)))
    fired, events = play(database, timeline)
    assert [(a.subject_id, a.started_at) for a in fired] == [(GONE, at(172))]
    assert events == [(GONE, "agent_offline", at(172))]


def test_a_full_disk_backlog_stored_will_first_takes_no_live_agent_offline(database: Database) -> None:
    # Central's disk full for 97 s: the worker keeps received messages and stores them when there is room,
    # one batch after another, settling links in between. A link blip (will, then birth 70 s later) of a
    # live agent and the will of one that died are in that backlog with their receipt times.
    timeline = Timeline(end=360, blind=[(100, 197)])
    timeline.receive(197, f.offline(ALIVE, at(-30)), received=120)
    timeline.receive(197, f.offline(GONE, at(-30)), received=130)
    timeline.receive(198, f.birth(ALIVE, at(190)), received=190)
    fired, events = play(database, timeline)
    assert [(a.subject_id, a.started_at) for a in fired] == [(GONE, at(197))]
    assert events == [(GONE, "agent_offline", at(197))]


def test_while_central_sees_an_agent_gone_past_the_grace_period_is_offline_as_of_its_will(
    database: Database,
) -> None:
    timeline = Timeline(end=200)
    timeline.receive(50, f.offline(GONE, at(-30)))
    timeline.receive(60, f.offline(ALIVE, at(-30)))
    timeline.receive(105, f.birth(ALIVE, at(105)))  # back within the grace period: nothing happened
    fired, events = play(database, timeline)
    assert [(a.subject_id, a.started_at) for a in fired] == [(GONE, at(50))]
    assert events == [(GONE, "agent_offline", at(50))]


SILENCE = dt.timedelta(seconds=300)  # the default [ingest] agent_silence_s


def metrics_every_minute(timeline: Timeline, agent: str, start: int, stop: int) -> None:
    for second in range(start, stop, 60):
        if not timeline.is_blind(second):
            timeline.receive(second, f.host_metrics(agent, at(second)))


def test_an_agent_silent_past_the_window_is_offline_once_as_of_when_last_heard_and_online_on_its_next_report(
    database: Database,
) -> None:
    # Its will never came (killed while the broker was down): only its silence tells. Any report brings
    # it back, not only a birth.
    timeline = Timeline(end=480, silence=SILENCE)
    metrics_every_minute(timeline, ALIVE, 0, 480)
    timeline.receive(10, f.host_metrics(GONE, at(10)))
    timeline.receive(450, f.camera_status(GONE, "cam-1", ts=at(450)))
    fired, events = play(database, timeline)
    assert [(a.subject_id, a.started_at) for a in fired] == [(GONE, at(10))]
    assert events == [(GONE, "agent_offline", at(10)), (GONE, "agent_online", at(450))]
    assert offline_since(database, GONE) is None
    assert offline_since(database, ALIVE) is None
    with database.session() as session:
        reason = session.scalars(select(Event.reason).where(Event.kind == "agent_offline")).one()
    assert reason == "no_report"


def test_silence_counts_only_while_central_sees_then_from_when_it_sees_again(database: Database) -> None:
    # Central blind for 400 s (longer than the window): the live agent's reports cannot arrive, and that
    # takes it nowhere; the agent that died during it is offline a window after central sees again.
    timeline = Timeline(end=840, blind=[(100, 500)], silence=SILENCE)
    metrics_every_minute(timeline, ALIVE, 0, 840)
    timeline.receive(10, f.host_metrics(GONE, at(10)))
    fired, events = play(database, timeline)
    assert [(a.subject_id, a.started_at) for a in fired] == [(GONE, at(500))]
    assert events == [(GONE, "agent_offline", at(500))]
    assert offline_since(database, ALIVE) is None


def test_a_silent_agents_report_delivered_late_from_a_queue_does_not_bring_it_back(database: Database) -> None:
    # Two ingest workers: the dead agent's last report went to the one that was down, whose queue at the
    # broker holds it until it comes back; by then the other worker has taken the agent offline for its
    # silence. Written 390 s before it was received, the report is history, not news: the dead agent is
    # not online for another window (its alert resolved, to fire again after it). A fresh report (a live
    # agent behind a half-open link) still brings it back.
    timeline = Timeline(end=620, silence=SILENCE)
    metrics_every_minute(timeline, ALIVE, 0, 620)
    timeline.receive(10, f.host_metrics(GONE, at(10)))
    timeline.receive(400, f.camera_status(GONE, "cam-1", ts=at(10)))
    timeline.receive(600, f.host_metrics(GONE, at(590)))
    fired, events = play(database, timeline)
    assert [(a.subject_id, a.started_at) for a in fired] == [(GONE, at(10))]
    assert events == [(GONE, "agent_offline", at(10)), (GONE, "agent_online", at(600))]
