"""WS-Discovery replies as the field sends them: one datagram in, devices or the reason it was dropped out.

Tolerant like the clients that find the most cameras (ONVIF Device Manager, python-wsdiscovery,
agsh/onvif, onvif-zeep users): elements are matched by local name, so WS-Addressing 2004/08 or
2005/08, the discovery namespace itself, SOAP 1.1 or 1.2 and any prefix all work; a ProbeMatch may come
with or without its ProbeMatches wrapper; MessageID, RelatesTo, Types and Scopes may be missing or odd;
prefixes some firmware forgets to declare are declared for it. Hello and Bye announcements parse too.

What is refused is what is not a reply at all: broken XML, a root other than a SOAP Envelope, a
fault, a request (another client's Probe), a device announcing only non-ONVIF types (Windows hosts,
printers), a match with neither endpoint nor address. Each refusal carries a reason a technician can
read; nothing is dropped silently (see edge_agent.discovery for the counting).
"""

from __future__ import annotations

import io
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET

from edge_agent.addresses import host_port_of, ipv4, is_local_only, with_host
from edge_agent.xml_repair import UNDECLARED, declare_missing_prefixes
from shared.messages import DiscoveryMethod

MAX_REPLY_BYTES = 65_507
_MAX_XADDRS = 8
_MAX_SCOPES = 32
_MAX_MATCHES = 16
_ONVIF_DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
# ONVIF device types by local name; "Device" only counts in the ONVIF namespace (DPWS hosts say wsdp:Device).
_ONVIF_TYPES = {"NetworkVideoTransmitter", "NetworkVideoDisplay", "NetworkVideoStorage", "NetworkVideoAnalytics"}
_REQUESTS = {"Probe", "Resolve"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


class Announcement(Enum):
    """What a parsed datagram says about its devices."""

    MATCH = "match"  # ProbeMatch / ResolveMatch: here I am, answering you
    HELLO = "hello"  # joined the network
    BYE = "bye"  # leaving the network


@dataclass(slots=True)
class Discovered:
    """One device that answered: endpoint reference, service addresses and scopes, as sent."""

    endpoint_ref: str
    xaddrs: list[str]
    scopes: list[str] = field(default_factory=list)
    source: str = ""
    method: DiscoveryMethod = DiscoveryMethod.MULTICAST
    # Set by edge_agent.discovery when the advertised address proved unusable (NAT, localhost, stale).
    address: tuple[str, int] | None = None

    @property
    def host_port(self) -> tuple[str, int] | None:
        """Where to reach the device's ONVIF service: the settled address, else the preferred XAddr."""
        if self.address is not None:
            return self.address
        xaddr = preferred_xaddr(self.xaddrs, self.source)
        return host_port_of(xaddr) if xaddr else None

    @property
    def service_url(self) -> str:
        """The device service URL to talk ONVIF to: the preferred XAddr (its scheme and path, which need not
        be ``http``/``/onvif/device_service``) at the settled address."""
        xaddr = preferred_xaddr(self.xaddrs, self.source)
        if not xaddr:
            return ""
        return with_host(xaddr, *self.address) if self.address is not None else xaddr

    def scope(self, kind: str) -> str:
        """The value of ``onvif://www.onvif.org/<kind>/...``; keys compared case-insensitively (Name, Model)."""
        for scope in self.scopes:
            if not scope.lower().startswith("onvif://www.onvif.org/"):
                continue
            key, _, value = scope[len("onvif://www.onvif.org/"):].partition("/")
            if key.lower() == kind.lower() and value:
                return printable(unquote(value))
        return ""


@dataclass(slots=True)
class ParsedReply:
    """One datagram's outcome: devices (maybe none, for a Bye) or the reason it was dropped."""

    kind: Announcement | None = None
    devices: list[Discovered] = field(default_factory=list)
    dropped: str = ""
    request: bool = False  # a Probe or Resolve: another client asking (or our own Probe looping back)


def printable(text: str) -> str:
    """``text`` without control characters: what devices send ends up in logs and on terminals."""
    return _CONTROL.sub(" ", text)


def preferred_xaddr(xaddrs: list[str], source: str) -> str:
    """The XAddr to try first: on the replying address, then a usable IPv4 one, then a host name.

    IPv6 link-local and IPv4 link-local (169.254/16) XAddrs, which cameras list beside their real
    address, come last; so does a loopback one (handled by the fallback in edge_agent.discovery).
    """

    def rank(xaddr: str) -> int:
        where = host_port_of(xaddr)
        if where is None:
            return 9
        host = where[0]
        if host == source:
            return 0
        address = ipv4(host)
        if address is not None and not (address.is_link_local or address.is_loopback or address.is_unspecified
                                        or address.is_multicast):
            return 1
        if address is None and ":" not in host and not is_local_only(host):
            return 2  # a host name
        return 3

    usable = [x for x in xaddrs if host_port_of(x) is not None]
    return min(usable, key=rank) if usable else ""


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _child(element: Element, name: str) -> Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _text(element: Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _parse_xml(data: bytes) -> tuple[Element | None, dict[str, str], str]:
    """Root element and prefix declarations, or the parser's complaint."""
    if b"<!doctype" in data[:2048].lower() or b"<!entity" in data.lower():
        return None, {}, "XML with a DTD (refused)"
    error = ""
    for attempt in (data, declare_missing_prefixes(data)):
        try:
            root: Element = SafeET.fromstring(attempt)
            namespaces: dict[str, str] = {}
            for _event, (prefix, uri) in ET.iterparse(io.BytesIO(attempt), events=("start-ns",)):
                namespaces.setdefault(prefix, uri)
            return root, namespaces, ""
        except Exception as exc:  # defusedxml and expat raise several types for broken or hostile XML
            error = error or str(exc).split("\n")[0][:80]
    return None, {}, f"not XML ({error})"


def _fault_reason(fault: Element) -> str:
    values = [_text(e) for e in fault.iter() if _local(e.tag) in ("Value", "faultcode", "Text", "faultstring")]
    return "; ".join(v for v in values if v)[:160] or "no detail"


def _is_onvif(types: list[str], namespaces: dict[str, str]) -> bool:
    for qname in types:
        prefix, _, local = qname.rpartition(":")
        if local in _ONVIF_TYPES:
            return True
        namespace = namespaces.get(prefix, _ONVIF_DEVICE_NS)
        if local == "Device" and (namespace == _ONVIF_DEVICE_NS or namespace.startswith(UNDECLARED)):
            return True
    return False


def _xaddrs(text: str) -> list[str]:
    """XAddrs as URLs; a bare ``host/path`` (seen in the field) is read as http."""
    result = []
    for token in text.split()[:_MAX_XADDRS]:
        bare = "://" not in token
        url = f"http://{token}" if bare else token
        where = host_port_of(url)
        if where is None or urlsplit(url).scheme.lower() not in ("http", "https"):
            continue
        if bare and ("/" not in token or not ("." in where[0] or where[0] == "localhost")):
            continue  # a lone word is not an address
        result.append(url[:512])
    return result


def _match(element: Element, kind: Announcement, namespaces: dict[str, str], source: str) -> Discovered | str:
    """One ProbeMatch/Hello/Bye element as a device, or why it cannot be one."""
    endpoint = next((e for e in element.iter() if _local(e.tag) == "EndpointReference"), None)
    address = _text(_child(endpoint, "Address")) if endpoint is not None else ""
    types = _text(_child(element, "Types")).split()
    scopes = _text(_child(element, "Scopes")).split()[:_MAX_SCOPES]
    xaddrs = _xaddrs(_text(_child(element, "XAddrs")))
    if types and not _is_onvif(types, namespaces):
        return f"not an ONVIF device (Types: {' '.join(types)[:80]})"
    if kind is Announcement.BYE:
        if not address:
            return "Bye without an endpoint reference"
        return Discovered(address[:256], [], scopes, source)
    if not xaddrs and types and source:
        # ONVIF says the device service lives at /onvif/device_service; ODM resolves, we ask where it answered.
        xaddrs = [f"http://{source}/onvif/device_service"]
    if not xaddrs:
        return "no XAddrs and no ONVIF type" if not types else "no usable XAddrs"
    if not address:
        # No endpoint reference (seen in minimal firmware): a stable one from the service address.
        address = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, xaddrs[0])}"
    return Discovered(address[:256], xaddrs, scopes, source)


