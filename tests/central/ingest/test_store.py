"""The batch writer on both databases: statuses, periods, events, dedupe, quarantine, presence, inventory."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from central.ingest.agents import AgentDirectory
from central.ingest.apply import presence
from central.ingest.store import BatchWriter, Received, StoreSettings
from central.storage.db import Database
from central.storage.models import (
    Agent,
    Camera,
    CameraCheck,
    CameraStatusChange,
    CameraThumbnail,
    CommandRecord,
    Event,
    HostMetric,
    IngestCounter,
    IngestedMessage,
    QuarantinedMessage,
    Website,
    WebsiteStatusChange,
)
from shared.messages import CheckOutcome
from tests.central import factories as f

AGENT = "agent-plg"
OTHER = "agent-muba"
T0 = f.T0
MIN = dt.timedelta(minutes=1)


def received(topic: str, payload: bytes, at: dt.datetime | None = None) -> Received:
    return Received(topic, payload, at or T0 + dt.timedelta(hours=1))


@pytest.fixture
def writer(database: Database) -> BatchWriter:
    directory = AgentDirectory.fixed(f.registry({AGENT: "16.71", OTHER: "16.06", "agent-gone": "16.01"}, revoked={"agent-gone"}))
    return BatchWriter(database, directory, StoreSettings(thumbnails_per_camera=2))


def write(writer: BatchWriter, *messages: Any) -> Any:
    batch = []
    for message in messages:
        topic, payload = message if isinstance(message, tuple) else f.wire(message)
        batch.append(received(topic, payload))
    return writer.write(batch)


def inventoried(writer: BatchWriter, agent: str, *camera_ids: str) -> None:
    """The agent's inventory lists these cameras (at T0 - 1 h): only an inventory makes a camera known."""
    assert write(writer, f.inventory(agent, list(camera_ids), T0 - dt.timedelta(hours=1))).stored == 1


def count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_status_changes_become_periods_and_events(writer: BatchWriter, session: Session) -> None:
    inventoried(writer, AGENT, "cam-1")
    write(writer, f.camera_status(AGENT, "cam-1", "ok", T0))
    write(writer, f.camera_status(AGENT, "cam-1", "ok", T0 + MIN), f.camera_status(AGENT, "cam-1", "offline", T0 + 2 * MIN))
    result = write(writer, f.camera_status(AGENT, "cam-1", "ok", T0 + 5 * MIN))
    assert result.stored == 1 and "16.71" in result.changed_regencies

    camera = session.scalars(select(Camera)).one()
    assert (camera.status, camera.reason, camera.regency_code) == ("ok", "ok", "16.71")
    assert camera.status_since == T0 + 5 * MIN and camera.last_check_at == T0 + 5 * MIN
    assert count(session, CameraCheck) == 4
    periods = session.scalars(select(CameraStatusChange).order_by(CameraStatusChange.started_at)).all()
    assert [(p.status, p.duration_s) for p in periods] == [("ok", 120.0), ("offline", 180.0), ("ok", None)]
    assert periods[1].reason == "unreachable" and periods[-1].ended_at is None
    events = session.scalars(select(Event).where(Event.kind == "camera_status").order_by(Event.id)).all()
    assert [(e.old_state, e.new_state) for e in events] == [("", "ok"), ("ok", "offline"), ("offline", "ok")]
    agent = session.get(Agent, AGENT)
    assert agent is not None and agent.regency_code == "16.71" and agent.last_seen_at == T0 + 5 * MIN


def test_older_reports_are_history_only(writer: BatchWriter, session: Session) -> None:
    inventoried(writer, AGENT, "cam-1")
    write(writer, f.camera_status(AGENT, "cam-1", "ok", T0 + 10 * MIN))
    write(writer, f.camera_status(AGENT, "cam-1", "offline", T0))
    camera = session.scalars(select(Camera)).one()
    assert camera.status == "ok" and count(session, CameraCheck) == 2 and count(session, CameraStatusChange) == 1


