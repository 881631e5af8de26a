"""Bad conditions lose nothing and stop nothing: a full disk, a refusing broker, an oversized report,
a camera dead for weeks. Each is said once, clearly, with where, and the agent keeps working."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.agent import Agent
from edge_agent.outbox import Outbox, OutboxUnavailable, ReportTooLarge
from edge_agent.publisher import Publisher, is_permanent_refusal
from edge_agent.scheduler import Scheduler
from shared import topics
from shared.codec import MAX_PAYLOAD_BYTES
from shared.messages import CameraInventory, HostMetrics, Message, utc_now
from tests.edge_agent.conftest import Central, agent_config
from tests.fixtures.broker import CENTRAL, Pki, TlsBroker, free_port


def _metrics(agent: str = "agent-x") -> Callable[[int, str], Message]:
    def build(seq: int, msg_id: str) -> Message:
        return HostMetrics(agent=agent, seq=seq, msg_id=msg_id, ts=utc_now(), agent_version="1", cpu_percent=1.0,
                           load_1m=None, memory_used_bytes=1, memory_total_bytes=2, disk_used_bytes=1,
                           disk_total_bytes=2, temperatures_c={}, uptime_s=1.0, net_bytes_sent=0, net_bytes_recv=0,
                           outbox_depth=0, outbox_bytes=0, outbox_dropped_total=0)
    return build


def _huge_inventory(agent: str = "agent-x") -> Callable[[int, str], Message]:
    def build(seq: int, msg_id: str) -> Message:
        return CameraInventory.model_construct(agent=agent, seq=seq, msg_id=msg_id, ts=utc_now(), kind="camera_inventory",
                                               cameras=[], found=["x" * 64] * (MAX_PAYLOAD_BYTES // 60))
    return build


# --- tiny filesystem ------------------------------------------------------------------------------


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs, mounted by the test (root only), so the disk really fills up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root")
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path) -> Path:
    """Fill the filesystem to the last byte; returns the filler file (delete it to free the space)."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (65_536, 4096, 512, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError:
                pass  # ENOSPC: go on with smaller pieces until not even one byte fits
    return filler


def _disk_full_lines(caplog: pytest.LogCaptureFixture, path: Path) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if "disk full" in r.getMessage() and str(path) in r.getMessage() and r.levelno >= logging.ERROR]


