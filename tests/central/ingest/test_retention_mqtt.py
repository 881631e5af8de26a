"""The retained flood of issue #15 replayed against the real broker with the generated configuration.

An agent may publish retained messages under its own subtree (Mosquitto 2.0.11 cannot refuse them per
topic); central's ingest quarantines and clears whatever the contract does not let it retain, whether
it was retained while the ingest was away or while it runs, and leaves the retained birth alone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from central.ingest.retention import RETAINED_FORBIDDEN
from central.storage.db import Database
from central.storage.models import QuarantinedMessage
from shared import topics
from tests.central import factories as f
from tests.central.ingest.test_ingest_mqtt import RunningWorker, central_config, inventory_first
from tests.fixtures.broker import AGENT_PALEMBANG, CENTRAL_COMMANDS, Pki, TlsBroker

pytestmark = pytest.mark.xdist_group("central-ingest")

AGENT = AGENT_PALEMBANG
FLOOD = 150  # retained while the ingest is away; twice as many while it runs: 450 in all (the attack: 300)
SIZE = 100 * 1024  # each (the attack: 1 MB; the broker's memory tells the same story at a tenth)


def retained_now(broker: TlsBroker, prefix: str) -> dict[str, bytes]:
    """What the broker holds retained under ``prefix``, as a fresh subscriber is sent it."""
    lister = broker.connect(CENTRAL_COMMANDS)  # central's command sender: reads agents/#, never the ingest's session
    try:
        lister.subscribe_and_wait(f"{prefix}/#", retained=True)
        held: dict[str, bytes] = {}
        with contextlib.suppress(TimeoutError):
            while True:
                message = lister.next_message(timeout=1.0)
                held[message.topic] = bytes(message.payload)
        return held
    finally:
        lister.close()


def forbidden_quarantined(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(QuarantinedMessage)
                              .where(QuarantinedMessage.category == RETAINED_FORBIDDEN)) or 0


def test_a_retained_flood_is_quarantined_and_cleared_and_the_birth_stays(
    pki: Pki, tls_broker_factory: Callable[[], TlsBroker], database: Database
) -> None:
    broker = tls_broker_factory()  # its own broker: a clean retained store and a memory figure of its own
    prefix = topics.agent_prefix(AGENT)
    agent = broker.connect(AGENT)
    birth_topic, birth = f.wire(f.birth(AGENT))
    agent.publish_and_wait(birth_topic, birth, retain=True)
    before = broker.rss_bytes()

    # While the ingest is away: garbage retained on invented cameras' status topics.
    for n in range(FLOOD):
        agent.publish_and_wait(topics.camera_status(AGENT, f"ghost-{n}"), f"{n:06d}".encode() * (SIZE // 6),
                               retain=True)
    flooded = broker.rss_bytes()
    assert len(retained_now(broker, prefix)) == FLOOD + 1

    config = central_config(pki, broker, str(database.url.render_as_string(hide_password=False)))
    runner = RunningWorker(config, database)
    runner.thread.start()
    try:
        assert runner.worker.subscription.subscribed.wait(10), "ingest did not subscribe"
        # While it runs: the same on every other report channel, and one valid report retained.
        inventory_first(agent, database, AGENT, ["cam-1"])
        valid_topic, valid = f.wire(f.camera_status(AGENT, "cam-1", "ok"))
        agent.publish_and_wait(valid_topic, valid, retain=True)
        makers = (lambda n: topics.camera_thumbnail(AGENT, f"ghost-{n}"),
                  lambda n: topics.website_status(AGENT, f"site-{n}"),
                  lambda n: topics.metrics(AGENT), lambda n: topics.inventory(AGENT), lambda n: topics.command_result(AGENT))
        live: set[str] = set()
        for n in range(2 * FLOOD - 1):
            topic = makers[n % len(makers)](n)
            live.add(topic)
            agent.publish_and_wait(topic, f"{n:06d}".encode() * (SIZE // 6), retain=True)

        # Every distinct message is quarantined once (the valid one as a flag beside its stored report) ...
        runner.wait_for(lambda: forbidden_quarantined(database) == 3 * FLOOD, timeout=60)
        assert runner.worker.totals.flagged == 1
        # ... and nothing but the birth is retained any more: each topic was cleared after its commit.
        deadline = time.monotonic() + 30
        while (held := retained_now(broker, prefix)) != {birth_topic: birth}:
            assert time.monotonic() < deadline, f"still retained: {sorted(held)[:5]} ({len(held)})"
        assert runner.worker.totals.cleared >= FLOOD + 1 + len(live)
        # Central's own clears came back to it and were ignored quietly, never quarantined or cleared again.
        assert forbidden_quarantined(database) == 3 * FLOOD
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(QuarantinedMessage)
                                  .where(QuarantinedMessage.category != RETAINED_FORBIDDEN)) == 0
        cleared = runner.worker.totals.cleared
        time.sleep(1.0)
        assert runner.worker.totals.cleared == cleared  # clearing does not loop
    finally:
        runner.worker.stop()
        runner.thread.join(10)

    # The broker's memory. Its allocator keeps freed memory for reuse rather than handing it back to the
    # system, so RSS does not fall after the clears (the issue saw 375 MB fall to 270 MB); what clearing
    # buys is that the memory is reused: the twice-as-large flood sent while the ingest ran, which would
    # have tripled the growth if retained, adds little to what the first one took.
    after = broker.rss_bytes()
    print(f"broker RSS: {before >> 10} KiB before, {flooded >> 10} KiB after {FLOOD} retained while the ingest was "
          f"away, {after >> 10} KiB after {2 * FLOOD} more while it ran")
    assert flooded - before > FLOOD * SIZE // 2  # the first flood did take memory: the measure means something
    assert after - before < 1.5 * (flooded - before)  # retained, the second would have made it ~3x


def test_frames_retained_on_the_live_tree_are_swept_quarantined_and_cleared(
    pki: Pki, tls_broker: TlsBroker, database: Database
) -> None:
    # The live tree is outside agents/#, so the ingest reads it only in its sweeps (retention.LiveSweep).
    agent = tls_broker.connect(AGENT)
    prefix = f"{topics.LIVE}/{AGENT}"
    for n in range(40):
        agent.publish_and_wait(topics.live_frames(AGENT, f"ghost-{n}"), f"{n:06d}".encode() * 10_000, retain=True)
    assert len(retained_now(tls_broker, prefix)) == 40

    config = central_config(pki, tls_broker, str(database.url.render_as_string(hide_password=False)))
    runner = RunningWorker(config, database)
    runner.thread.start()
    try:
        runner.wait_for(lambda: forbidden_quarantined(database) == 40)  # the first sweep runs at start
        deadline = time.monotonic() + 30
        while held := retained_now(tls_broker, prefix):
            assert time.monotonic() < deadline, f"still retained: {sorted(held)[:5]} ({len(held)})"
        with database.session() as session:
            agents = set(session.scalars(select(QuarantinedMessage.agent_name)))
        assert agents == {AGENT}
        sweep = runner.worker.subscription.live_sweep
        assert sweep is not None and sweep.sweeps >= 1
        # The sweep's subscription ended with it: a stream's frames have no subscriber again (PUBACK 0x10).
        assert agent.publish_and_wait(topics.live_frames(AGENT, "cam-1"), b"not retained").value == 0x10
        assert forbidden_quarantined(database) == 40
    finally:
        runner.worker.stop()
        runner.thread.join(10)