def test_redelivery_is_dropped(writer: BatchWriter, session: Session) -> None:
    inventoried(writer, AGENT, "cam-1")
    message = f.camera_status(AGENT, "cam-1", "ok")
    first = write(writer, message, message)
    again = write(writer, message)
    assert (first.stored, first.ignored, again.stored, again.duplicates) == (1, 1, 0, 1)
    assert count(session, CameraCheck) == 1 and count(session, IngestedMessage) == 2  # with the inventory
    counters = dict(session.execute(select(IngestCounter.name, IngestCounter.value)).all())
    assert counters == {"stored": 2, "duplicate": 1}


def test_unknown_revoked_and_bad_messages_are_quarantined_whole(writer: BatchWriter, session: Session) -> None:
    inventoried(writer, AGENT, "cam-1")
    good = f.camera_status(AGENT, "cam-1", "ok")
    stranger = f.camera_status("agent-x", "cam-1", "ok")
    revoked = f.camera_status("agent-gone", "cam-1", "ok")
    result = write(writer, good, stranger, revoked, ("scc/v1/agents/agent-plg/metrics", b"{not json"), stranger)
    assert (result.stored, result.quarantined) == (1, 4)
    rows = session.scalars(select(QuarantinedMessage).order_by(QuarantinedMessage.category)).all()
    assert sorted((q.category, q.times_seen) for q in rows) == [("decode", 1), ("revoked_agent", 1), ("unknown_agent", 2)]
    assert all(q.reason for q in rows)
    assert count(session, Camera) == 1 and session.get(Agent, "agent-x") is None
    counters = dict(session.execute(select(IngestCounter.name, IngestCounter.value)).all())
    assert counters["quarantined.unknown_agent"] == 2 and counters["quarantined.decode"] == 1


def test_future_timestamps_are_quarantined(writer: BatchWriter, session: Session) -> None:
    result = write(writer, f.camera_status(AGENT, "cam-1", "ok", T0 + dt.timedelta(days=400)))
    assert result.quarantined == 1 and count(session, Camera) == 0


def test_hostile_text_is_stored_cleanly(writer: BatchWriter, session: Session) -> None:
    inventoried(writer, AGENT, "cam-1")
    message = f.camera_status(AGENT, "cam-1", "degraded", message="nul\x00 and ünïcode", reason="frozen")
    assert write(writer, message).stored == 1
    camera = session.scalars(select(Camera)).one()
    assert "\x00" not in camera.message and camera.status == "degraded"


def test_checks_are_stored_as_sent_and_cleaned_only_of_what_a_database_refuses(
    writer: BatchWriter, session: Session
) -> None:
    inventoried(writer, AGENT, "cam-1", "cam-2")
    plain = f.camera_status(AGENT, "cam-1", "ok", T0)
    nul = CheckOutcome(check="frame", outcome="warn", reason="dark", message="nul\x00 ünï",
                       details={"note": "a\x00b", "level": float("inf"), "ok": True})
    hostile = f.camera_status(AGENT, "cam-2", "ok", T0, checks=[nul])
    assert write(writer, plain, hostile).stored == 2
    stored: dict[str, Any] = dict(session.execute(select(Camera.camera_id, CameraCheck.checks).join(CameraCheck)).all())
    assert stored["cam-1"] == [check.model_dump(mode="json") for check in plain.checks]
    assert stored["cam-2"] == [{"check": "frame", "outcome": "warn", "reason": "dark", "message": "nul\ufffd ünï",
                                "duration_ms": 0.0, "details": {"note": "a\ufffdb", "level": None, "ok": True}}]


def _settle(database: Database, now: dt.datetime, seeing_since: dt.datetime | None = T0) -> None:
    with database.session(write=True) as session:
        presence.settle_lost_links(session.connection(), now, dt.timedelta(seconds=60), seeing_since)


