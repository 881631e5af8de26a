"""End to end: enroll a real bundle, discover simulated cameras by unicast, report, answer a command."""

from __future__ import annotations

import asyncio
import os
import stat
import time
import tomllib
import uuid
from pathlib import Path

import pytest
import tomli_w

from edge_agent.agent import Agent
from edge_agent.cli import enroll, main
from edge_agent.config import load_config
from shared import topics
from shared.codec import Decoded, decode, encode
from shared.messages import (
    CameraInventory,
    CameraStatus,
    CameraThumbnail,
    Command,
    CommandName,
    CommandResult,
)
from simulator.testing import start_fleet
from tests.fixtures.broker import CENTRAL, Pki, TlsBroker

pytestmark = pytest.mark.xdist_group("broker")


def test_bad_config_names_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[agent]\nname = "a1"\nregency = "16.71"\ncolour = "red"\n[broker]\nhost = "x"\n'
                    '[tls]\nca_file = "ca"\ncert_file = "c"\nkey_file = "k"\n[schedule]\ninterval_s = -1\n')
    assert main(["--config", str(path), "check"]) == 2
    error = capsys.readouterr().err
    assert f"{path}:agent.colour: unknown key" in error
    assert f"{path}:schedule.interval_s: Input should be greater than or equal to 1" in error


def test_enroll_run_discover_report_and_answer_commands(pki: Pki, tls_broker: TlsBroker, tmp_path: Path) -> None:
    name = pki.provision_agent()
    tls_broker.reload()
    etc = tmp_path / "etc"
    assert enroll(pki.bundle(name), etc) == 0
    assert stat.S_IMODE(os.stat(etc / f"{name}.key").st_mode) == 0o600
    central = tls_broker.connect(CENTRAL)
    central.subscribe_and_wait(topics.ALL_AGENT_TOPICS)

    with start_fleet(2, faults={"cam0002": ["black"]}) as fleet:
        data = tomllib.loads((etc / "agent.toml").read_text())
        data["broker"]["port"] = tls_broker.port
        data["agent"]["state_dir"] = str(tmp_path / "state")
        data["schedule"] = {"interval_s": 3600, "rtsp_every": 1}
        data["timeouts"] = {"rtsp_probe_s": 1.5}
        data["discovery"] = {"multicast": False, "ranges": ["127.0.0.0/30"], "port": fleet.descriptor.discovery_port,
                             "listen_s": 3.0, "repeats": 1}
        camera = fleet.cameras[0]
        data["networks"] = [{"cidr": "127.20.0.0/16", "username": camera.username, "password": camera.password}]
        (etc / "agent.toml").write_text(tomli_w.dumps(data))
        config = load_config(etc / "agent.toml")

        async def scenario() -> None:
            stop = asyncio.Event()
            agent = Agent(config)
            runner = asyncio.create_task(agent.run(stop))
            await asyncio.wait_for(agent.publisher.connected.wait(), 15)
            deadline = time.monotonic() + 20
            while len(agent.scheduler.targets) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            command = Command(agent=name, seq=1, msg_id=uuid.uuid4().hex, ts=time_now(), command_id="c-1",
                              name=CommandName.CHECK_NOW, requested_by="test")
            admin = tls_broker.connect(CENTRAL)
            admin.publish_and_wait(topics.command(name, "check_now"), encode(command))
            deadline = time.monotonic() + 30
            while len(agent.inventory._reported_cameras) < 2 or not all(
                c.serial for c in agent.inventory._reported_cameras
            ) or (agent.outbox.stats().depth and time.monotonic() < deadline):
                await asyncio.sleep(0.1)
            stop.set()
            await runner

        asyncio.run(scenario())

    seen: dict[str, list[Decoded]] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not {"camera_inventory", "command_result", "camera_status",
                                                 "camera_thumbnail"} <= set(seen):
        message = central.next_message(timeout=max(0.1, deadline - time.monotonic()))
        decoded = decode(message.topic, bytes(message.payload))
        assert isinstance(decoded, Decoded), decoded
        seen.setdefault(decoded.message.kind, []).append(decoded)
    first = seen["camera_inventory"][0].message
    assert isinstance(first, CameraInventory) and len(first.found) == 2
    while not all(c.serial for c in seen["camera_inventory"][-1].message.cameras):  # type: ignore[union-attr]
        nxt = central.next_message()
        later = decode(nxt.topic, bytes(nxt.payload))
        if isinstance(later, Decoded) and later.message.kind == "camera_inventory":
            seen["camera_inventory"].append(later)
    inventory = seen["camera_inventory"][-1].message
    assert isinstance(inventory, CameraInventory)
    assert len(inventory.cameras) == 2
    assert {c.serial for c in inventory.cameras} == {c.serial for c in fleet.cameras}
    result = seen["command_result"][0].message
    assert isinstance(result, CommandResult) and result.ok and result.command_id == "c-1"
    statuses = {d.message.camera_id: d.message for d in seen["camera_status"]}  # type: ignore[union-attr]
    assert all(isinstance(s, CameraStatus) for s in statuses.values())
    reasons = sorted(s.reason for s in statuses.values())  # type: ignore[union-attr]
    assert reasons == ["black", "ok"]
    thumbnail = seen["camera_thumbnail"][0]
    assert isinstance(thumbnail.message, CameraThumbnail) and thumbnail.jpeg is not None
    assert thumbnail.message.width <= 320 and len(thumbnail.jpeg) < 30_000
    # Credentials never leave the agent.
    for items in seen.values():
        for item in items:
            assert camera.password not in item.message.model_dump_json()


def time_now():
    from shared.messages import utc_now

    return utc_now()
