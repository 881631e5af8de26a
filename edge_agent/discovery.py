"""WS-Discovery on asyncio UDP: multicast Probe per interface, unicast Probe across CIDR ranges.

Multicast does not cross routed VLANs, so cameras on other subnets are probed one address at a
time (``discovery.ranges``, each address once however often ranges repeat or overlap); cameras that
answer neither are listed statically in agent.toml.

Contract of one round (``discover``): every datagram received is counted, by source address, as
parsed or dropped with a reason (edge_agent.discovery_parse says what is accepted); devices are
deduplicated by endpoint reference here, by serial and MAC once ONVIF has told us those (see
edge_agent.inventory). A device whose advertised address the agent cannot use (``localhost``, a NATed
or stale address) is stored with the address it answered from, as the ONVIF client does for its
service addresses; each such address is checked once per round.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import psutil

from edge_agent.addresses import host_port_of, ipv4, is_local_only, tcp_reachable
from edge_agent.discovery_parse import Announcement, Discovered, parse_reply, preferred_xaddr
from shared.messages import DiscoveryMethod

__all__ = ["Discovered", "DiscoveryRound", "discover", "probe_message", "unique_hosts"]

log = logging.getLogger(__name__)

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
# Dropped replies named in the service log per round; the rest are counted in the round's summary line.
DROP_LOG_LIMIT = 20
MAX_DROPS_KEPT = 1000  # (source, reason) pairs kept per round for naming; all are counted
MAX_ROUND_BYTES = 64 << 20  # replies kept for parsing per round; a thousand cameras send ~10 MiB
RECEIVE_BUFFER_BYTES = 4 << 20  # asked for; the kernel caps it at net.core.rmem_max
UNICAST_PASSES = 2
_REACHABILITY_TIMEOUT_S = 1.5
_REACHABILITY_CHECKS = 32

Progress = Callable[[int, int], None]


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


@dataclass(slots=True)
class DiscoveryRound:
    """What one round heard: devices plus every reply counted, so nothing is dropped silently."""

    found: dict[str, Discovered] = field(default_factory=dict)
    replies: int = 0
    parsed: int = 0
    sources: set[str] = field(default_factory=set)
    dropped: int = 0
    drops: list[tuple[str, str]] = field(default_factory=list)  # (source address, reason), the first MAX_DROPS_KEPT
    # Received but not yet parsed: parsing waits until the listening ends, so a burst of a thousand
    # replies is read off the socket before the kernel's receive buffer overflows.
    _pending: list[tuple[bytes, str, DiscoveryMethod, bool]] = field(default_factory=list)
    _pending_bytes: int = 0

    @property
    def devices(self) -> list[Discovered]:
        return sorted(self.found.values(), key=lambda d: (d.host_port or ("", 0), d.endpoint_ref))

    def summary(self) -> str:
        return (f"{self.replies} replies from {len(self.sources)} addresses: "
                f"{self.parsed} parsed, {self.dropped} dropped")

    def collect(self, data: bytes, source: str, method: DiscoveryMethod, overheard: bool = False) -> None:
        """Take a datagram off the socket, parsed by ``parse_collected``.

        A reply to our Probe is counted now. One ``overheard`` on the discovery group (a Hello, a Bye,
        a ProbeMatch some firmware sends to port 3702) is counted once parsed: other clients' Probes
        and our own looping back are requests, not replies, and are not counted at all.
        """
        if self._pending_bytes + len(data) > MAX_ROUND_BYTES:
            self._count(source)
            self._drop(source, f"over the round's {MAX_ROUND_BYTES >> 20} MiB of replies")
            return
        if not overheard:
            self._count(source)
        self._pending.append((data, source, method, overheard))
        self._pending_bytes += len(data)

    def _drop(self, source: str, reason: str) -> None:
        self.dropped += 1
        if len(self.drops) < MAX_DROPS_KEPT:
            self.drops.append((source, reason))

    def _count(self, source: str) -> None:
        self.replies += 1
        self.sources.add(source)

    def parse_collected(self) -> None:
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        for data, source, method, overheard in pending:
            self._parse(data, source, method, overheard)

    def _parse(self, data: bytes, source: str, method: DiscoveryMethod, overheard: bool) -> None:
        reply = parse_reply(data, source)
        if overheard:
            if reply.request:
                return
            self._count(source)
        if reply.dropped:
            self._drop(source, reply.dropped)
            return
        self.parsed += 1
        for device in reply.devices:
            device.method = method
            if reply.kind is Announcement.BYE:
                self.found.pop(device.endpoint_ref, None)
                continue
            existing = self.found.get(device.endpoint_ref)
            if existing is None or (existing.method is DiscoveryMethod.UNICAST
                                    and method is DiscoveryMethod.MULTICAST):
                self.found[device.endpoint_ref] = device

    def log_drops(self, logger: logging.Logger, limit: int = DROP_LOG_LIMIT) -> None:
        """One line per dropped reply, at most ``limit``; repeats (same source, same reason) are named once."""
        shown = list(dict.fromkeys(self.drops))[:limit]
        for source, reason in shown:
            logger.info("discovery: dropped reply from %s: %s", source, reason)
        named = set(shown)
        rest = self.dropped - sum(drop in named for drop in self.drops)
        if rest:
            logger.info("discovery: %d more dropped replies not named", rest)


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, round_: DiscoveryRound, method: DiscoveryMethod, overheard: bool = False) -> None:
        self.round = round_
        self.method = method
        self.overheard = overheard

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.round.collect(data, str(addr[0]), self.method, self.overheard)

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


def unique_hosts(ranges: Iterable[ipaddress.IPv4Network]) -> list[str]:
    """Every host address of ``ranges`` once, in order, however the ranges repeat or overlap."""
    hosts: dict[str, None] = {}
    for network in ranges:
        for host in network.hosts() if network.num_addresses > 1 else [network.network_address]:
            hosts[str(host)] = None
    return list(hosts)


async def _multicast(round_: DiscoveryRound, interfaces: Iterable[str], listen_s: float, repeats: int) -> None:
    """Probe 239.255.255.250:3702 from each interface, repeating while listening ``listen_s``.

    Announcements overheard on the group meanwhile count too: a camera booting during the round says
    Hello, one leaving says Bye (taken back out of the round).
    """
    loop = asyncio.get_running_loop()
    transports = []
    addresses = interface_addresses(interfaces)
    for name, address in addresses.items():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.bind((address, 0))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, struct.pack("b", 1))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        except OSError as error:
            log.warning("cannot probe on %s (%s): %s", name, address, error)
            sock.close()
            continue
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Listener(round_, DiscoveryMethod.MULTICAST), sock=sock)
        transports.append(transport)
    if not transports:
        return
    group = _group_socket(list(addresses.values()))
    overhearing = None
    if group is not None:
        overhearing, _ = await loop.create_datagram_endpoint(
            lambda: _Listener(round_, DiscoveryMethod.MULTICAST, overheard=True), sock=group)
    try:
        gap = listen_s / repeats
        deadline = time.monotonic() + listen_s
        for _ in range(repeats):
            # Devices answer after a random delay up to APP_MAX_DELAY and UDP drops datagrams:
            # probe again while listening instead of trusting one shot.
            payload = probe_message(f"uuid:{uuid.uuid4()}")
            for transport in transports:
                transport.sendto(payload, (MULTICAST_GROUP, DISCOVERY_PORT))
            await asyncio.sleep(min(gap, max(0.0, deadline - time.monotonic())))
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
    finally:
        for transport in transports:
            transport.close()
        if overhearing is not None:
            overhearing.close()


def _group_socket(addresses: list[str]) -> socket.socket | None:
    """A socket on the discovery group's port, to overhear Hello and Bye announcements while the round lasts.

    Some firmware also sends its ProbeMatch there instead of to the Probe's source port. Shared with
    any other WS-Discovery service on the box (SO_REUSEADDR); when the port cannot be had, the round
    goes on without it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("", DISCOVERY_PORT))
        for address in addresses:
            membership = struct.pack("4s4s", socket.inet_aton(MULTICAST_GROUP), socket.inet_aton(address))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    except OSError as error:
        log.debug("not listening for announcements on port %d: %s", DISCOVERY_PORT, error)
        sock.close()
        return None
    sock.setblocking(False)
    return sock