def test_agent_offline_makes_its_cameras_unknown_after_the_grace_period_until_they_report(
    writer: BatchWriter, session: Session, database: Database
) -> None:
    inventoried(writer, AGENT, "cam-1")
    inventoried(writer, OTHER, "cam-9")
    write(writer, f.birth(AGENT, T0), f.camera_status(AGENT, "cam-1", "ok", T0), f.camera_status(OTHER, "cam-9", "ok", T0))
    events_before = count(session, Event)
    will = f.offline(AGENT, T0 - MIN)  # a last will carries the ts of when it was armed
    writer.write([received(*f.wire(will), at=T0 + 3 * MIN)])
    _settle(database, T0 + 3 * MIN + dt.timedelta(seconds=59))  # within the grace period: nothing yet
    session.rollback()
    agent = session.get(Agent, AGENT)
    assert agent is not None and agent.online and agent.link_lost_at == T0 + 3 * MIN
    assert count(session, Event) == events_before

    _settle(database, T0 + 4 * MIN)  # still gone after it: offline as of when the link died
    session.rollback()
    agent = session.get(Agent, AGENT)
    assert agent is not None and not agent.online and agent.offline_reason == "connection_lost"
    assert agent.presence_since == T0 + 3 * MIN and agent.link_lost_at is None
    statuses = dict(session.execute(select(Camera.camera_id, Camera.status)).all())
    assert statuses == {"cam-1": "unknown", "cam-9": "ok"}
    kinds = session.scalars(select(Event.kind).order_by(Event.id)).all()
    assert kinds[-2:] == ["agent_offline", "camera_status"]
    since = session.scalars(select(Camera.status_since).where(Camera.camera_id == "cam-1")).one()
    assert since == T0 + 3 * MIN
    write(writer, f.birth(AGENT, T0 + 4 * MIN), f.camera_status(AGENT, "cam-1", "ok", T0 + 5 * MIN))
    session.rollback()  # a new snapshot
    assert session.get(Agent, AGENT).online  # type: ignore[union-attr]
    assert session.scalars(select(Camera.status).where(Camera.camera_id == "cam-1")).one() == "ok"


def test_a_link_back_within_the_grace_period_changes_nothing(
    writer: BatchWriter, session: Session, database: Database
) -> None:
    # A broker restart: every agent's will, then its birth a few seconds later.
    inventoried(writer, AGENT, "cam-1")
    write(writer, f.birth(AGENT, T0), f.camera_status(AGENT, "cam-1", "ok", T0))
    events_before = count(session, Event)
    writer.write([received(*f.wire(f.offline(AGENT, T0)), at=T0 + MIN)])
    writer.write([received(*f.wire(f.birth(AGENT, T0 + MIN + dt.timedelta(seconds=3))), at=T0 + MIN)])
    _settle(database, T0 + 10 * MIN)
    session.rollback()
    agent = session.get(Agent, AGENT)
    assert agent is not None and agent.online and agent.link_lost_at is None and agent.presence_since == T0
    assert session.scalars(select(Camera.status)).one() == "ok"
    assert count(session, Event) == events_before
    assert count(session, CameraStatusChange) == 1


def test_without_a_grace_period_a_lost_link_is_offline_at_once(database: Database, session: Session) -> None:
    directory = AgentDirectory.fixed(f.registry({AGENT: "16.71"}))
    writer = BatchWriter(database, directory, StoreSettings(offline_grace_s=0))
    inventoried(writer, AGENT, "cam-1")
    write(writer, f.birth(AGENT, T0), f.camera_status(AGENT, "cam-1", "ok", T0))
    writer.write([received(*f.wire(f.offline(AGENT, T0)), at=T0 + MIN)])
    assert not session.get(Agent, AGENT).online  # type: ignore[union-attr]
    assert session.scalars(select(Camera.status)).one() == "unknown"


def test_inventory_creates_identity_and_tracks_lost(writer: BatchWriter, session: Session) -> None:
    write(writer, f.inventory(AGENT, ["cam-1", "cam-2"], T0))
    write(writer, f.inventory(AGENT, ["cam-2", "cam-3"], T0 + MIN))
    rows = {c.camera_id: c for c in session.scalars(select(Camera))}
    assert set(rows) == {"cam-1", "cam-2", "cam-3"}
    assert not rows["cam-1"].in_inventory and rows["cam-1"].lost_at == T0 + MIN
    assert rows["cam-3"].manufacturer == "Acme" and rows["cam-3"].reported_opd == "Dishub"
    kinds = session.scalars(select(Event.kind).order_by(Event.id)).all()
    assert kinds.count("camera_found") == 3 and kinds.count("camera_lost") == 1