def test_outbox_on_a_full_disk_refuses_says_so_once_and_recovers(
    tiny_fs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge_agent")
    path = tiny_fs / "outbox.sqlite"
    outbox = Outbox(path, max_bytes=10_000_000, max_age_s=86_400)
    stored = [outbox.add(_metrics()).seq for _ in range(3)]
    filler = _fill(tiny_fs)
    failures = 0
    for _ in range(200):
        try:
            outbox.add(_metrics())
        except OutboxUnavailable as error:
            assert "disk full" in str(error) and str(path) in str(error)
            failures += 1
    assert failures > 100
    assert len(_disk_full_lines(caplog, path)) == 1, "a full disk is one log line, not one per report"
    assert outbox.failing is not None and "disk full" in outbox.failing
    # Birth and will ids still come: the agent must be able to say it is alive.
    seq, _msg_id = outbox.allocate()
    assert seq > stored[-1]

    filler.unlink()
    later = outbox.add(_metrics())
    assert outbox.failing is None
    assert any("writable again" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
    pending = [p.seq for p in outbox.pending()]
    assert pending[:3] == stored and pending[-1] == later.seq  # nothing stored before was lost
    assert len(_disk_full_lines(caplog, path)) == 1
    outbox.close()


def test_oversized_report_is_refused_logged_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite", max_bytes=100_000_000, max_age_s=86_400)
    outbox.add(_metrics())
    with pytest.raises(ReportTooLarge):
        outbox.add(_huge_inventory())
    after = outbox.add(_metrics())
    stats = outbox.stats()
    assert stats.depth == 2 and stats.rejected_total == 1
    assert [p.seq for p in outbox.pending()][-1] == after.seq
    assert any("refusing" in r.getMessage() and str(MAX_PAYLOAD_BYTES) in r.getMessage() for r in caplog.records)
    outbox.close()
    assert Outbox(tmp_path / "outbox.sqlite", max_bytes=1, max_age_s=1).stats().rejected_total == 1


# --- scheduler ------------------------------------------------------------------------------------


def _scheduler(tmp_path: Path, report: Callable[[Any], None], failures: int = 0) -> Scheduler:
    config = agent_config("agent-x", tmp_path, schedule={"interval_s": 60, "backoff_max_s": 900, "jitter": 0.1})
    runtime = SimpleNamespace(consecutive_failures=failures)
    result = SimpleNamespace(target=None)

    async def cycle(_target: object, **_kwargs: object) -> object:
        return result

    checker = SimpleNamespace(runtimes={"cam1": runtime}, cycle=cycle)
    scheduler = Scheduler(config, checker, report)  # type: ignore[arg-type]
    scheduler.targets["cam1"] = SimpleNamespace(camera_id="cam1")  # type: ignore[assignment]
    return scheduler


@pytest.mark.parametrize("failures", [3, 50, 1_100, 10**7])
def test_backoff_of_a_camera_dead_for_weeks_stays_bounded(tmp_path: Path, failures: int) -> None:
    # ~1,024 failures at 900 s is ten days: 2 ** n used to overflow and end the camera's task.
    delay = _scheduler(tmp_path, lambda _r: None, failures)._next_delay("cam1")
    assert 0 < delay <= 900 * 1.1


def test_report_failure_is_logged_once_and_the_check_still_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    def report(_result: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    scheduler = _scheduler(tmp_path, report)

    async def run() -> None:
        for _ in range(5):
            await scheduler.run_once("cam1")

    asyncio.run(run())
    assert scheduler.cycles_done == 5
    lines = [r for r in caplog.records if "reporting the check result failed" in r.getMessage()]
    assert len(lines) == 1


# --- PUBACK refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "permanent"), [
    (0x80, False), (0x83, False), (0x97, False), (0x91, False),  # broker trouble: keep and resend
    (0x87, True), (0x90, True), (0x99, True),  # can never succeed: drop
])
def test_puback_refusal_classification(code: int, permanent: bool) -> None:
    assert is_permanent_refusal(ReasonCode(PacketTypes.PUBACK, identifier=code)) is permanent
    assert is_permanent_refusal(code) is permanent


def _publisher(pki: Pki, tmp_path: Path) -> Publisher:
    name = pki.provision_agent()
    config = agent_config(name, tmp_path, ca=pki.ca_cert, cert=pki.cert(name), key=pki.key(name))
    return Publisher(config, Outbox(tmp_path / "outbox.sqlite", max_bytes=10**8, max_age_s=86_400))


def test_transient_refusal_keeps_the_report_and_resends_it(pki: Pki, tmp_path: Path) -> None:
    async def run() -> None:
        publisher = _publisher(pki, tmp_path)
        outbox = publisher.outbox
        seqs = [outbox.add(_metrics(publisher.agent)).seq for _ in range(3)]
        publisher._inflight = {1: (seqs[0], "t"), 2: (seqs[1], "t"), 3: (seqs[2], "t")}
        publisher._handed_up_to = seqs[2]
        publisher._acknowledged(1, ReasonCode(PacketTypes.PUBACK, identifier=0x97))  # quota exceeded
        publisher._acknowledged(2, ReasonCode(PacketTypes.PUBACK, identifier=0x87))  # not authorized
        assert [p.seq for p in outbox.pending()] == [seqs[0], seqs[2]]
        assert outbox.stats().rejected_total == 1
        assert publisher._handed_up_to == seqs[0] - 1, "the kept report is resent"
        assert publisher._retry_s > 0

        # A failed delete after a PUBACK (disk full) must not strand the report until a restart.
        publisher._handed_up_to = seqs[2]

        def full(_seq: int) -> bool:
            raise OutboxUnavailable("outbox x: cannot mark sent: disk full")

        outbox.mark_sent = full  # type: ignore[method-assign,assignment]
        publisher._acknowledged(3, ReasonCode(PacketTypes.PUBACK, identifier=0))
        assert publisher._handed_up_to == seqs[2] - 1
        publisher.client.loop_stop()
        outbox.close()

    asyncio.run(run())


def test_no_matching_subscribers_is_not_delivery(pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # PUBACK 0x10: the broker took the report, but central's ingest was not subscribed to receive it.
    caplog.set_level(logging.INFO, logger="edge_agent.publisher")
    async def run() -> None:
        publisher = _publisher(pki, tmp_path)
        outbox = publisher.outbox
        seqs = [outbox.add(_metrics(publisher.agent)).seq for _ in range(3)]
        publisher._inflight = {1: (seqs[0], "t"), 2: (seqs[1], "t"), 3: (seqs[2], "t")}
        publisher._handed_up_to = seqs[2]
        for mid in (1, 2):
            publisher._acknowledged(mid, ReasonCode(PacketTypes.PUBACK, identifier=0x10))
        assert [p.seq for p in outbox.pending()] == seqs  # still waiting to be sent, none marked sent
        assert outbox.stats().awaiting_confirmation == 0 and publisher.acks == 0
        assert publisher._handed_up_to == seqs[0] - 1 and publisher._retry_s > 0
        publisher._acknowledged(3, ReasonCode(PacketTypes.PUBACK, identifier=0))  # the ingest is back
        assert outbox.stats().awaiting_confirmation == 1
        publisher.client.loop_stop()
        outbox.close()

    asyncio.run(run())
    lines = [r.getMessage() for r in caplog.records if "no subscriber received it" in r.getMessage()]
    assert len(lines) == 1, "one line per run of refusals, not one per report"
    assert any("subscribed again" in r.getMessage() for r in caplog.records)


def test_paho_callbacks_never_raise_into_the_network_thread(pki: Pki, tmp_path: Path) -> None:
    publisher = _publisher(pki, tmp_path)

    def broken() -> tuple[int, str]:
        raise RuntimeError("boom")

    publisher.outbox.allocate = broken  # type: ignore[method-assign]
    publisher.availability._spare_ids.clear()
    client: Any = SimpleNamespace(will_set=lambda *a, **k: None, subscribe=lambda *a, **k: None,
                                  publish=lambda *a, **k: None)
    # No outbox access from paho's thread: these work although allocate would fail.
    publisher._on_disconnect(client, None, None, ReasonCode(PacketTypes.DISCONNECT, identifier=0x80), None)
    flags: Any = SimpleNamespace(session_present=False)
    publisher._on_connect(client, None, flags, ReasonCode(PacketTypes.CONNACK, identifier=0), None)
    assert publisher.callback_errors == 0
    client.publish = lambda *a, **k: (_ for _ in ()).throw(ValueError("bad"))
    publisher._on_connect(client, None, flags, ReasonCode(PacketTypes.CONNACK, identifier=0), None)
    assert publisher.callback_errors == 1
    publisher.outbox.close()


# --- the whole agent on a full disk ---------------------------------------------------------------


async def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.xdist_group("broker")
def test_agent_on_a_full_disk_keeps_checking_says_so_once_and_recovers(
    pki: Pki, tls_broker: TlsBroker, tiny_fs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    name = pki.provision_agent()
    tls_broker.reload()
    client = tls_broker.connect(CENTRAL)
    client.subscribe_and_wait(f"{topics.agent_prefix(name)}/#")
    central = Central(client, name)
    # Cameras that refuse every connection: each check fails fast and still yields a status report.
    cameras = [{"id": f"cam{i}", "host": "127.0.0.1", "port": free_port(), "username": "u", "password": "p"}
               for i in range(3)]
    config = agent_config(
        name, tiny_fs / "state", broker_port=tls_broker.port, ca=pki.ca_cert, cert=pki.cert(name),
        key=pki.key(name), cameras=cameras, discovery={"enabled": False},
        schedule={"interval_s": 1, "jitter": 0, "metrics_every_s": 1, "offline_after": 1000},
        broker={"reconnect_min_s": 1, "reconnect_max_s": 1},
        timeouts={"connect_s": 1, "onvif_s": 1, "snapshot_s": 1},
    )
    outbox_path = config.outbox_path

    async def scenario() -> None:
        stop = asyncio.Event()
        agent = Agent(config)
        runner = asyncio.create_task(agent.run(stop))
        try:
            await asyncio.to_thread(central.wait_for, lambda c: bool(c.of_kind("camera_status")), 20,
                                    "a first status")
            filler = _fill(tiny_fs)
            full_since = datetime.now().astimezone()
            cycles = agent.scheduler.cycles_done
            await _until(lambda: len(_disk_full_lines(caplog, outbox_path)) >= 1, 20, "'disk full' in the log")
            # Many more checks while full: the agent keeps checking and the log does not grow per report.
            await _until(lambda: agent.scheduler.cycles_done >= cycles + 12, 30, "checks while the disk is full")
            assert not runner.done()
            assert len(_disk_full_lines(caplog, outbox_path)) == 1
            assert agent.health_problem() is None

            filler.unlink()
            await asyncio.to_thread(central.wait_for, lambda c: any(
                m.ts > full_since for m in c.of_kind("camera_status")) and any(
                m.ts > full_since for m in c.of_kind("host_metrics")), 30, "reports after space returned")
            assert any("writable again" in r.getMessage() for r in caplog.records)
            assert not runner.done()
        finally:
            stop.set()
            await asyncio.wait_for(runner, 30)

    asyncio.run(scenario())
    unexpected = [r for r in caplog.records if r.levelno >= logging.ERROR and "ended with an error" in r.getMessage()]
    assert not unexpected


@pytest.mark.xdist_group("broker")
def test_real_broker_acl_refusal_is_dropped_and_the_queue_moves_on(
    pki: Pki, tls_broker: TlsBroker, tmp_path: Path
) -> None:
    name = pki.provision_agent()
    tls_broker.reload()
    config = agent_config(name, tmp_path, broker_port=tls_broker.port, ca=pki.ca_cert, cert=pki.cert(name),
                          key=pki.key(name))
    # A subscriber, or the broker answers 0x10 (no matching subscribers), which is no delivery.
    tls_broker.connect(CENTRAL).subscribe_and_wait(topics.metrics(name))

    async def run() -> None:
        outbox = Outbox(tmp_path / "outbox.sqlite", max_bytes=10**8, max_age_s=86_400)
        publisher = Publisher(config, outbox)
        await publisher.start()
        try:
            outbox.add(_metrics("someone-else"))  # another agent's topic: the broker's ACL says 0x87
            outbox.add(_metrics(name))
            publisher.wake()
            # Sent and awaiting central's confirmation, which this plain subscriber never gives.
            await _until(lambda: outbox.stats().awaiting_confirmation == outbox.stats().depth == 1, 20,
                         "the good report to be sent")
            assert outbox.stats().rejected_total == 1 and publisher.rejected == 1 and publisher.acks == 1
            assert publisher.network_alive()
        finally:
            await publisher.stop()
        assert not publisher.network_alive()
        outbox.close()

    asyncio.run(run())
