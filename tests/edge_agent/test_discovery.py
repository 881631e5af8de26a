"""Discovery rounds on loopback: a mixed-dialect simulated fleet found whole, every reply counted, each
dropped reply named (CLI --verbose and the service log), overlapping ranges probed once per address, and
unusable advertised addresses replaced by the replying one."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from edge_agent.agent import Agent
from edge_agent.discovery import MAX_DROPS_KEPT, DiscoveryRound, discover, settle_addresses, unique_hosts
from edge_agent.discovery_parse import Discovered
from shared.messages import DiscoveryMethod
from simulator.discovery_dialects import DIALECTS
from simulator.testing import start_fleet
from tests.edge_agent.conftest import agent_config, write_config
from tests.fixtures.broker import Pki, free_port

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "fixtures" / "discovery"
FAULT = (CORPUS / "tplink-vigi-c340-fault.xml").read_bytes()
WINDOWS = (CORPUS / "windows-wsdd-probematch.xml").read_bytes()


class Repliers:
    """Real UDP 'devices' on loopback addresses, one port: each answers every datagram with its payload."""

    def __init__(self, port: int, payloads: dict[str, bytes]) -> None:
        self.port = port
        self.received: Counter[str] = Counter()
        self._sockets = []
        for address, payload in payloads.items():
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((address, port))
            sock.settimeout(0.2)
            self._sockets.append((sock, address, payload))
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve, args=entry, daemon=True) for entry in self._sockets]
        for thread in self._threads:
            thread.start()

    def _serve(self, sock: socket.socket, address: str, payload: bytes) -> None:
        while not self._stop.is_set():
            try:
                _data, peer = sock.recvfrom(65535)
            except TimeoutError:
                continue
            self.received[address] += 1
            if payload:
                sock.sendto(payload, peer)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        for sock, _address, _payload in self._sockets:
            sock.close()


@contextmanager
def repliers(payloads: dict[str, bytes]) -> Iterator[Repliers]:
    server = Repliers(free_port(), payloads)
    try:
        yield server
    finally:
        server.close()


def test_a_mixed_dialect_fleet_is_found_whole_by_unicast() -> None:
    count = 2 * len(DIALECTS)
    with start_fleet(count, scenario={"defaults": {"discovery_dialect": "mixed"}}, rtsp=False) as fleet:
        # A range scan over the cameras' own addresses, as across a routed VLAN: one Probe per address.
        assert all(ipaddress.ip_address(c.host) in ipaddress.ip_network("127.20.0.0/27") for c in fleet.cameras)
        found = asyncio.run(discover([], [ipaddress.IPv4Network("127.20.0.0/27")], multicast=False, listen_s=2.0,
                                     port=fleet.descriptor.discovery_port))
        expected = {c.endpoint_reference: (c.host, c.onvif_port) for c in fleet.cameras}
    assert {d.endpoint_ref: d.host_port for d in found.devices} == expected
    # localhost_xaddr and nat_xaddr cameras are stored with the address they answered from, like the rest.
    # The second pass re-probes only the silent addresses: one reply per camera.
    assert found.summary() == f"{count} replies from {count} addresses: {count} parsed, 0 dropped"
    assert {d.source for d in found.devices} == {c.host for c in fleet.cameras}, "each from its own address"


def test_dropped_replies_are_counted_and_named_in_the_service_log(
        pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    name = pki.provision_agent()
    with repliers({"127.31.0.1": FAULT, "127.31.0.2": b"hello?", "127.31.0.3": WINDOWS}) as devices:
        config = agent_config(name, tmp_path, ca=pki.ca_cert, cert=pki.cert(name), key=pki.key(name),
                              discovery={"multicast": False, "ranges": ["127.31.0.0/29"], "port": devices.port,
                                         "listen_s": 3.0})

        async def rediscover() -> None:
            agent = Agent(config)
            try:
                await agent.rediscover()
            finally:
                agent.outbox.close()

        with caplog.at_level(logging.INFO, logger="edge_agent"):
            asyncio.run(rediscover())
    lines = [r.getMessage() for r in caplog.records]
    assert "discovery: dropped reply from 127.31.0.1: SOAP fault: SOAP-ENV:Sender; ter:InvalidArgVal; error" in lines
    assert any(line.startswith("discovery: dropped reply from 127.31.0.2: not XML") for line in lines)
    assert any(line.startswith("discovery: dropped reply from 127.31.0.3: not an ONVIF device") for line in lines)
    assert sum("dropped reply from" in line for line in lines) == 3
    assert "discovery: 3 replies from 3 addresses: 0 parsed, 3 dropped; 0 device(s)" in lines


def test_repeated_and_overlapping_ranges_probe_each_address_once_per_round() -> None:
    ranges = [ipaddress.IPv4Network(r) for r in ("127.31.1.0/30", "127.31.1.0/30", "127.31.1.2/32", "127.31.1.0/31")]
    assert unique_hosts(ranges) == ["127.31.1.1", "127.31.1.2", "127.31.1.0"]
    with repliers({"127.31.1.1": b"", "127.31.1.2": b""}) as devices:
        asyncio.run(discover([], ranges, multicast=False, listen_s=0.5, port=devices.port))
        received = dict(devices.received)
    assert received == {"127.31.1.1": 2, "127.31.1.2": 2}, "two passes (neither answers), one probe each"


def test_an_unreachable_advertised_address_is_checked_once_and_replaced_by_the_replying_one() -> None:
    checked: list[tuple[str, int]] = []

    async def nothing_answers(host: str, port: int) -> bool:
        checked.append((host, port))
        return False

    devices = [Discovered(f"urn:uuid:{i}", ["http://192.0.2.10:8080/onvif/device_service"], source=f"10.0.0.{i}")
               for i in range(1, 4)]
    stays = Discovered("urn:uuid:9", ["http://10.0.0.9:2020/onvif/device_service"], source="10.0.0.9")
    local = Discovered("urn:uuid:8", ["http://localhost/onvif/device_service"], source="10.0.0.8")
    named = Discovered("urn:uuid:7", ["http://ipcam.local:8899/onvif/device_service"], source="10.0.0.7")
    asyncio.run(settle_addresses([*devices, stays, local, named], nothing_answers))
    assert checked == [("192.0.2.10", 8080)], "once per advertised address; never localhost, a name or the source"
    assert named.host_port == ("10.0.0.7", 8899)
    assert [d.host_port for d in devices] == [(f"10.0.0.{i}", 8080) for i in range(1, 4)]
    assert stays.host_port == ("10.0.0.9", 2020)
    assert local.host_port == ("10.0.0.8", 80)
    # The ONVIF client gets the advertised path and scheme at the settled address.
    assert named.service_url == "http://10.0.0.7:8899/onvif/device_service"
    assert local.service_url == "http://10.0.0.8:80/onvif/device_service"
    assert stays.service_url == "http://10.0.0.9:2020/onvif/device_service"


def test_the_discovered_service_url_reaches_the_check_target(tmp_path: Path) -> None:
    from edge_agent.inventory import Inventory
    from tests.edge_agent.conftest import agent_config

    inventory = Inventory(agent_config("agent-test", tmp_path))
    https = Discovered("urn:uuid:1", ["https://10.0.0.5:8443/cgi-bin/onvif/device_service"], source="10.0.0.5")
    inventory.merge([https])
    reloaded = Inventory(agent_config("agent-test", tmp_path))  # from inventory.json, as after a restart
    target = reloaded.targets()[0]
    assert (target.host, target.port, target.onvif_url) == (
        "10.0.0.5", 8443, "https://10.0.0.5:8443/cgi-bin/onvif/device_service")


def test_discover_verbose_names_each_dropped_reply_and_ends_with_the_count(tmp_path: Path) -> None:
    with repliers({"127.31.2.1": FAULT, "127.31.2.2": b"<html/>"}) as devices:
        config = write_config(tmp_path / "agent.toml", "agent-cli", tmp_path / "state",
                              discovery={"multicast": False, "port": devices.port, "listen_s": 3.0})
        result = subprocess.run(
            [sys.executable, "-m", "edge_agent.cli", "--config", str(config), "discover", "--no-multicast",
             "--range", "127.31.2.0/30", "--verbose"],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "dropped reply from 127.31.2.1: SOAP fault: SOAP-ENV:Sender; ter:InvalidArgVal; error" in result.stderr
    assert "dropped reply from 127.31.2.2: not a SOAP envelope (root <html>)" in result.stderr
    assert result.stdout.rstrip().endswith(
        "0 camera(s) found; 2 replies from 2 addresses: 0 parsed, 2 dropped")


def test_the_service_log_names_each_source_and_reason_once_and_at_most_twenty(
        caplog: pytest.LogCaptureFixture) -> None:
    found = DiscoveryRound()
    for i in range(30):
        for _repeat in range(3):  # three probes, three identical answers
            found.collect(b"junk", f"10.0.0.{i}", DiscoveryMethod.MULTICAST)
    found.parse_collected()
    logger = logging.getLogger("edge_agent.test")
    with caplog.at_level(logging.INFO, logger="edge_agent.test"):
        found.log_drops(logger)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 21 and lines[0].startswith("discovery: dropped reply from 10.0.0.0: not XML")
    assert lines[-1] == "discovery: 30 more dropped replies not named"  # ten sources, three answers each
    assert found.summary() == "90 replies from 30 addresses: 0 parsed, 90 dropped"


def test_a_bye_takes_back_the_hello_of_the_same_round() -> None:
    hello = (CORPUS / "generic-ipcam-631ga.xml").read_bytes()
    bye = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
           b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
           b'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Body><d:Bye><a:EndpointReference>'
           b"<a:Address>urn:uuid:2419d68a-2dd2-21b2-a205-78A5DD0F9593</a:Address></a:EndpointReference>"
           b"</d:Bye></s:Body></s:Envelope>")
    found = DiscoveryRound()
    found.collect(hello, "192.168.1.104", DiscoveryMethod.MULTICAST)
    found.collect(bye, "192.168.1.104", DiscoveryMethod.MULTICAST)
    found.parse_collected()
    assert found.found == {} and found.parsed == 2


def test_a_flood_of_junk_is_counted_whole_but_named_within_bounds() -> None:
    found = DiscoveryRound()
    for i in range(MAX_DROPS_KEPT + 500):
        found.collect(b"junk", f"10.1.{i // 250}.{i % 250}", DiscoveryMethod.UNICAST)
    found.parse_collected()
    assert found.dropped == MAX_DROPS_KEPT + 500 and len(found.drops) == MAX_DROPS_KEPT
