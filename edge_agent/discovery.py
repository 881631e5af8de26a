"""WS-Discovery on asyncio UDP: multicast Probe per interface, unicast Probe across CIDR ranges.

Multicast does not cross routed VLANs, so cameras on other subnets are probed one address at a
time (``discovery.ranges``); cameras that answer neither are listed statically in agent.toml.
Answers are deduplicated by endpoint reference here; by serial and MAC once ONVIF has told us
those (see edge_agent.inventory).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

import psutil
from defusedxml import ElementTree as SafeET

from shared.messages import DiscoveryMethod

log = logging.getLogger(__name__)

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
_MAX_DATAGRAM = 65_507

Progress = Callable[[int, int], None]


@dataclass(slots=True)
class Discovered:
    """One device that answered a Probe."""

    endpoint_ref: str
    xaddrs: list[str]
    scopes: list[str] = field(default_factory=list)
    source: str = ""
    method: DiscoveryMethod = DiscoveryMethod.MULTICAST

    @property
    def host_port(self) -> tuple[str, int] | None:
        """The first XAddr's host and port, preferring one on the address that answered."""
        candidates = sorted(self.xaddrs, key=lambda x: urlsplit(x).hostname != self.source)
        for xaddr in candidates:
            parts = urlsplit(xaddr)
            if parts.hostname:
                return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        return None

    def scope(self, kind: str) -> str:
        prefix = f"onvif://www.onvif.org/{kind}/"
        for scope in self.scopes:
            if scope.startswith(prefix):
                from urllib.parse import unquote

                return unquote(scope[len(prefix):])
        return ""


def probe_message(message_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<e:Envelope xmlns:e="{NS_SOAP}" xmlns:w="{NS_WSA}" xmlns:d="{NS_WSD}" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        f"<e:Header><w:MessageID>{message_id}</w:MessageID>"
        '<w:To e:mustUnderstand="true">urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>'
        f'<w:Action e:mustUnderstand="true">{NS_WSD}/Probe</w:Action></e:Header>'
        "<e:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></e:Body></e:Envelope>"
    ).encode()


def parse_probe_matches(data: bytes, expected_relates_to: str | None = None) -> list[Discovered]:
    """The ProbeMatch entries of a datagram; [] for anything else (hostile XML included)."""
    try:
        root: Element = SafeET.fromstring(data)
    except Exception:  # defusedxml raises several types for entity bombs and broken XML alike
        return []
    relates = (root.findtext(f"{{{NS_SOAP}}}Header/{{{NS_WSA}}}RelatesTo") or "").strip()
    if expected_relates_to is not None and relates and relates != expected_relates_to:
        return []
    found = []
    for match in root.iter(f"{{{NS_WSD}}}ProbeMatch"):
        address = (match.findtext(f"{{{NS_WSA}}}EndpointReference/{{{NS_WSA}}}Address") or "").strip()
        xaddrs = (match.findtext(f"{{{NS_WSD}}}XAddrs") or "").split()
        if not address or not xaddrs:
            continue
        scopes = (match.findtext(f"{{{NS_WSD}}}Scopes") or "").split()
        found.append(Discovered(address[:256], [x[:512] for x in xaddrs[:8]], scopes[:32]))
    return found


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, message_ids: set[str], sink: Callable[[Discovered], None], method: DiscoveryMethod) -> None:
        self.message_ids = message_ids
        self.sink = sink
        self.method = method
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        for device in parse_probe_matches(data):
            device.source = str(addr[0])
            device.method = self.method
            self.sink(device)

    def error_received(self, exc: Exception) -> None:
        log.debug("discovery socket error: %s", exc)


def interface_addresses(names: Iterable[str] = ()) -> dict[str, str]:
    """IPv4 address per interface (all non-loopback ones when ``names`` is empty)."""
    wanted = set(names)
    result = {}
    for name, addresses in psutil.net_if_addrs().items():
        if wanted and name not in wanted:
            continue
        for address in addresses:
            if address.family == socket.AF_INET and (wanted or not address.address.startswith("127.")):
                result[name] = address.address
                break
    missing = wanted - set(result)
    if missing:
        log.warning("no IPv4 address on interface(s) %s; not probing there", ", ".join(sorted(missing)))
    return result


