"""WS-Discovery (2005/04, SOAP-over-UDP) for the fleet: ProbeMatch per camera, Hello and Bye.

Each camera words its messages in its own dialect (simulator.discovery_dialects) and answers from its
own address when it has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import random
import socket
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from simulator import discovery_dialects as dialects
from simulator.camera import Camera
from simulator.faults import Fault
from simulator.onvif_service import scopes_for
from simulator.soap import NS_ENV, NS_TDS, xa

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
ACTION_PROBE = f"{NS_WSD}/Probe"
# The spec's APP_MAX_DELAY: answers are spread so a thousand cameras do not hit a prober at once.
APP_MAX_DELAY_SECONDS = 0.5
_CAMERA_TYPES = {(NS_DN, "NetworkVideoTransmitter"), (NS_TDS, "Device")}
_MAX_PROBE_BYTES = 65_000
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # the Linux value; Python 3.11's socket module lacks the name

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Probe:
    """What a Probe asks for; empty ``types``/``scopes`` match every camera."""

    message_id: str
    types: frozenset[tuple[str, str]]
    scopes: tuple[str, ...]


def parse_probe(data: bytes) -> Probe | None:
    """A Probe from the wire, or None for anything else (other actions, junk, DTD tricks)."""
    if len(data) > _MAX_PROBE_BYTES or b"<!doctype" in data.lower() or b"<!entity" in data.lower():
        return None
    namespaces: dict[str, str] = {}
    try:
        # Types are QNames whose prefixes are declared anywhere in the message, so collect every declaration.
        for _event, (prefix, uri) in ET.iterparse(io.BytesIO(data), events=("start-ns",)):
            namespaces.setdefault(prefix, uri)
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    if root.tag != f"{{{NS_ENV}}}Envelope":
        return None
    action = (root.findtext(f"{{{NS_ENV}}}Header/{{{NS_WSA}}}Action") or "").strip()
    probe = root.find(f"{{{NS_ENV}}}Body/{{{NS_WSD}}}Probe")
    if action != ACTION_PROBE or probe is None:
        return None
    message_id = (root.findtext(f"{{{NS_ENV}}}Header/{{{NS_WSA}}}MessageID") or "").strip()
    types = set()
    for qname in (probe.findtext(f"{{{NS_WSD}}}Types") or "").split():
        prefix, _, local = qname.rpartition(":")
        types.add((namespaces.get(prefix, ""), local))
    scopes = tuple((probe.findtext(f"{{{NS_WSD}}}Scopes") or "").split())
    return Probe(message_id, frozenset(types), scopes)


def _scope_matches(wanted: str, offered: list[str]) -> bool:
    """RFC 3986 prefix matching by path segment, the WS-Discovery default."""
    wanted = wanted.rstrip("/")
    return any(scope == wanted or scope.startswith(wanted + "/") for scope in offered)


def probe_matches(probe: Probe, camera: Camera) -> bool:
    if probe.types and not probe.types <= _CAMERA_TYPES:
        return False
    offered = scopes_for(camera)
    return all(_scope_matches(scope, offered) for scope in probe.scopes)


class _Sequence:
    """AppSequence bookkeeping: one instance id per run, a message number per camera."""

    def __init__(self) -> None:
        self.instance_id = random.randint(1, 2**31)
        self._numbers: dict[str, int] = {}

    def header(self, camera: Camera) -> str:
        number = self._numbers.get(camera.camera_id, 0) + 1
        self._numbers[camera.camera_id] = number
        return f"<d:AppSequence InstanceId={xa(self.instance_id)} MessageNumber={xa(number)}/>"


class _OneCamera(asyncio.DatagramProtocol):
    """The socket on one camera's own address: unicast Probes to it are answered by that camera."""

    def __init__(self, responder: DiscoveryResponder, camera: Camera) -> None:
        self.responder = responder
        self.camera = camera

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.responder.answer(data, addr, [self.camera])


