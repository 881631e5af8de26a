"""End to end: enroll a real bundle, discover simulated cameras by unicast, report, answer a command.

Everything is awaited through what central sees on the broker (birth, inventory, statuses, the
command result), never through the agent's private state, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import stat
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from edge_agent.agent import Agent
from edge_agent.cli import enroll
from edge_agent.config import load_config
from shared import topics
from shared.codec import encode
from shared.messages import (
    AgentBirth,
    CameraInventory,
    CameraStatus,
    CameraThumbnail,
    Command,
    CommandName,
    CommandResult,
    DiscoveryMethod,
    utc_now,
)
from simulator.testing import FleetClient, run_fleet_process
from tests.edge_agent.conftest import Central
from tests.fixtures.broker import CENTRAL, CENTRAL_COMMANDS, Pki, TlsBroker

pytestmark = pytest.mark.xdist_group("broker")


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetClient]:
    # Its own process: the agent decodes RTSP with OpenCV, which would stall an in-process simulator.
    with run_fleet_process(2, extra_args=["--discovery-port", "0"]) as client:
        client.set_fault("cam0002", "black")
        yield client


def test_enroll_run_discover_report_and_answer_commands(
    pki: Pki, tls_broker: TlsBroker, fleet: FleetClient, tmp_path: Path
) -> None:
    name = pki.provision_agent()
    tls_broker.reload()
    etc = tmp_path / "etc"
    assert enroll(pki.bundle(name), etc) == 0
    assert stat.S_IMODE(os.stat(etc / f"{name}.key").st_mode) == 0o600
    client = tls_broker.connect(CENTRAL)
    client.subscribe_and_wait(f"{topics.agent_prefix(name)}/#")
    central = Central(client, name)

    data = tomllib.loads((etc / "agent.toml").read_text())
    camera = fleet.cameras[0]
    data["broker"]["port"] = tls_broker.port
    data["agent"]["state_dir"] = str(tmp_path / "state")
    # Scheduled checks every 2 s skip the RTSP decode; the check_now command forces it.
    data["schedule"] = {"interval_s": 2, "rtsp_every": 1000, "metrics_every_s": 60}
    # Under a loaded test machine an answer may take seconds: that must not read as a fault here.
    data["timeouts"] = {"rtsp_probe_s": 1.5, "slow_warn_s": 30}
    data["discovery"] = {"multicast": False, "ranges": ["127.0.0.1/32"], "port": fleet.descriptor.discovery_port,
                         "listen_s": 3.0, "repeats": 1}
    data["networks"] = [{"cidr": "127.20.0.0/16", "username": camera.username, "password": camera.password}]
    (etc / "agent.toml").write_text(tomli_w.dumps(data))
    config = load_config(etc / "agent.toml")
    serials = {c.serial for c in fleet.cameras}

    def inventories(c: Central) -> list[CameraInventory]:
        return [m for m in c.of_kind("camera_inventory") if isinstance(m, CameraInventory)]

    def results(c: Central) -> list[CommandResult]:
        return [m for m in c.of_kind("command_result") if isinstance(m, CommandResult)]

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.create_task(Agent(config).run(stop))
        try:
            # The birth is published after the command subscription, on the same connection: once
            # central has it, a command cannot overtake the agent's subscription.
            await asyncio.to_thread(central.wait_for, lambda c: any(
                isinstance(d.message, AgentBirth) for d in c.availability), 20, "the agent's birth")
            await asyncio.to_thread(central.wait_for, lambda c: any(len(i.found) == 2 for i in inventories(c)),
                                    20, "the discovered cameras in an inventory")
            command = Command(agent=name, seq=1, msg_id=uuid.uuid4().hex, ts=utc_now(), command_id="c-1",
                              name=CommandName.CHECK_NOW, requested_by="test")
            admin = await asyncio.to_thread(tls_broker.connect, CENTRAL_COMMANDS)
            await asyncio.to_thread(admin.publish_and_wait, topics.command(name, "check_now"), encode(command))
            await asyncio.to_thread(central.wait_for, lambda c: any(r.command_id == "c-1" for r in results(c)),
                                    40, "the command result")
            # Serial and MAC arrive with the first successful checks; the inventory follows them.
            await asyncio.to_thread(central.wait_for, lambda c: any(
                {cam.serial for cam in i.cameras} == serials for i in inventories(c)), 20,
                "an inventory with serial numbers")
            await asyncio.to_thread(central.wait_for, lambda c: bool(c.of_kind("camera_thumbnail")), 10,
                                    "a thumbnail")
        finally:
            stop.set()
            await asyncio.wait_for(runner, 30)

    asyncio.run(scenario())

    first = inventories(central)[0]
    assert sorted(first.found) == sorted(c.camera_id for c in first.cameras) and len(first.found) == 2
    assert {c.discovered_by for c in first.cameras} == {DiscoveryMethod.UNICAST}
    assert {(c.host, c.port) for c in first.cameras} == {(c.host, c.onvif_port) for c in fleet.cameras}
    inventory = next(i for i in inventories(central) if {c.serial for c in i.cameras} == serials)
    by_serial = {c.serial: c for c in inventory.cameras}
    for simulated in fleet.cameras:
        assert by_serial[simulated.serial].mac == simulated.mac
    result = next(r for r in results(central) if r.command_id == "c-1")
    assert result.ok and result.name is CommandName.CHECK_NOW
    ids = {by_serial[c.serial].camera_id: c.id for c in fleet.cameras}  # agent's id -> simulator's id
    assert {ids[cid]: state for cid, state in result.details.items()} == {"cam0001": "ok", "cam0002": "degraded"}
    statuses = [m for m in central.of_kind("camera_status") if isinstance(m, CameraStatus)]
    reasons = {(ids[s.camera_id], s.reason) for s in statuses}
    assert ("cam0001", "ok") in reasons and ("cam0002", "black") in reasons
    # The forced check decoded the stream, which scheduled checks skip here.
    assert any(o.check == "stream" and o.outcome.value == "ok" for s in statuses for o in s.checks)
    thumbnail = next(d for d in central.reports if isinstance(d.message, CameraThumbnail))
    assert isinstance(thumbnail.message, CameraThumbnail) and thumbnail.message.width <= 320
    assert thumbnail.jpeg is not None and len(thumbnail.jpeg) < 30_000
    # Credentials never leave the agent.
    for decoded in central.reports + central.availability:
        assert camera.password not in decoded.message.model_dump_json()
