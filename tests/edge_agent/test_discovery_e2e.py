"""End to end: the agent service discovers a fleet speaking every discovery dialect (and, camera by camera,
the ONVIF dialects) by a unicast range scan, checks each camera and reports them through the TLS broker:
central sees every camera at its own address, identified by serial and MAC, each with a status."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.agent import Agent
from shared import topics
from shared.messages import CameraInventory, CameraStatus, DiscoveryMethod
from simulator.discovery_dialects import DIALECTS
from simulator.testing import FleetClient, run_fleet_process
from tests.edge_agent.conftest import Central, agent_config
from tests.fixtures.broker import CENTRAL, Pki, TlsBroker

pytestmark = pytest.mark.xdist_group("broker")


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetClient]:
    # Every camera also speaks the next ONVIF dialect (simulator.onvif_dialects): checks see their quirks.
    with run_fleet_process(len(DIALECTS), extra_args=["--discovery-port", "0", "--no-rtsp",
                                                      "--discovery-dialect", "mixed", "--dialect", "mixed"]) as client:
        yield client


def test_every_discovery_dialect_through_discovery_checks_and_the_broker(
        pki: Pki, tls_broker: TlsBroker, fleet: FleetClient, tmp_path: Path) -> None:
    name = pki.provision_agent()
    tls_broker.reload()
    client = tls_broker.connect(CENTRAL)
    client.subscribe_and_wait(f"{topics.agent_prefix(name)}/#")
    central = Central(client, name)
    camera = fleet.cameras[0]
    config = agent_config(
        name, tmp_path / "state", broker_port=tls_broker.port, ca=pki.ca_cert, cert=pki.cert(name),
        key=pki.key(name), schedule={"interval_s": 2, "rtsp_every": 1000, "metrics_every_s": 60},
        timeouts={"slow_warn_s": 30},
        # The cameras' own addresses, scanned one at a time as across a routed VLAN.
        discovery={"multicast": False, "ranges": ["127.20.0.0/28"], "port": fleet.descriptor.discovery_port,
                   "listen_s": 3.0},
        networks=[{"cidr": "127.20.0.0/16", "username": camera.username, "password": camera.password}])
    serials = {c.serial for c in fleet.cameras}

    def inventories(c: Central) -> list[CameraInventory]:
        return [m for m in c.of_kind("camera_inventory") if isinstance(m, CameraInventory)]

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.create_task(Agent(config).run(stop))
        try:
            await asyncio.to_thread(central.wait_for, lambda c: any(
                {cam.serial for cam in i.cameras} == serials for i in inventories(c)), 60,
                "an inventory of every camera with its serial")
            await asyncio.to_thread(central.wait_for, lambda c: len(
                {m.camera_id for m in c.of_kind("camera_status")}) >= len(serials), 30, "a status per camera")
        finally:
            stop.set()
            await asyncio.wait_for(runner, 30)

    asyncio.run(scenario())
    inventory = next(i for i in inventories(central) if {c.serial for c in i.cameras} == serials)
    by_serial = {c.serial: c for c in inventory.cameras}
    for simulated in fleet.cameras:
        reported = by_serial[simulated.serial]
        # localhost_xaddr and nat_xaddr cameras too: at the address they answered from.
        assert (reported.host, reported.port) == (simulated.host, simulated.onvif_port), simulated.id
        assert reported.discovered_by is DiscoveryMethod.UNICAST
        assert reported.mac == simulated.mac
    statuses = [m for m in central.of_kind("camera_status") if isinstance(m, CameraStatus)]
    assert {s.camera_id for s in statuses} == {c.camera_id for c in inventory.cameras}
    # Whatever the dialect, ONVIF answered and took the credentials.
    for status in statuses:
        onvif = {c.check: c for c in status.checks if c.check in ("onvif", "credentials")}
        assert all(c.reason == "ok" for c in onvif.values()) and len(onvif) == 2, status
