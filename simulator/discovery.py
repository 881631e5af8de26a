"""WS-Discovery (2005/04, SOAP-over-UDP) for the fleet: ProbeMatch per camera, Hello and Bye."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import random
import socket
import struct
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from simulator.camera import Camera
from simulator.faults import Fault
from simulator.onvif_service import scopes_for
from simulator.soap import NS_ENV, NS_TDS, x, xa

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
ACTION_PROBE = f"{NS_WSD}/Probe"
ACTION_PROBE_MATCHES = f"{NS_WSD}/ProbeMatches"
ACTION_HELLO = f"{NS_WSD}/Hello"
ACTION_BYE = f"{NS_WSD}/Bye"
_ANONYMOUS = f"{NS_WSA}/role/anonymous"
_TO_ALL = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
# The spec's APP_MAX_DELAY: answers are spread so a thousand cameras do not hit a prober at once.
APP_MAX_DELAY_SECONDS = 0.5
_CAMERA_TYPES = {(NS_DN, "NetworkVideoTransmitter"), (NS_TDS, "Device")}
_MAX_PROBE_BYTES = 65_000

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


def _envelope(action: str, extra_header: str, body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<env:Envelope xmlns:env="{NS_ENV}" xmlns:wsa="{NS_WSA}" xmlns:d="{NS_WSD}" '
        f'xmlns:dn="{NS_DN}" xmlns:tds="{NS_TDS}"><env:Header>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>{extra_header}"
        f"<wsa:Action>{action}</wsa:Action></env:Header><env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


class _Sequence:
    """AppSequence bookkeeping: one instance id per run, a message number per camera."""

    def __init__(self) -> None:
        self.instance_id = random.randint(1, 2**31)
        self._numbers: dict[str, int] = {}

    def header(self, camera: Camera) -> str:
        number = self._numbers.get(camera.camera_id, 0) + 1
        self._numbers[camera.camera_id] = number
        return f"<d:AppSequence InstanceId={xa(self.instance_id)} MessageNumber={xa(number)}/>"


class DiscoveryResponder(asyncio.DatagramProtocol):
    """Answers Probes for every live camera and announces cameras as they come and go."""

    def __init__(self, cameras: Callable[[], list[Camera]], xaddr_for: Callable[[Camera], str]) -> None:
        self._cameras = cameras
        self._xaddr_for = xaddr_for
        self._sequence = _Sequence()
        self._transport: asyncio.DatagramTransport | None = None
        self._multicast = False
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
        await loop.create_datagram_endpoint(lambda: self, sock=sock)
        self.port = int(sock.getsockname()[1])
        return self.port

    @property
    def multicast(self) -> bool:
        return self._multicast

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        probe = parse_probe(data)
        if probe is None:
            return
        loop = asyncio.get_running_loop()
        for camera in self._cameras():
            if not self._announces(camera) or not probe_matches(probe, camera):
                continue
            delay = random.uniform(0, APP_MAX_DELAY_SECONDS) + camera.delay_seconds()
            loop.call_later(delay, self._send_probe_match, camera, probe.message_id, addr)

    @staticmethod
    def _announces(camera: Camera) -> bool:
        return not (camera.has(Fault.OFFLINE) or camera.has(Fault.ONVIF_DEAD))

    def _endpoint_xml(self, camera: Camera, with_xaddrs: bool = True) -> str:
        xml = (f"<wsa:EndpointReference><wsa:Address>{x(camera.identity.endpoint_reference)}</wsa:Address>"
               "</wsa:EndpointReference><d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>"
               f"<d:Scopes>{x(' '.join(scopes_for(camera)))}</d:Scopes>")
        if with_xaddrs:
            xml += f"<d:XAddrs>{x(self._xaddr_for(camera))}</d:XAddrs>"
        return xml + "<d:MetadataVersion>1</d:MetadataVersion>"

    def _send_probe_match(self, camera: Camera, relates_to: str, addr: tuple[str, int]) -> None:
        if self._transport is None or not self._announces(camera):
            return
        header = (f"<wsa:RelatesTo>{x(relates_to)}</wsa:RelatesTo><wsa:To>{_ANONYMOUS}</wsa:To>"
                  + self._sequence.header(camera))
        body = f"<d:ProbeMatches><d:ProbeMatch>{self._endpoint_xml(camera)}</d:ProbeMatch></d:ProbeMatches>"
        with contextlib.suppress(OSError):
            self._transport.sendto(_envelope(ACTION_PROBE_MATCHES, header, body), addr)

    def _announce(self, camera: Camera, action: str) -> None:
        if self._transport is None or not self._multicast:
            return
        header = f"<wsa:To>{_TO_ALL}</wsa:To>" + self._sequence.header(camera)
        element = "Hello" if action == ACTION_HELLO else "Bye"
        body = f"<d:{element}>{self._endpoint_xml(camera, with_xaddrs=element == 'Hello')}</d:{element}>"
        with contextlib.suppress(OSError):
            self._transport.sendto(_envelope(action, header, body), (MULTICAST_GROUP, DISCOVERY_PORT))

    def hello(self, camera: Camera) -> None:
        if self._announces(camera):
            self._announce(camera, ACTION_HELLO)

    def bye(self, camera: Camera) -> None:
        self._announce(camera, ACTION_BYE)

    def hello_all(self) -> None:
        loop = asyncio.get_running_loop()
        for camera in self._cameras():
            loop.call_later(random.uniform(0, APP_MAX_DELAY_SECONDS), self.hello, camera)

    def bye_all(self) -> None:
        for camera in self._cameras():
            if self._announces(camera):
                self.bye(camera)