def test_website_states_and_periods(writer: BatchWriter, session: Session) -> None:
    write(writer, f.website_status(AGENT, "dinkes", "up", "fresh", T0))
    write(writer, f.website_status(AGENT, "dinkes", "down", "fresh", T0 + MIN, reason="timeout"))
    write(writer, f.website_status(AGENT, "dinkes", "up", "stale", T0 + 3 * MIN))
    site = session.scalars(select(Website)).one()
    assert (site.state, site.availability, site.freshness) == ("stale", "up", "stale")
    periods = session.scalars(select(WebsiteStatusChange).order_by(WebsiteStatusChange.started_at)).all()
    assert [(p.state, p.duration_s) for p in periods] == [("fresh", 60.0), ("down", 120.0), ("stale", None)]


def test_one_batch_of_website_reports_updates_each_site_once_with_its_newest_report(
    writer: BatchWriter, session: Session, database: Database
) -> None:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE WEBSITES"):
            statements.append(statement)

    reports = [f.website_status(AGENT, site, availability, "fresh", T0 + minute * MIN)
               for site in ("dinkes", "dishub", "bappeda")
               for minute, availability in ((0, "up"), (2, "up"), (1, "down"))]  # out of order on purpose
    event.listen(database.engine, "before_cursor_execute", record)
    try:
        write(writer, *reports)
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    assert len(statements) == 1  # one executemany, not one UPDATE per report
    sites = session.scalars(select(Website)).all()
    assert {(s.website_id, s.availability, s.last_check_at) for s in sites} == {
        (site, "up", T0 + 2 * MIN) for site in ("dinkes", "dishub", "bappeda")
    }
    assert {s.url for s in sites} == {f"https://{s.website_id}.go.id/" for s in sites}


def test_thumbnails_keep_the_newest(writer: BatchWriter, session: Session) -> None:
    inventoried(writer, AGENT, "cam-1")
    for minute in range(4):
        write(writer, f.thumbnail(AGENT, "cam-1", T0 + minute * MIN))
    kept = session.scalars(select(CameraThumbnail.captured_at).order_by(CameraThumbnail.captured_at)).all()
    assert kept == [T0 + 2 * MIN, T0 + 3 * MIN]
    assert session.scalars(select(CameraThumbnail.jpeg)).first() == f.JPEG


def test_command_results_complete_the_command(writer: BatchWriter, session: Session, database: Database) -> None:
    write(writer, f.birth(AGENT))
    with database.session() as s:
        s.add(CommandRecord(command_id="cmd-1", agent_name=AGENT, name="check_now", seq=1, msg_id="0" * 32, state="sent"))
    write(writer, f.command_result(AGENT, "cmd-1", ok=False))
    record = session.scalars(select(CommandRecord)).one()
    assert (record.state, record.result_ok, record.result_message) == ("failed", False, "done")


def test_host_metrics_are_stored(writer: BatchWriter, session: Session) -> None:
    assert write(writer, f.host_metrics(AGENT)).stored == 1


def test_host_metrics_keep_the_broker_refusals_and_older_agents_read_zero(writer: BatchWriter,
                                                                          session: Session) -> None:
    newer = f.host_metrics(AGENT, T0).model_copy(update={"outbox_rejected_total": 7})
    older_topic, older_payload = f.wire(f.host_metrics(AGENT, T0 + MIN))
    body = json.loads(older_payload)
    del body["outbox_rejected_total"]  # what an agent from before the field sends
    assert write(writer, newer, (older_topic, json.dumps(body).encode())).stored == 2
    stored = session.scalars(select(HostMetric.outbox_rejected_total).order_by(HostMetric.ts)).all()
    assert stored == [7, 0]


# --- agents cannot hurt each other (issue 15) ------------------------------------------------------


