"""Agents retain only what the contract allows: the writer flags, quarantines and lists for clearing the rest."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from central.ingest.agents import AgentDirectory
from central.ingest.retention import RETAINED_FORBIDDEN
from central.ingest.store import BatchWriter, Received
from central.storage.db import Database
from central.storage.models import CameraCheck, IngestCounter, IngestedMessage, QuarantinedMessage
from shared import topics
from shared.codec import MAX_RETAINED_AVAILABILITY_BYTES
from tests.central import factories as f

AGENT = "agent-plg"
NOW = f.T0 + dt.timedelta(hours=1)


@pytest.fixture
def writer(database: Database) -> BatchWriter:
    return BatchWriter(database, AgentDirectory.fixed(f.registry({AGENT: "16.71"})))


def retained(topic: str, payload: bytes) -> Received:
    return Received(topic, payload, NOW, retain=True)


def quarantine(database: Database) -> list[tuple[str, str, str, int]]:
    with database.session() as session:
        rows = session.execute(select(QuarantinedMessage.topic, QuarantinedMessage.category,
                                      QuarantinedMessage.reason, QuarantinedMessage.times_seen))
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_retained_birth_is_what_the_contract_allows_stored_and_kept(writer: BatchWriter, database: Database) -> None:
    result = writer.write([retained(*f.wire(f.birth(AGENT)))])
    assert (result.stored, result.quarantined, result.flagged, result.clear_retained) == (1, 0, 0, set())
    assert quarantine(database) == []


def test_a_retained_status_is_stored_flagged_once_and_listed_for_clearing(writer: BatchWriter, database: Database) -> None:
    writer.write([Received(*f.wire(f.inventory(AGENT, ["cam-1"], f.T0)), NOW)])
    status = f.camera_status(AGENT, "cam-1", "ok")
    topic, payload = f.wire(status)
    result = writer.write([retained(topic, payload)])
    # Still the agent's report: stored (and confirmed to it), but the retention is refused and cleared.
    assert (result.stored, result.quarantined, result.flagged) == (1, 0, 1)
    assert result.clear_retained == {topic}
    assert result.durable_ids == {AGENT: [status.msg_id]}
    [(q_topic, category, reason, times)] = quarantine(database)
    assert (q_topic, category, times) == (topic, RETAINED_FORBIDDEN, 1)
    assert reason == (f"topic {topic!r}: camera_status messages may not be retained (the contract retains none); "
                      "cleared from the broker, stored as a report")
    with database.session() as session:
        assert session.scalar(select(IngestedMessage.msg_id)) is not None
        assert len(session.scalars(select(CameraCheck)).all()) == 1
        counters = dict(session.execute(select(IngestCounter.name, IngestCounter.value)).all())
    assert counters["quarantined.retained_forbidden"] == 1 and counters["stored"] == 2

    # The broker sends it again at the ingest's next subscription (before the clear landed): a duplicate.
    again = writer.write([retained(topic, payload)])
    assert (again.stored, again.duplicates, again.flagged, again.clear_retained) == (0, 1, 1, {topic})
    assert quarantine(database)[0][3] == 2  # the same row, seen twice


def test_retained_garbage_and_invented_cameras_are_quarantined_once_each_and_cleared(
    writer: BatchWriter, database: Database
) -> None:
    garbage = [retained(topics.camera_status(AGENT, f"ghost-{n}"), b"x" * 100_000) for n in range(3)]
    invented = f.camera_status(AGENT, "never-inventoried", "ok")
    items = [*garbage, retained(*f.wire(invented))]
    result = writer.write(items)
    assert (result.stored, result.quarantined, result.flagged) == (0, 4, 0)
    assert result.clear_retained == {item.topic for item in items}
    rows = {topic: (category, reason) for topic, category, reason, _times in quarantine(database)}
    assert {category for category, _reason in rows.values()} == {RETAINED_FORBIDDEN}
    assert "may not be retained" in rows[garbage[0].topic][1] and "payload is not JSON" in rows[garbage[0].topic][1]
    # The handler's refusal (no inventory lists the camera) and the retention are one row with both reasons.
    reason = rows[items[-1].topic][1]
    assert "may not be retained" in reason and "is in no inventory" in reason


def test_an_empty_retained_message_is_a_clear_ignored_quietly(writer: BatchWriter, database: Database) -> None:
    topic = topics.camera_status(AGENT, "cam-1")
    result = writer.write([retained(topic, b""), retained(topics.availability(AGENT), b"")])
    assert (result.stored, result.quarantined, result.ignored, result.clear_retained) == (0, 0, 2, set())
    assert quarantine(database) == []


def test_a_retained_availability_over_the_bound_or_refused_is_cleared(writer: BatchWriter, database: Database) -> None:
    topic = topics.availability(AGENT)
    big = retained(topic, b"{" + b" " * MAX_RETAINED_AVAILABILITY_BYTES + b"}")
    stranger = retained(*f.wire(f.birth("agent-unknown")))  # a certificate the registry does not know
    result = writer.write([big, stranger])
    assert result.clear_retained == {topic, stranger.topic}
    rows = {topic: (category, reason) for topic, category, reason, _times in quarantine(database)}
    assert rows[topic][0] == RETAINED_FORBIDDEN and "exceeds the contract's 16384 bytes" in rows[topic][1]
    assert rows[stranger.topic][0] == "unknown_agent"  # allowed retention, refused sender: cleared as well


def test_a_retained_live_frame_is_quarantined_undecoded_and_cleared(writer: BatchWriter, database: Database) -> None:
    topic = topics.live_frames(AGENT, "cam-1")
    result = writer.write([retained(topic, b"\x00\x00\x00\x02{}" + b"\xff" * 1000)])
    assert (result.stored, result.quarantined, result.clear_retained) == (0, 1, {topic})
    with database.session() as session:
        row = session.scalars(select(QuarantinedMessage)).one()
    assert (row.agent_name, row.category) == (AGENT, RETAINED_FORBIDDEN)
    assert row.reason == f"topic {topic!r}: live_frame messages may not be retained (the contract retains none); " \
                         "cleared from the broker"


def test_a_live_report_without_the_retain_flag_is_never_cleared(writer: BatchWriter) -> None:
    result = writer.write([Received(topics.camera_status(AGENT, "x"), b"garbage", NOW)])
    assert (result.quarantined, result.clear_retained) == (1, set())