_KINDS = {"ProbeMatch": Announcement.MATCH, "ResolveMatch": Announcement.MATCH,
          "Hello": Announcement.HELLO, "Bye": Announcement.BYE}


def parse_reply(data: bytes, source: str = "") -> ParsedReply:
    """The devices one WS-Discovery datagram describes, or why it was dropped. Never raises."""
    reply = _parse(data, source)
    reply.dropped = printable(reply.dropped)
    return reply


def _parse(data: bytes, source: str) -> ParsedReply:
    if len(data) > MAX_REPLY_BYTES:
        return ParsedReply(dropped=f"larger than {MAX_REPLY_BYTES} bytes")
    if not data.strip():
        return ParsedReply(dropped="empty datagram")
    root, namespaces, error = _parse_xml(data)
    if root is None:
        return ParsedReply(dropped=error)
    if _local(root.tag) != "Envelope":
        return ParsedReply(dropped=f"not a SOAP envelope (root <{_local(root.tag)[:40]}>)")
    body = _child(root, "Body")
    if body is None:
        return ParsedReply(dropped="SOAP envelope without a Body")
    fault = next((e for e in body.iter() if _local(e.tag) == "Fault"), None)
    if fault is not None:
        return ParsedReply(dropped=f"SOAP fault: {_fault_reason(fault)}")
    elements = [e for e in body.iter() if _local(e.tag) in _KINDS][:_MAX_MATCHES]
    if not elements:
        first = next(iter(body), None)
        what = _local(first.tag) if first is not None else "nothing"
        if what in _REQUESTS:
            return ParsedReply(dropped=f"a {what} from another client, not a reply", request=True)
        return ParsedReply(dropped=f"not a discovery reply (Body holds <{what[:40]}>)")
    kind = _KINDS[_local(elements[0].tag)]
    reply = ParsedReply(kind=kind)
    reasons = []
    for element in elements:
        outcome = _match(element, _KINDS[_local(element.tag)], namespaces, source)
        if isinstance(outcome, Discovered):
            reply.devices.append(outcome)
        else:
            reasons.append(outcome)
    if not reply.devices:
        reply.dropped = "; ".join(dict.fromkeys(reasons))[:200]
    return reply
