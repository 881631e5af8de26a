"""WS-Discovery with the wsdiscovery package: unicast Probe on loopback, multicast across a netns LAN."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from onvif import ONVIFCamera
from wsdiscovery import QName, Scope
from wsdiscovery.actions import constructProbe
from wsdiscovery.message import createSOAPMessage, parseSOAPMessage
from wsdiscovery.namespaces import NS_ACTION_PROBE_MATCH

from simulator.descriptors import CameraDescriptor
from simulator.netns import netns_available, test_network
from simulator.testing import FleetClient, run_fleet_process, start_fleet

NVT = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter")


@pytest.fixture(scope="module")
def discovery_fleet() -> Iterator[FleetClient]:
    with start_fleet(4, faults={"cam0003": ["offline"], "cam0004": ["onvif_dead"]}, rtsp=False) as fleet:
        yield fleet


def unicast_probe(fleet: FleetClient, types: list[QName] | None = None, scopes: list[Scope] | None = None,
                  wait: float = 1.0) -> list[object]:
    """Send one Probe built by wsdiscovery to the fleet and parse every answer with wsdiscovery."""
    probe = constructProbe(types or [], scopes or [])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(createSOAPMessage(probe).encode(), (fleet.descriptor.host, fleet.descriptor.discovery_port))
        answers = []
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                data, address = sock.recvfrom(65535)
            except TimeoutError:
                break
            envelope = parseSOAPMessage(data, address[0])
            assert envelope is not None and envelope.getAction() == NS_ACTION_PROBE_MATCH
            assert envelope.getRelatesTo() == probe.getMessageId()
            answers.extend(envelope.getProbeResolveMatches())
    return answers


def test_unicast_probe_finds_every_live_camera_with_its_xaddr(discovery_fleet: FleetClient) -> None:
    matches = unicast_probe(discovery_fleet, types=[NVT])
    found = {match.getEPR(): match for match in matches}  # type: ignore[attr-defined]
    expected = {camera.endpoint_reference: camera for camera in discovery_fleet.cameras
                if not camera.faults}
    assert set(found) == set(expected)
    assert len(matches) == len(expected), "one ProbeMatch per camera"
    for epr, match in found.items():
        assert match.getXAddrs() == [expected[epr].onvif_xaddr]  # type: ignore[attr-defined]
        assert any(t.getLocalname() == "NetworkVideoTransmitter" for t in match.getTypes())  # type: ignore[attr-defined]


def test_probe_for_another_type_gets_no_answer(discovery_fleet: FleetClient) -> None:
    assert unicast_probe(discovery_fleet, types=[QName("http://example.com/printers", "Printer")], wait=0.7) == []


def test_scope_filter_selects_one_camera(discovery_fleet: FleetClient) -> None:
    camera = discovery_fleet.camera("cam0002")
    scope = Scope(f"onvif://www.onvif.org/name/{quote(camera.name, safe='')}")
    matches = unicast_probe(discovery_fleet, types=[NVT], scopes=[scope])
    assert [match.getEPR() for match in matches] == [camera.endpoint_reference]  # type: ignore[attr-defined]


def test_camera_taken_offline_at_run_time_stops_answering(discovery_fleet: FleetClient) -> None:
    discovery_fleet.set_fault("cam0001", "offline")
    try:
        eprs = {match.getEPR() for match in unicast_probe(discovery_fleet)}  # type: ignore[attr-defined]
        assert discovery_fleet.camera("cam0001").endpoint_reference not in eprs
        assert discovery_fleet.camera("cam0002").endpoint_reference in eprs
    finally:
        discovery_fleet.clear("cam0001")


# Runs inside the client namespace: the stock wsdiscovery client, multicast Probe plus Hello/Bye listening.
_MULTICAST_CLIENT = r"""
import json, sys, time
from wsdiscovery import QName
from wsdiscovery.discovery import ThreadedWSDiscovery
hello, bye = [], []
wsd = ThreadedWSDiscovery()
wsd.setRemoteServiceHelloCallback(lambda service: hello.append(service.getEPR()))
wsd.setRemoteServiceByeCallback(lambda epr: bye.append(epr))
wsd.start()
print("ready", flush=True)
sys.stdin.readline()
services = wsd.searchServices(types=[QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter")],
                              timeout=2)
print(json.dumps({s.getEPR(): s.getXAddrs() for s in services}), flush=True)
sys.stdin.readline()
time.sleep(1.5)
print(json.dumps({"hello": hello, "bye": bye}), flush=True)
wsd.stop()
"""


def read_serial(camera: CameraDescriptor) -> str:
    async def read() -> str:
        client = ONVIFCamera(camera.host, camera.onvif_port, camera.username, camera.password)
        try:
            device = await client.create_devicemgmt_service()
            return str((await device.GetDeviceInformation()).SerialNumber)
        finally:
            await client.close()

    return asyncio.run(read())


@pytest.mark.netns
@pytest.mark.skipif(not netns_available(), reason="needs root to create network namespaces")
def test_multicast_discovery_hello_and_bye_across_a_bridged_lan() -> None:
    with test_network(namespaces=2) as net:
        camera_ns, client_ns = net.namespaces
        client = subprocess.Popen([*net.exec_prefix(client_ns), sys.executable, "-c", _MULTICAST_CLIENT],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert client.stdin is not None and client.stdout is not None
        try:
            assert client.stdout.readline().strip() == "ready"
            # One process, three cameras, each on its own address of the camera host's LAN interface.
            first_ip = net.add_addresses(camera_ns, 3)
            args = ["--host", camera_ns.address, "--camera-ip-base", first_ip, "--discovery-port", "3702",
                    "--no-rtsp"]
            with run_fleet_process(3, extra_args=args, command_prefix=net.exec_prefix(camera_ns)) as fleet:
                assert fleet.descriptor.multicast
                client.stdin.write("probe\n")
                client.stdin.flush()
                found = json.loads(client.stdout.readline())
                assert found == {camera.endpoint_reference: [camera.onvif_xaddr] for camera in fleet.cameras}
                assert len({camera.host for camera in fleet.cameras}) == 3
                assert all(camera.onvif_xaddr.endswith("/onvif/device_service") for camera in fleet.cameras)
                # The root namespace reaches every camera through the bridge, as an agent on the LAN would.
                for camera in fleet.cameras:
                    assert read_serial(camera) == camera.serial
                eprs = {camera.endpoint_reference for camera in fleet.cameras}
            client.stdin.write("report\n")
            client.stdin.flush()
            events = json.loads(client.stdout.readline())
            assert set(events["hello"]) == eprs, "Hello when the cameras came up"
            assert set(events["bye"]) == eprs, "Bye on SIGTERM"
        finally:
            client.kill()
            client.communicate(timeout=10)
