"""How each simulated camera words its WS-Discovery messages: the reply shapes real firmware sends.

A camera's ``discovery_dialect`` (scenario key) picks one; ``mixed`` gives camera N the N-th dialect
in turn, so a fleet exercises all of them. The shapes come from the replies in
tests/fixtures/discovery/ (and the issue trackers named there):

- ``standard``: SOAP 1.2, WS-Addressing 2004/08, ProbeMatches wrapper, every header (the spec's own).
- ``gsoap``: gSOAP firmware (Xiongmai-style white label): SOAP-ENV prefix, dozens of unused namespace
  declarations including WS-Addressing 2005/08, RelatesTo as ``uuid:`` without ``urn:``.
- ``no_wrapper``: the ProbeMatch directly in the Body, no ProbeMatches element.
- ``wsa2005``: the EndpointReference in WS-Addressing 2005/08.
- ``epr_discovery_ns``: the EndpointReference in the discovery namespace itself.
- ``soap11``: a SOAP 1.1 envelope.
- ``bare``: no Header at all (no MessageID, RelatesTo, Action) and neither Types nor Scopes.
- ``undeclared_prefix``: uses the SOAP-ENV prefix without declaring it, as old firmware does.
- ``multi_xaddr``: an IPv6 link-local and an IPv4 link-local XAddr before the real one.
- ``localhost_xaddr``: advertises ``http://localhost:<port>/...`` while answering from its LAN address.
- ``nat_xaddr``: advertises an address on its LAN that nobody holds (.250), as a NATed or re-addressed
  camera does; the service answers only where the reply came from.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from simulator.soap import NS_ENV, NS_TDS
from simulator.soap import x as escape

NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSA5 = "http://www.w3.org/2005/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
ANONYMOUS = f"{NS_WSA}/role/anonymous"
TO_ALL = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"

DIALECTS = ("standard", "gsoap", "no_wrapper", "wsa2005", "epr_discovery_ns", "soap11", "bare",
            "undeclared_prefix", "multi_xaddr", "localhost_xaddr", "nat_xaddr")
MIXED = "mixed"

# Declarations gSOAP firmware puts on every envelope whether used or not (abridged from the corpus).
_GSOAP_NOISE = (
    'xmlns:SOAP-ENC="http://www.w3.org/2003/05/soap-encoding" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    f'xmlns:wsa5="{NS_WSA5}" xmlns:xop="http://www.w3.org/2004/08/xop/include" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
    'xmlns:dndl="http://www.onvif.org/ver10/network/wsdl/DiscoveryLookupBinding" '
    'xmlns:dnrd="http://www.onvif.org/ver10/network/wsdl/RemoteDiscoveryBinding" '
    'xmlns:ter="http://www.onvif.org/ver10/error" xmlns:tns1="http://www.onvif.org/ver10/topics"'
)


def resolve(name: str, index: int) -> str:
    """The dialect a camera speaks: its own, or the index-th one for ``mixed``."""
    return DIALECTS[(index - 1) % len(DIALECTS)] if name == MIXED else name


@dataclass(frozen=True, slots=True)
class Announcement:
    """Everything a message says about one camera, in wire form."""

    endpoint_reference: str
    scopes: list[str]
    xaddr: str
    host: str  # the camera's own address, where its reply comes from


def advertised_xaddrs(dialect: str, announcement: Announcement) -> str:
    """The XAddrs text the dialect puts in a ProbeMatch or Hello."""
    real = announcement.xaddr
    parts = urlsplit(real)
    port = f":{parts.port}" if parts.port else ""
    if dialect == "multi_xaddr":
        link_local = urlunsplit(parts._replace(netloc=f"169.254.10.7{port}"))
        return f"http://[fe80::c62f:90ff:fe12:3456]{port}{parts.path} {link_local} {real}"
    if dialect == "localhost_xaddr":
        return urlunsplit(parts._replace(netloc=f"localhost{port}"))
    if dialect == "nat_xaddr":
        try:
            nowhere = str(ipaddress.IPv4Interface(f"{announcement.host}/24").network.network_address + 250)
        except ValueError:
            return real
        return urlunsplit(parts._replace(netloc=f"{nowhere}{port}"))
    return real


def _envelope(dialect: str, header: str, body: str) -> bytes:
    if dialect == "soap11":
        env_ns, prefix = NS_SOAP11, "env"
    elif dialect in ("gsoap", "undeclared_prefix"):
        env_ns, prefix = NS_ENV, "SOAP-ENV"
    else:
        env_ns, prefix = NS_ENV, "env"
    declare_env = "" if dialect == "undeclared_prefix" else f'xmlns:{prefix}="{env_ns}" '
    noise = _GSOAP_NOISE + " " if dialect == "gsoap" else ""
    wsd = "wsdd" if dialect == "gsoap" else "d"
    head = "" if dialect == "bare" else f"<{prefix}:Header>{header}</{prefix}:Header>"
    text = (f'<?xml version="1.0" encoding="UTF-8"?><{prefix}:Envelope {declare_env}{noise}'
            f'xmlns:wsa="{NS_WSA}" xmlns:{wsd}="{NS_WSD}" xmlns:dn="{NS_DN}" xmlns:tds="{NS_TDS}">'
            f"{head}<{prefix}:Body>{body}</{prefix}:Body></{prefix}:Envelope>")
    return text.replace("<d:", f"<{wsd}:").replace("</d:", f"</{wsd}:").encode()


def _endpoint(dialect: str, announcement: Announcement, with_xaddrs: bool) -> str:
    address = escape(announcement.endpoint_reference)
    if dialect == "wsa2005":
        xml = (f'<wsa5:EndpointReference xmlns:wsa5="{NS_WSA5}"><wsa5:Address>{address}</wsa5:Address>'
               "</wsa5:EndpointReference>")
    elif dialect == "epr_discovery_ns":
        xml = f"<d:EndpointReference><d:Address>{address}</d:Address></d:EndpointReference>"
    else:
        xml = f"<wsa:EndpointReference><wsa:Address>{address}</wsa:Address></wsa:EndpointReference>"
    if dialect != "bare":
        xml += (f"<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>"
                f"<d:Scopes>{escape(' '.join(announcement.scopes))}</d:Scopes>")
    if with_xaddrs:
        xml += f"<d:XAddrs>{escape(advertised_xaddrs(dialect, announcement))}</d:XAddrs>"
    return xml + ("<d:MetadataVersion>10</d:MetadataVersion>" if dialect == "gsoap"
                  else "<d:MetadataVersion>1</d:MetadataVersion>")


def _header(dialect: str, action: str, extra: str) -> str:
    message_id = f"uuid:{uuid.uuid4()}" if dialect == "gsoap" else f"urn:uuid:{uuid.uuid4()}"
    return f"<wsa:MessageID>{message_id}</wsa:MessageID>{extra}<wsa:Action>{action}</wsa:Action>"


def probe_match(dialect: str, announcement: Announcement, relates_to: str, sequence: str) -> bytes:
    if dialect == "gsoap":
        relates_to = relates_to.removeprefix("urn:")
    header = _header(dialect, f"{NS_WSD}/ProbeMatches",
                     f"<wsa:RelatesTo>{escape(relates_to)}</wsa:RelatesTo><wsa:To>{ANONYMOUS}</wsa:To>{sequence}")
    match = f"<d:ProbeMatch>{_endpoint(dialect, announcement, True)}</d:ProbeMatch>"
    body = match if dialect == "no_wrapper" else f"<d:ProbeMatches>{match}</d:ProbeMatches>"
    return _envelope(dialect, header, body)


def hello(dialect: str, announcement: Announcement, sequence: str) -> bytes:
    header = _header(dialect, f"{NS_WSD}/Hello", f"<wsa:To>{TO_ALL}</wsa:To>{sequence}")
    return _envelope(dialect, header, f"<d:Hello>{_endpoint(dialect, announcement, True)}</d:Hello>")


def bye(dialect: str, announcement: Announcement, sequence: str) -> bytes:
    header = _header(dialect, f"{NS_WSD}/Bye", f"<wsa:To>{TO_ALL}</wsa:To>{sequence}")
    return _envelope(dialect, header, f"<d:Bye>{_endpoint(dialect, announcement, False)}</d:Bye>")