def test_reports_about_cameras_no_inventory_listed_are_quarantined_and_create_nothing(
    writer: BatchWriter, session: Session
) -> None:
    flood = [f.camera_status(AGENT, f"ghost-{i}", "ok") for i in range(50)] + [f.thumbnail(AGENT, "ghost-0")]
    result = write(writer, *flood)
    assert (result.stored, result.quarantined) == (0, 51)
    assert count(session, Camera) == 0 and count(session, CameraCheck) == 0 and count(session, CameraThumbnail) == 0
    rows = session.scalars(select(QuarantinedMessage)).all()
    assert {q.category for q in rows} == {"unknown_camera"} and all(q.agent_name == AGENT for q in rows)
    assert any("camera 'ghost-0' is in no inventory of agent 'agent-plg'" in q.reason for q in rows)
    # Once the inventory lists it, the same camera's reports are stored; an inventory and a status in one batch too.
    assert write(writer, f.inventory(AGENT, ["ghost-0"]), f.camera_status(AGENT, "ghost-0", "ok")).stored == 2


def test_an_inventory_past_the_per_agent_camera_cap_is_quarantined_whole(database: Database, session: Session) -> None:
    directory = AgentDirectory.fixed(f.registry({AGENT: "16.71"}))
    writer = BatchWriter(database, directory, StoreSettings(max_cameras_per_agent=3))
    assert write(writer, f.inventory(AGENT, ["a", "b"], T0)).stored == 1
    # Two listed plus the two it lost (still in service until an operator retires them): four > 3.
    result = write(writer, f.inventory(AGENT, ["c", "d"], T0 + MIN))
    assert (result.stored, result.quarantined) == (0, 1)
    assert sorted(session.scalars(select(Camera.camera_id))) == ["a", "b"]
    refusal = session.scalars(select(QuarantinedMessage)).one()
    assert refusal.category == "camera_cap"
    assert "would give agent 'agent-plg' 4 cameras in service" in refusal.reason
    assert "ingest.max_cameras_per_agent" in refusal.reason
    assert write(writer, f.inventory(AGENT, ["a", "c"], T0 + 2 * MIN)).stored == 1  # 3 in service: allowed


def test_a_report_stamped_ahead_within_the_allowance_counts_as_received_and_shadows_nothing(
    writer: BatchWriter, session: Session
) -> None:
    inventoried(writer, AGENT, "cam-1")
    arrival = T0 + dt.timedelta(hours=1)
    ahead = f.camera_status(AGENT, "cam-1", "ok", arrival + dt.timedelta(seconds=100))  # inside the 120 s allowance
    writer.write([received(*f.wire(ahead), at=arrival)])
    camera = session.scalars(select(Camera)).one()
    assert camera.last_check_at == arrival  # not in the future
    # The real report sent 30 s later (stamped by a correct clock) is the camera's status, not history.
    later = f.camera_status(AGENT, "cam-1", "offline", arrival + dt.timedelta(seconds=30))
    writer.write([received(*f.wire(later), at=arrival + dt.timedelta(seconds=30))])
    session.rollback()
    camera = session.scalars(select(Camera)).one()
    assert (camera.status, camera.last_check_at) == ("offline", arrival + dt.timedelta(seconds=30))


def test_reports_too_far_ahead_are_quarantined_and_the_agent_is_flagged_until_its_clock_is_right(
    writer: BatchWriter, session: Session
) -> None:
    inventoried(writer, AGENT, "cam-1")
    arrival = T0 + dt.timedelta(hours=1)
    skewed = f.camera_status(AGENT, "cam-1", "ok", arrival + dt.timedelta(minutes=50))
    result = writer.write([received(*f.wire(skewed), at=arrival)])
    assert result.quarantined == 1
    refusal = session.scalars(select(QuarantinedMessage)).one()
    assert refusal.category == "clock_ahead" and "0:50:00 ahead of central's clock" in refusal.reason
    agent = session.get(Agent, AGENT)
    assert agent is not None and agent.clock_ahead_s == 3000.0 and agent.clock_off_since is not None
    right = f.camera_status(AGENT, "cam-1", "ok", arrival)
    writer.write([received(*f.wire(right), at=arrival + dt.timedelta(seconds=1))])
    session.rollback()
    agent = session.get(Agent, AGENT)
    assert agent is not None and agent.clock_ahead_s == 0.0 and agent.clock_off_since is None


