"""The ingest worker under faults that are not the broker's: internal errors, a full disk after the ack.

The worker is built against the real broker's settings but never started: the tests drive its batch
and periodic steps directly, so each fault lands exactly where it is meant to.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import weakref
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from central.config import CentralConfig, parse_config
from central.ingest import public
from central.ingest.agents import AgentDirectory
from central.ingest.store import BatchResult, Received
from central.ingest.worker import IngestWorker
from central.storage.db import Database
from central.storage.models import Camera, CameraCheck, PublicState, QuarantinedMessage
from tests.central import factories as f
from tests.fixtures.broker import AGENT_PALEMBANG, CENTRAL, Pki, TlsBroker

pytestmark = pytest.mark.xdist_group("central-ingest")


def _config(pki: Pki, broker: TlsBroker, database: Database, **ingest: Any) -> CentralConfig:
    return parse_config(
        {
            "ingest": ingest,
            "database": {"url": database.url.render_as_string(hide_password=False)},
            "broker": {
                "host": broker.host, "port": broker.port, "ca": str(pki.ca_cert), "cert": str(pki.cert(CENTRAL)),
                "key": str(pki.key(CENTRAL)),
            },
            "pki": {"dir": str(pki.dir)},
        }
    )


@pytest.fixture
def worker(pki: Pki, tls_broker: TlsBroker, database: Database) -> Iterator[IngestWorker]:
    config = _config(pki, tls_broker, database)
    worker = IngestWorker(config, database, AgentDirectory(config.pki.dir))
    yield worker
    worker.stop()


def _batch(*messages: Any) -> list[Received]:
    # generation -1: an older connection's packet ids, so the unstarted client is never asked to ack them.
    now = dt.datetime.now(dt.UTC)
    return [Received(*(m if isinstance(m, tuple) else f.wire(m)), now, mid=i + 1, generation=-1)
            for i, m in enumerate(messages)]


def _count(database: Database, model: Any) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _disk_full() -> OperationalError:
    return OperationalError("UPDATE public_state", {}, Exception("database or disk is full"))


def test_an_internal_error_quarantines_the_batch_instead_of_retrying_for_ever(
    worker: IngestWorker, database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_refresh() -> None:
        raise RuntimeError("registry reader bug")

    monkeypatch.setattr(worker.writer.directory, "refresh", broken_refresh)
    batch = _batch(f.camera_status(AGENT_PALEMBANG, "cam-1", "ok"), f.host_metrics(AGENT_PALEMBANG))
    with caplog.at_level(logging.ERROR, logger="central.ingest.worker"):
        worker._write_and_ack(batch)  # returns: a retry loop would never come back
    with database.session() as session:
        rows = session.execute(select(QuarantinedMessage.category, QuarantinedMessage.reason,
                                      QuarantinedMessage.agent_name)).all()
    assert len(rows) == 2
    assert {row.category for row in rows} == {"internal_error"}
    assert {row.reason for row in rows} == {"internal error: RuntimeError: registry reader bug"}
    assert {row.agent_name for row in rows} == {AGENT_PALEMBANG}
    assert worker.totals.quarantined == 2
    record = next(r for r in caplog.records if "internal error" in r.getMessage())
    assert "RuntimeError: registry reader bug" in record.getMessage() and record.exc_info is not None
    assert not any("database unavailable" in r.getMessage() for r in caplog.records)


def test_a_single_message_whose_quarantine_fails_is_quarantined_as_an_internal_error(
    worker: IngestWorker, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer re-raises when a batch of one rejected message cannot be quarantined normally.
    original = worker.writer._quarantine
    calls = []

    def fails_once(conn: Any, rejected: Any) -> None:
        calls.append(len(rejected))
        if len(calls) == 1:
            raise ValueError("cannot bind this row")
        original(conn, rejected)

    monkeypatch.setattr(worker.writer, "_quarantine", fails_once)
    worker._write_and_ack(_batch(("scc/v1/agents/agent-plg/metrics", b"not json")))
    with database.session() as session:
        row = session.execute(select(QuarantinedMessage.category, QuarantinedMessage.reason)).one()
    assert row.category == "internal_error" and "ValueError: cannot bind this row" in row.reason


def test_an_unavailable_database_is_still_retried(
    worker: IngestWorker, database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = worker.writer.write
    attempts = []

    def down_once(batch: list[Received]) -> BatchResult:
        attempts.append(1)
        if len(attempts) == 1:
            raise OperationalError("BEGIN", {}, Exception("could not connect to server"))
        return original(batch)

    monkeypatch.setattr(worker.writer, "write", down_once)
    with caplog.at_level(logging.WARNING, logger="central.ingest.worker"):
        worker._write_and_ack(_batch(f.inventory(AGENT_PALEMBANG, ["cam-1"]),
                                     f.camera_status(AGENT_PALEMBANG, "cam-1", "ok")))
    assert len(attempts) == 2
    assert _count(database, CameraCheck) == 1 and _count(database, QuarantinedMessage) == 0
    said = [r.getMessage() for r in caplog.records if "unavailable (OperationalError" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("central database ")
    assert said[0].endswith(": unavailable (OperationalError: could not connect to server); reports stay "
                            "unacknowledged (the agents keep them) and are retried until it can write again")
    assert worker.outage.condition is None  # the retry wrote it: said once ("writable again")
    assert any("writable again" in r.getMessage() for r in caplog.records)


def test_a_failed_publish_after_the_ack_is_logged_and_retried_next_round(
    worker: IngestWorker, database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[tuple[str, bytes, bool]] = []

    def publish(topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> Any:
        sent.append((topic, payload, retain))
        return SimpleNamespace(rc=mqtt.MQTT_ERR_SUCCESS)

    def disk_full(_conn: Any, _published: Any) -> None:
        raise _disk_full()

    def broken_callback(_result: BatchResult) -> None:
        raise RuntimeError("callback bug")

    monkeypatch.setattr(worker.subscription.client, "publish", publish)
    monkeypatch.setattr(public, "mark_published", disk_full)
    worker.on_batch = broken_callback
    worker.subscription.connected.set()
    with caplog.at_level(logging.ERROR, logger="central.ingest.worker"):
        worker._write_and_ack(_batch(f.inventory(AGENT_PALEMBANG, ["cam-1"]),
                                     f.camera_status(AGENT_PALEMBANG, "cam-1", "offline")))  # must not raise
    assert _count(database, Camera) == 1
    # A full disk is one line naming the database, not a traceback per round.
    assert any(": disk full (OperationalError: database or disk is full" in r.getMessage() and r.exc_info is None
               for r in caplog.records)
    assert any("on_batch" in r.getMessage() for r in caplog.records)
    assert sent  # published, but not recorded as such: still pending

    monkeypatch.undo()  # the disk has room again
    monkeypatch.setattr(worker.subscription.client, "publish", publish)
    worker.public.dirty_regencies = set()  # nothing else to do: only the retry should publish
    worker.public.next_summary = 0.0
    worker._periodic()
    with database.session() as session:
        lagging = session.scalar(select(func.count()).select_from(PublicState)
                                 .where(PublicState.published_seq < PublicState.seq))
    assert lagging == 0
    assert worker.public.retry is False


def test_with_automatic_collection_off_the_worker_collects_cycles_on_its_timer(worker: IngestWorker) -> None:
    class Node:
        """An object that refers to itself: only the cycle collector frees it."""

    def orphan_cycle() -> weakref.ref[Node]:
        node = Node()
        node.self = node  # type: ignore[attr-defined]
        return weakref.ref(node)

    gc.disable()  # what `scc-central ingest` does at start
    try:
        cycle = orphan_cycle()
        worker._periodic()
        assert cycle() is not None  # not due yet
        worker._next_gc = 0.0
        worker._periodic()
        assert cycle() is None
    finally:
        gc.enable()


def test_a_batch_ends_at_its_message_count_or_its_payload_bytes(pki: Pki, tls_broker: TlsBroker,
                                                               database: Database) -> None:
    config = _config(pki, tls_broker, database, batch_size=3, batch_max_bytes=1500)
    worker = IngestWorker(config, database, AgentDirectory(config.pki.dir))
    for size in (1000, 1000, 1000, 10, 10, 10, 10):
        worker.subscription._on_publish(f"scc/v1/agents/{AGENT_PALEMBANG}/metrics", b"x" * size, 1, 1)
    batches = [worker._collect() for _ in range(4)]
    assert [[len(item.payload) for item in batch] for batch in batches] == [
        [1000, 1000], [1000, 10, 10], [10, 10], []
    ]


@pytest.mark.parametrize(("error", "pets"), [(_disk_full(), True),
                                             (OperationalError("BEGIN", {}, Exception("could not connect")), False)])  # fmt: skip
def test_the_watchdog_is_petted_while_the_disk_is_full_and_not_while_the_database_is_away(
    worker: IngestWorker, monkeypatch: pytest.MonkeyPatch, error: OperationalError, pets: bool
) -> None:
    # A restart cannot free a disk (it would only make the broker redeliver); a lost connection it may mend.
    from shared import sdnotify

    petted: list[float] = []
    monkeypatch.setattr(sdnotify, "notify_watchdog", lambda: petted.append(1) or True)
    monkeypatch.setattr(sdnotify, "notify_status", lambda _status: True)
    monkeypatch.setattr("central.ingest.worker.RETRY_MIN_S", 0.01)
    worker._watchdog_s = 0.0  # as under systemd's WatchdogSec: due at every chance
    original = worker.writer.write
    attempts = []

    def fails_twice(batch: list[Received]) -> BatchResult:
        attempts.append(1)
        if len(attempts) <= 2:
            raise error
        return original(batch)

    monkeypatch.setattr(worker.writer, "write", fails_twice)
    worker._write_and_ack(_batch(f.inventory(AGENT_PALEMBANG, ["cam-1"])))
    assert len(attempts) == 3
    assert bool(petted) is pets
    assert worker.outage.condition is None