async def _unicast(round_: DiscoveryRound, ranges: Iterable[ipaddress.IPv4Network], *, port: int, rate: int,
                   listen_s: float, progress: Progress | None) -> None:
    """Probe every host address of ``ranges`` directly, then again those still silent, listening ``listen_s``.

    Like the multicast repeats, the second pass recovers Probes and replies UDP lost; it skips the
    addresses that already answered. Each pass is followed by half the listening time.
    """
    hosts = unique_hosts(ranges)
    if not hosts:
        return
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    sock.bind(("0.0.0.0", 0))
    transport, _ = await loop.create_datagram_endpoint(lambda: _Listener(round_, DiscoveryMethod.UNICAST), sock=sock)
    try:
        interval = 1.0 / rate
        gap = listen_s / UNICAST_PASSES
        for pass_number in range(UNICAST_PASSES):
            started = time.monotonic()
            payload = probe_message(f"uuid:{uuid.uuid4()}")
            targets = hosts if pass_number == 0 else [h for h in hosts if h not in round_.sources]
            for sent, host in enumerate(targets, 1):
                try:
                    transport.sendto(payload, (host, port))
                except OSError as error:  # unroutable address: not a camera
                    log.debug("probe to %s failed: %s", host, error)
                if progress is not None and pass_number == 0 and (sent % 64 == 0 or sent == len(targets)):
                    progress(sent, len(targets))
                if sent % 32 == 0:
                    await asyncio.sleep(interval * 32)
            await asyncio.sleep(max(0.0, gap - (time.monotonic() - started)))
    finally:
        transport.close()