def test_one_agents_message_id_reused_by_another_does_not_drop_the_others_message(
    writer: BatchWriter, session: Session
) -> None:
    inventoried(writer, AGENT, "cam-1")
    inventoried(writer, OTHER, "cam-1")
    mine = f.camera_status(AGENT, "cam-1", "ok")
    copy = f.camera_status(OTHER, "cam-1", "offline").model_copy(update={"msg_id": mine.msg_id})
    assert write(writer, mine).stored == 1
    assert write(writer, copy).stored == 1  # another agent's message, not a redelivery
    assert write(writer, mine, copy).duplicates == 2  # each agent's own redelivery is still dropped
    statuses = dict(session.execute(select(Camera.agent_name, Camera.status)).all())
    assert statuses == {AGENT: "ok", OTHER: "offline"}


def test_an_integer_no_column_holds_is_quarantined_with_its_field_named(writer: BatchWriter, session: Session) -> None:
    inventoried(writer, AGENT, "cam-1")
    topic, payload = f.wire(f.camera_status(AGENT, "cam-1", "ok"))
    body = json.loads(payload)
    huge = json.dumps(body).replace(f'"seq": {body["seq"]}', '"seq": ' + "9" * 5000).encode()
    big = json.dumps(body).replace(f'"seq": {body["seq"]}', '"seq": ' + "9" * 30).encode()
    assert write(writer, (topic, huge), (topic, big)).quarantined == 2
    reasons = sorted(session.scalars(select(QuarantinedMessage.reason)))
    assert reasons == ["camera_status: field 'seq': integer out of range (5000 digits)",
                       "field 'seq': integer out of range"]


def test_reports_about_more_websites_than_an_agent_may_have_are_quarantined(database: Database, session: Session) -> None:
    writer = BatchWriter(database, AgentDirectory.fixed(f.registry({AGENT: "16.71"})),
                         StoreSettings(max_websites_per_agent=3))
    result = write(writer, *[f.website_status(AGENT, f"site-{i}") for i in range(5)])
    assert (result.stored, result.quarantined) == (3, 2)
    assert count(session, Website) == 3
    refusals = session.scalars(select(QuarantinedMessage)).all()
    assert {q.category for q in refusals} == {"website_cap"}
    assert all("ingest.max_websites_per_agent" in q.reason for q in refusals)
    assert write(writer, f.website_status(AGENT, "site-0", ts=T0 + MIN)).stored == 1  # a known site still reports


def test_the_public_feed_and_alerts_carry_reason_codes_never_an_address_or_an_agents_words(
    writer: BatchWriter, session: Session, database: Database
) -> None:
    from central.alerts.config import CameraRules
    from central.alerts.sources import camera_observations
    from central.storage.models import PublicState

    inventoried(writer, AGENT, "cam-1")  # the factory's camera sits at 10.0.0.10:80
    leaky = f.camera_status(AGENT, "cam-1", "offline", message="ConnectError: 10.0.0.10:554 refused (admin@10.0.0.10)")
    assert write(writer, leaky).stored == 1
    payloads = b"".join(session.scalars(select(PublicState.payload)))
    assert b'"reason":"unreachable"' in payloads and b'"status":"offline"' in payloads
    assert b"10.0.0.10" not in payloads and b"ConnectError" not in payloads and b'"message"' not in payloads
    [offline] = [o for o in camera_observations(session, CameraRules()) if o.rule == "camera_offline"]
    assert offline.message == "alasan: unreachable"


def test_a_maintenance_is_its_own_website_state(writer: BatchWriter, session: Session) -> None:
    write(writer, f.website_status(AGENT, "dinkes", "up", "fresh", T0))
    write(writer, f.website_status(AGENT, "dinkes", "maintenance", "unknown", T0 + MIN, reason="maintenance"))
    write(writer, f.website_status(AGENT, "dinkes", "down", "unknown", T0 + 20 * MIN, reason="maintenance_overrun"))
    site = session.scalars(select(Website)).one()
    assert (site.state, site.availability, site.reason) == ("down", "down", "maintenance_overrun")
    periods = session.scalars(select(WebsiteStatusChange).order_by(WebsiteStatusChange.started_at)).all()
    assert [(p.state, p.availability) for p in periods] == [
        ("fresh", "up"), ("maintenance", "maintenance"), ("down", "down")]
