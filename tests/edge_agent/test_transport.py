"""The agent's MQTT link against the real mutual-TLS Mosquitto: outage, restart, ordering, ACL refusals.

Central here is a plain subscriber that confirms nothing: reports stay in the outbox awaiting central's
confirmation, so "sent" means the broker accepted them (tests/edge_agent/test_delivery.py has the real ingest).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_agent.config import AgentConfig
from edge_agent.outbox import Outbox
from edge_agent.publisher import Publisher
from shared import topics
from shared.codec import Decoded, decode
from shared.messages import CameraState, CameraStatus, HostMetrics
from tests.edge_agent.conftest import agent_config
from tests.fixtures.broker import CENTRAL, BrokerClient, Pki, TlsBroker

pytestmark = pytest.mark.xdist_group("broker")


def _config(pki: Pki, broker: TlsBroker, name: str, state: Path, **sections: object) -> AgentConfig:
    return agent_config(name, state, broker_port=broker.port, ca=pki.ca_cert, cert=pki.cert(name),
                        key=pki.key(name), **sections)


def _status(agent: str, camera: str, ts: datetime) -> Callable[[int, str], CameraStatus]:
    def build(seq: int, msg_id: str) -> CameraStatus:
        return CameraStatus(agent=agent, seq=seq, msg_id=msg_id, ts=ts, camera_id=camera,
                            status=CameraState.OK, reason="ok", checks=[])
    return build


def _collect(centrals: list[BrokerClient], agent: str, want: set[str], timeout: float) -> list[Decoded]:
    """Every report from ``agent``, in arrival order across the clients, until all of ``want`` arrived."""
    received: list[Decoded] = []
    for earlier in centrals[:-1]:
        while not earlier.messages.empty():
            _keep(earlier.messages.get(), agent, received)
    central = centrals[-1]
    seen = {d.message.msg_id for d in received}
    deadline = time.monotonic() + timeout
    while not want <= seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{len(want - seen)} of {len(want)} reports never arrived")
        try:
            message = central.next_message(timeout=remaining)
        except TimeoutError:
            raise AssertionError(
                f"{len(want - seen)} of {len(want)} reports never arrived; got {len(received)}"
            ) from None
        _keep(message, agent, received)
        seen = {d.message.msg_id for d in received}
    return received


def _keep(message: object, agent: str, received: list[Decoded]) -> None:
    decoded = decode(message.topic, message.payload)  # type: ignore[attr-defined]
    assert isinstance(decoded, Decoded), decoded
    if decoded.topic.agent == agent and decoded.topic.channel is not topics.Channel.AVAILABILITY:
        received.append(decoded)


def _unsent(outbox: Outbox) -> int:
    stats = outbox.stats()
    return stats.depth - stats.awaiting_confirmation


async def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.slow
def test_outage_and_restart_lose_nothing_and_keep_order(
    pki: Pki, tls_broker_factory: Callable[[], TlsBroker], tmp_path: Path
) -> None:
    broker = tls_broker_factory()
    name = pki.provision_agent()
    broker.reload()
    central_id = f"central-test-{uuid.uuid4().hex[:8]}"
    centrals = [broker.connect(CENTRAL, client_id=central_id, clean_start=False, session_expiry=600)]
    centrals[0].subscribe_and_wait(topics.ALL_AGENT_TOPICS)
    config = _config(pki, broker, name, tmp_path)
    made: dict[str, tuple[int, datetime]] = {}

    def report(outbox: Outbox, publisher: Publisher, index: int) -> None:
        ts = datetime.now(UTC)
        message = outbox.add(_status(name, f"cam-{index % 7}", ts), key=f"status/cam-{index % 7}")
        made[message.msg_id] = (message.seq, ts)
        publisher.wake()

    async def scenario() -> None:
        outbox = Outbox(config.outbox_path, max_bytes=config.outbox.max_bytes, max_age_s=config.outbox.max_age_s)
        first = Publisher(config, outbox)
        await first.start()
        await asyncio.wait_for(first.connected.wait(), 10)
        for index in range(5):
            report(outbox, first, index)
        await _wait(lambda: _unsent(outbox) == 0, 10, "the first reports to be acknowledged")

        await asyncio.to_thread(broker.stop)
        await asyncio.wait_for(_cleared(first.connected), 10)
        outage_started = time.monotonic()
        index = 5
        # The agent keeps reporting through a real (shortened) outage...
        while time.monotonic() - outage_started < 12:
            report(outbox, first, index)
            index += 1
            await asyncio.sleep(0.1)
        # ...is restarted while the broker is still down...
        await first.stop()
        outbox.close()
        outbox = Outbox(config.outbox_path, max_bytes=config.outbox.max_bytes, max_age_s=config.outbox.max_age_s)
        second = Publisher(config, outbox)
        await second.start()
        while time.monotonic() - outage_started < 20:
            report(outbox, second, index)
            index += 1
            await asyncio.sleep(0.1)
        assert _unsent(outbox) == index - 5
        # ...and the broker comes back.
        await asyncio.to_thread(broker.start)
        centrals.append(await asyncio.to_thread(
            broker.connect, CENTRAL, client_id=central_id, clean_start=False, session_expiry=600
        ))
        await asyncio.wait_for(second.connected.wait(), 15)
        for _ in range(5):
            report(outbox, second, index)
            index += 1
        await _wait(lambda: _unsent(outbox) == 0, 30, "the backlog to drain")
        await second.stop()
        outbox.close()

    asyncio.run(scenario())
    received = _collect(centrals, name, set(made), timeout=20)
    unique: dict[str, Decoded] = {}
    for decoded in received:
        unique.setdefault(decoded.message.msg_id, decoded)
    assert set(unique) == set(made)  # every report, exactly once after deduplication
    seqs = [d.message.seq for d in unique.values()]
    assert seqs == sorted(seqs), "reports arrived out of seq order"
    for msg_id, decoded in unique.items():
        seq, ts = made[msg_id]
        assert decoded.message.seq == seq
        assert decoded.message.ts == ts  # original timestamps


async def _cleared(event: asyncio.Event) -> None:
    while event.is_set():
        await asyncio.sleep(0.05)


def test_acl_refusal_is_logged_and_not_retried(
    pki: Pki, tls_broker: TlsBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = pki.provision_agent()
    tls_broker.reload()
    central = tls_broker.connect(CENTRAL)
    central.subscribe_and_wait(topics.ALL_AGENT_TOPICS)
    config = _config(pki, tls_broker, name, tmp_path)

    def metrics(agent: str) -> Callable[[int, str], HostMetrics]:
        def build(seq: int, msg_id: str) -> HostMetrics:
            return HostMetrics(agent=agent, seq=seq, msg_id=msg_id, ts=datetime.now(UTC), agent_version="t",
                               cpu_percent=1, memory_used_bytes=1, memory_total_bytes=2, disk_used_bytes=1,
                               disk_total_bytes=2, uptime_s=1, net_bytes_sent=0, net_bytes_recv=0,
                               outbox_depth=0, outbox_bytes=0, outbox_dropped_total=0)
        return build

    async def scenario() -> tuple[int, int, int]:
        outbox = Outbox(config.outbox_path, max_bytes=10**7, max_age_s=3600)
        publisher = Publisher(config, outbox)
        await publisher.start()
        await asyncio.wait_for(publisher.connected.wait(), 10)
        # Another agent's topic: the broker's ACL refuses it with PUBACK 0x87.
        bad = outbox.add(metrics("someone-else"))
        good = outbox.add(metrics(name))
        publisher.wake()
        await _wait(lambda: _unsent(outbox) == 0 and outbox.stats().rejected_total == 1, 10,
                    "both reports to be settled")
        stats = outbox.stats()
        await publisher.stop()
        outbox.close()
        assert good.seq == bad.seq + 1
        return publisher.rejected, stats.rejected_total, bad.seq

    rejected, persisted, bad_seq = asyncio.run(scenario())
    assert (rejected, persisted) == (1, 1)
    assert any(f"refused report seq {bad_seq} on scc/v1/agents/someone-else/metrics" in r.getMessage()
               for r in caplog.records)
    arrived = central.next_message()
    while arrived.topic == topics.availability(name):
        arrived = central.next_message()
    assert arrived.topic == topics.metrics(name)