async def _tcp_reachable(host: str, port: int) -> bool:
    return await tcp_reachable(host, port, timeout=_REACHABILITY_TIMEOUT_S)


async def settle_addresses(devices: list[Discovered],
                           reachable: Callable[[str, int], Awaitable[bool]] = _tcp_reachable) -> None:
    """Give each device an address the agent can use: its preferred XAddr, else the address it replied from.

    An XAddr naming this box (``localhost``, 127/8) or a host name is replaced by the replying address
    without a check; one on another IPv4 address than the source (NAT, a stale static IP) is kept when it
    accepts a TCP connection. Each distinct address and port is checked once, however many devices
    advertise it.
    """
    checks: dict[tuple[str, int], asyncio.Task[bool]] = {}
    slots = asyncio.Semaphore(_REACHABILITY_CHECKS)

    async def check(where: tuple[str, int]) -> bool:
        async with slots:
            return await reachable(*where)

    pending: list[tuple[Discovered, tuple[str, int]]] = []
    for device in devices:
        xaddr = preferred_xaddr(device.xaddrs, device.source)
        where = host_port_of(xaddr) if xaddr else None
        if where is None or not device.source or where[0] == device.source:
            continue
        if is_local_only(where[0]):
            _fall_back(device, xaddr, where, "names this box")
            continue
        if ipv4(where[0]) is None:
            # A host name (cam.local, a vendor default) needs DNS the LAN may not have, credentials are
            # chosen by IPv4 address ([[networks]] cidr): the device is where it answered from.
            _fall_back(device, xaddr, where, "is an IPv6 address" if ":" in where[0] else "is a host name")
            continue
        if where not in checks:
            checks[where] = asyncio.ensure_future(check(where))
        pending.append((device, where))
    for device, where in pending:
        if not await checks[where]:
            _fall_back(device, preferred_xaddr(device.xaddrs, device.source), where, "is unreachable")


def _fall_back(device: Discovered, xaddr: str, where: tuple[str, int], why: str) -> None:
    device.address = (device.source, where[1])
    log.info("discovery: %s advertises %s, which %s; using %s:%d", device.source, xaddr[:120], why,
             device.source, where[1])


async def discover(interfaces: Iterable[str], ranges: Iterable[ipaddress.IPv4Network], *, multicast: bool = True,
                   listen_s: float = 3.5, repeats: int = 3, port: int = DISCOVERY_PORT, rate: int = 2000,
                   progress: Progress | None = None) -> DiscoveryRound:
    """One discovery round: multicast and unicast at the same time; endpoint references unique."""
    round_ = DiscoveryRound()
    jobs = []
    if multicast:
        jobs.append(_multicast(round_, interfaces, listen_s, repeats))
    ranges = list(ranges)
    if ranges:
        jobs.append(_unicast(round_, ranges, port=port, rate=rate, listen_s=listen_s, progress=progress))
    await asyncio.gather(*jobs)
    round_.parse_collected()
    await settle_addresses(list(round_.found.values()))
    return round_