class DiscoveryResponder(asyncio.DatagramProtocol):
    """Answers Probes for every live camera and announces cameras as they come and go."""

    def __init__(self, cameras: Callable[[], list[Camera]], xaddr_for: Callable[[Camera], str],
                 host_for: Callable[[Camera], str] | None = None) -> None:
        self._cameras = cameras
        self._xaddr_for = xaddr_for
        self._host_for = host_for
        self._sequence = _Sequence()
        self._transport: asyncio.DatagramTransport | None = None
        self._multicast = False
        self._socket: socket.socket | None = None
        self._per_camera: list[asyncio.BaseTransport] = []
        self.port = 0

    async def start(self, host: str, port: int, multicast: bool) -> int:
        """Bind; with ``multicast`` join 239.255.255.250 on the interface holding ``host``."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if multicast:
            sock.bind(("", port))
            interface = socket.inet_aton("0.0.0.0" if host in ("", "0.0.0.0") else host)
            membership = struct.pack("4s4s", socket.inet_aton(MULTICAST_GROUP), interface)
            try:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, interface)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
                self._multicast = True
            except OSError as error:
                log.warning("multicast unavailable on %s (%s); answering unicast probes only", host, error)
        else:
            sock.bind((host, port))
        sock.setblocking(False)
        # asyncio's transport hides sendmsg, which the per-camera source address (IP_PKTINFO) needs.
        self._socket = sock
        await loop.create_datagram_endpoint(lambda: self, sock=sock)
        self.port = int(sock.getsockname()[1])
        await self._listen_per_camera()
        return self.port

    async def _listen_per_camera(self) -> None:
        """A socket on each camera's own address, so a unicast Probe to it gets that camera's answer only.

        Real cameras are one host each: a range scan sees one reply per address, not the fleet's.
        Multicast Probes still reach the shared socket (bound to the wildcard or the fleet's address).
        """
        if self._host_for is None:
            return
        loop = asyncio.get_running_loop()
        for camera in self._cameras():
            host = self._host_for(camera)
            if not host:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
            # Beside the shared socket on the wildcard address and the same port (multicast mode).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, self.port))
            except OSError as error:
                sock.close()
                log.warning("%s: no unicast discovery on %s:%d: %s", camera.camera_id, host, self.port, error)
                continue
            sock.setblocking(False)
            transport, _ = await loop.create_datagram_endpoint(functools.partial(_OneCamera, self, camera), sock=sock)
            self._per_camera.append(transport)

    @property
    def multicast(self) -> bool:
        return self._multicast

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            self._socket = None
        for transport in self._per_camera:
            transport.close()
        self._per_camera.clear()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.answer(data, addr, self._cameras())

    def answer(self, data: bytes, addr: tuple[str, int], cameras: list[Camera]) -> None:
        """Schedule a ProbeMatch from each of ``cameras`` that matches, after the spec's random delay."""
        probe = parse_probe(data)
        if probe is None:
            return
        loop = asyncio.get_running_loop()
        for camera in cameras:
            if not self._announces(camera) or not probe_matches(probe, camera):
                continue
            delay = random.uniform(0, APP_MAX_DELAY_SECONDS) + camera.delay_seconds()
            loop.call_later(delay, self._send_probe_match, camera, probe.message_id, addr)

    @staticmethod
    def _announces(camera: Camera) -> bool:
        return not (camera.has(Fault.OFFLINE) or camera.has(Fault.ONVIF_DEAD))

    def _announcement(self, camera: Camera) -> dialects.Announcement:
        return dialects.Announcement(camera.identity.endpoint_reference, scopes_for(camera), self._xaddr_for(camera),
                                     self._host_for(camera) if self._host_for else "")

    def _dialect(self, camera: Camera) -> str:
        return dialects.resolve(camera.config.discovery_dialect, camera.identity.index)

    def _send(self, camera: Camera, payload: bytes, addr: tuple[str, int]) -> None:
        """Send from the camera's own address, as a real camera's reply comes from it (else from ours)."""
        if self._transport is None:
            return
        sock = self._socket
        host = self._host_for(camera) if self._host_for else ""
        if sock is not None and host:
            pktinfo = struct.pack("@I4s4s", 0, socket.inet_aton(host), socket.inet_aton("0.0.0.0"))
            with contextlib.suppress(OSError):
                sock.sendmsg([payload], [(socket.IPPROTO_IP, _IP_PKTINFO, pktinfo)], 0, addr)
                return
        with contextlib.suppress(OSError):
            self._transport.sendto(payload, addr)

    def _send_probe_match(self, camera: Camera, relates_to: str, addr: tuple[str, int]) -> None:
        if self._transport is None or not self._announces(camera):
            return
        payload = dialects.probe_match(self._dialect(camera), self._announcement(camera), relates_to,
                                       self._sequence.header(camera))
        self._send(camera, payload, addr)

    def _announce(self, camera: Camera, hello: bool) -> None:
        if self._transport is None or not self._multicast:
            return
        build = dialects.hello if hello else dialects.bye
        payload = build(self._dialect(camera), self._announcement(camera), self._sequence.header(camera))
        self._send(camera, payload, (MULTICAST_GROUP, DISCOVERY_PORT))

    def hello(self, camera: Camera) -> None:
        if self._announces(camera):
            self._announce(camera, hello=True)

    def bye(self, camera: Camera) -> None:
        self._announce(camera, hello=False)

    def hello_all(self) -> None:
        loop = asyncio.get_running_loop()
        for camera in self._cameras():
            loop.call_later(random.uniform(0, APP_MAX_DELAY_SECONDS), self.hello, camera)

    def bye_all(self) -> None:
        for camera in self._cameras():
            if self._announces(camera):
                self.bye(camera)