class Discovery:
    """Collects answers of one discovery round, deduplicated by endpoint reference."""

    def __init__(self) -> None:
        self.found: dict[str, Discovered] = {}
        self.message_ids: set[str] = set()

    def _add(self, device: Discovered) -> None:
        existing = self.found.get(device.endpoint_ref)
        if existing is None or (existing.method is DiscoveryMethod.UNICAST and device.method is DiscoveryMethod.MULTICAST):
            self.found[device.endpoint_ref] = device

    async def multicast(self, interfaces: Iterable[str], listen_s: float, repeats: int) -> None:
        """Probe 239.255.255.250:3702 from each interface, repeating while listening ``listen_s``."""
        loop = asyncio.get_running_loop()
        transports = []
        for name, address in interface_addresses(interfaces).items():
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
            try:
                sock.bind((address, 0))
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, struct.pack("b", 1))
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            except OSError as error:
                log.warning("cannot probe on %s (%s): %s", name, address, error)
                sock.close()
                continue
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Listener(self.message_ids, self._add, DiscoveryMethod.MULTICAST), sock=sock)
            transports.append(transport)
        if not transports:
            return
        try:
            gap = listen_s / repeats
            deadline = time.monotonic() + listen_s
            for _ in range(repeats):
                # Devices answer after a random delay up to APP_MAX_DELAY and UDP drops datagrams:
                # probe again while listening instead of trusting one shot.
                message_id = f"uuid:{uuid.uuid4()}"
                self.message_ids.add(message_id)
                for transport in transports:
                    transport.sendto(probe_message(message_id), (MULTICAST_GROUP, DISCOVERY_PORT))
                await asyncio.sleep(min(gap, max(0.0, deadline - time.monotonic())))
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        finally:
            for transport in transports:
                transport.close()

    async def unicast(self, ranges: Iterable[ipaddress.IPv4Network], *, port: int = DISCOVERY_PORT,
                      rate: int = 2000, listen_s: float = 3.0, progress: Progress | None = None) -> None:
        """Probe every host address of ``ranges`` directly (twice), then listen ``listen_s`` more."""
        hosts = [str(h) for network in ranges for h in (network.hosts() if network.num_addresses > 1
                                                           else [network.network_address])]
        if not hosts:
            return
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Listener(self.message_ids, self._add, DiscoveryMethod.UNICAST),
            local_addr=("0.0.0.0", 0), family=socket.AF_INET)
        try:
            interval = 1.0 / rate
            total = len(hosts) * 2
            sent = 0
            for _round in range(2):
                message_id = f"uuid:{uuid.uuid4()}"
                self.message_ids.add(message_id)
                payload = probe_message(message_id)
                for host in hosts:
                    try:
                        transport.sendto(payload, (host, port))
                    except OSError as error:  # unroutable address: not a camera
                        log.debug("probe to %s failed: %s", host, error)
                    sent += 1
                    if progress is not None and (sent % 64 == 0 or sent == total):
                        progress(sent, total)
                    if sent % 32 == 0:
                        await asyncio.sleep(interval * 32)
            await asyncio.sleep(listen_s)
        finally:
            transport.close()


async def discover(interfaces: Iterable[str], ranges: Iterable[ipaddress.IPv4Network], *, multicast: bool = True,
                   listen_s: float = 3.5, repeats: int = 3, port: int = DISCOVERY_PORT, rate: int = 2000,
                   progress: Progress | None = None) -> list[Discovered]:
    """One discovery round: multicast and unicast at the same time; endpoint references unique."""
    discovery = Discovery()
    jobs = []
    if multicast:
        jobs.append(discovery.multicast(interfaces, listen_s, repeats))
    ranges = list(ranges)
    if ranges:
        jobs.append(discovery.unicast(ranges, port=port, rate=rate, listen_s=listen_s, progress=progress))
    await asyncio.gather(*jobs)
    return sorted(discovery.found.values(), key=lambda d: (d.host_port or ("", 0), d.endpoint_ref))
