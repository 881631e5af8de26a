"""The whole agent through a real broker outage: it keeps checking, is restarted while the broker is
down, and when the broker returns every report arrives once (after msg_id dedup), in seq order, with
its original timestamp. With a small outbox the bound holds and every drop is counted and reported."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from edge_agent.agent import Agent
from edge_agent.config import AgentConfig
from edge_agent.outbox import Outbox
from shared import topics
from shared.codec import decode
from shared.messages import CameraStatus, HostMetrics, Message
from simulator.testing import FleetClient, run_fleet_process
from tests.edge_agent.conftest import Central, agent_config
from tests.fixtures.broker import CENTRAL, Pki, TlsBroker

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("broker")]

CAMERAS = 3
OUTAGE_BEFORE_RESTART_S = 10.0
OUTAGE_AFTER_RESTART_S = 10.0


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetClient]:
    # Its own process: the agent decodes with OpenCV, which would stall an in-process simulator.
    with run_fleet_process(CAMERAS, extra_args=["--discovery-port", "0"]) as client:
        yield client


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> dict[str, Message]:
    """Every report any agent of this test stored in its outbox, by msg_id, as built."""
    reports: dict[str, Message] = {}
    add = Outbox.add

    def recording(self: Outbox, build: Callable[[int, str], Message], **kwargs: Any) -> Message:
        message = add(self, build, **kwargs)
        reports[message.msg_id] = message
        return message

    monkeypatch.setattr(Outbox, "add", recording)
    return reports


def _config(pki: Pki, broker: TlsBroker, name: str, state: Path, fleet: FleetClient, **sections: Any) -> AgentConfig:
    cameras = [{"id": c.id, "host": c.host, "port": c.onvif_port, "username": c.username, "password": c.password}
               for c in fleet.cameras]
    schedule = {"interval_s": 1, "jitter": 0, "rtsp_every": 1000, "metrics_every_s": 3, **sections.pop("schedule", {})}
    return agent_config(
        name, state, broker_port=broker.port, ca=pki.ca_cert, cert=pki.cert(name), key=pki.key(name),
        cameras=cameras, schedule=schedule, discovery={"enabled": False},
        broker={"reconnect_min_s": 1, "reconnect_max_s": 1},
        timeouts={"connect_s": 2, "onvif_s": 5, "snapshot_s": 5, "slow_warn_s": 30}, **sections,
    )


class Running:
    """One agent process-equivalent: Agent.run on this loop until ``stop()``."""

    def __init__(self, config: AgentConfig) -> None:
        self.agent = Agent(config)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.agent.run(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(self._task, 30)


async def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def _statuses_between(made: dict[str, Message], start: datetime, end: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    for message in made.values():
        if isinstance(message, CameraStatus) and start <= message.ts <= end:
            counts[message.camera_id] = counts.get(message.camera_id, 0) + 1
    return counts


def _central(broker: TlsBroker, name: str) -> Central:
    # A persistent session: what the agent sends while central reconnects waits for it at the broker.
    client = broker.connect(CENTRAL, client_id=f"central-{uuid.uuid4().hex[:8]}", clean_start=False,
                            session_expiry=600)
    client.subscribe_and_wait(f"{topics.agent_prefix(name)}/#")
    return Central(client, name)


def test_outage_with_restart_delivers_every_report_once_in_order(
    pki: Pki, tls_broker_factory: Callable[[], TlsBroker], fleet: FleetClient, tmp_path: Path,
    made: dict[str, Message],
) -> None:
    broker = tls_broker_factory()
    name = pki.provision_agent()
    broker.reload()
    central = _central(broker, name)
    config = _config(pki, broker, name, tmp_path, fleet)
    timeline: dict[str, Any] = {}

    async def scenario() -> None:
        first = Running(config)
        await asyncio.wait_for(first.agent.publisher.connected.wait(), 15)
        # Every camera reported at least once over the live link.
        await asyncio.to_thread(central.wait_for, lambda c: {s.camera_id for s in c.of_kind("camera_status")}
                                == {cam.id for cam in fleet.cameras}, 20, "a status from every camera")

        await asyncio.to_thread(broker.stop)
        timeline["down"] = datetime.now().astimezone()
        await _until(lambda: not first.agent.publisher.connected.is_set(), 10, "the agent to notice the outage")
        await asyncio.sleep(OUTAGE_BEFORE_RESTART_S)  # the agent keeps checking meanwhile
        await first.stop()
        timeline["first_stopped"] = datetime.now().astimezone()
        timeline["first_last_seq"] = max(m.seq for m in made.values())

        second = Running(config)  # restarted while the broker is still down
        await asyncio.sleep(OUTAGE_AFTER_RESTART_S)
        assert not second.agent.publisher.connected.is_set()
        backlog = second.agent.outbox.stats().depth
        timeline["backlog"] = backlog
        timeline["up"] = datetime.now().astimezone()
        await asyncio.to_thread(broker.start)

        await asyncio.wait_for(second.agent.publisher.connected.wait(), 20)
        everything_so_far = set(made)
        await asyncio.to_thread(central.wait_for, lambda c: everything_so_far <= c.msg_ids, 40,
                                "the backlog to arrive")
        await second.stop()
        timeline["left_in_outbox"] = {p.msg_id for p in _pending(config)}

    asyncio.run(scenario())
    # What was acknowledged just before the stop may still be on its way to central.
    expected = set(made) - timeline["left_in_outbox"]
    central.wait_for(lambda c: expected <= c.msg_ids, 10, "the last acknowledged reports")

    # The agent kept checking every camera through the outage, before and after its restart.
    before = _statuses_between(made, timeline["down"], timeline["first_stopped"])
    after = _statuses_between(made, timeline["first_stopped"], timeline["up"])
    assert set(before) == set(after) == {c.id for c in fleet.cameras}, (before, after)
    assert min(before.values()) >= 3 and min(after.values()) >= 3
    assert timeline["backlog"] >= sum(before.values()) + sum(after.values())
    assert any(m.seq > timeline["first_last_seq"] for m in made.values())  # seq continued across the restart

    # Exactly once after deduplication by msg_id...
    first_seen: dict[str, Any] = {}
    for decoded in central.reports:
        first_seen.setdefault(decoded.message.msg_id, decoded.message)
    missing = set(made) - set(first_seen) - timeline["left_in_outbox"]
    assert not missing, f"{len(missing)} report(s) lost"
    assert set(first_seen) <= set(made), "central got reports nobody made"
    # ...in per-agent seq order...
    seqs = [message.seq for message in first_seen.values()]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # ...each exactly as built: original seq and timestamp, not the time of the resend.
    for msg_id, message in first_seen.items():
        assert message == made[msg_id], f"{message.kind} seq {message.seq} changed on the way"
    during_outage = [m for m in first_seen.values() if timeline["down"] <= m.ts <= timeline["up"]]
    assert len(during_outage) >= sum(before.values()) + sum(after.values())


def _pending(config: AgentConfig) -> list[Any]:
    outbox = Outbox(config.outbox_path, max_bytes=config.outbox.max_bytes, max_age_s=config.outbox.max_age_s)
    try:
        return outbox.pending(limit=100_000)
    finally:
        outbox.close()


def test_outbox_bound_holds_and_drops_are_counted_and_reported(
    pki: Pki, tls_broker_factory: Callable[[], TlsBroker], fleet: FleetClient, tmp_path: Path,
    made: dict[str, Message],
) -> None:
    broker = tls_broker_factory()
    name = pki.provision_agent()
    broker.reload()
    central = _central(broker, name)
    bound = 16 * 1024
    # A thumbnail (~5-10 kB) on every check: the smallest outbox overflows within seconds.
    config = _config(pki, broker, name, tmp_path, fleet, outbox={"max_bytes": bound},
                     schedule={"thumbnail_every_s": 1, "metrics_every_s": 1})
    broker.stop()
    checks: dict[str, Any] = {}

    async def scenario() -> None:
        running = Running(config)
        outbox = running.agent.outbox
        worst = 0
        deadline = time.monotonic() + 30
        while outbox.stats().dropped_total < 20:
            assert time.monotonic() < deadline, "the outbox never overflowed"
            stats = outbox.stats()
            worst = max(worst, stats.bytes - _latest_bytes(outbox))
            await asyncio.sleep(0.05)
        checks["worst_droppable_bytes"] = worst
        stats = outbox.stats()
        checks["stats"] = stats
        # Every report made is either still stored or counted as dropped.
        checks["made_while_down"] = len(made)
        assert len(made) == stats.depth + stats.dropped_total
        await running.stop()

        again = Running(config)  # the count survives a restart...
        assert again.agent.outbox.stats().dropped_total >= stats.dropped_total
        await asyncio.to_thread(broker.start)
        await asyncio.wait_for(again.agent.publisher.connected.wait(), 20)
        # ...and reaches central in the host metrics.
        await asyncio.to_thread(central.wait_for, lambda c: any(
            m.outbox_dropped_total >= stats.dropped_total for m in c.of_kind("host_metrics")), 20,
            "host metrics carrying the drop count")
        dropped = again.agent.outbox.stats().dropped_total
        everything_so_far = set(made)
        await asyncio.to_thread(central.wait_for, lambda c: len(everything_so_far & c.msg_ids)
                                >= len(everything_so_far) - again.agent.outbox.stats().dropped_total, 30,
                                "every report that was not dropped")
        await again.stop()
        checks["dropped"] = dropped
        checks["left_in_outbox"] = {p.msg_id for p in _pending(config)}

    asyncio.run(scenario())
    final = _final_dropped(config)
    unaccounted = set(made) - checks["left_in_outbox"]
    central.wait_for(lambda c: len(unaccounted - c.msg_ids) <= final, 10, "the last acknowledged reports")
    # Nothing vanished uncounted: what central never got is at most what the outbox says it dropped.
    assert len(unaccounted - central.msg_ids) <= final
    assert checks["worst_droppable_bytes"] <= bound, "droppable reports beyond the bound were kept"
    metrics = [m for m in central.of_kind("host_metrics") if isinstance(m, HostMetrics)]
    assert max(m.outbox_dropped_total for m in metrics) >= checks["stats"].dropped_total
    # A camera's latest status is never dropped: central learns where each camera stands.
    statuses = {m.camera_id for m in central.of_kind("camera_status")}
    assert statuses == {c.id for c in fleet.cameras}


def _final_dropped(config: AgentConfig) -> int:
    outbox = Outbox(config.outbox_path, max_bytes=config.outbox.max_bytes, max_age_s=config.outbox.max_age_s)
    try:
        return outbox.stats().dropped_total
    finally:
        outbox.close()


def _latest_bytes(outbox: Outbox) -> int:
    """Bytes of the reports the bound never drops (each key's latest), read from the stored payloads."""
    latest: dict[str, int] = {}
    for pending in outbox.pending(limit=100_000):
        decoded = decode(pending.topic, pending.payload)
        message = getattr(decoded, "message", None)
        if isinstance(message, CameraStatus):
            latest[f"status/{message.camera_id}"] = len(pending.payload)
        elif message is not None and message.kind == "camera_inventory":
            latest["inventory"] = len(pending.payload)
    return sum(latest.values())
