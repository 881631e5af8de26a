"""The discovery parser against real replies from the field (tests/fixtures/discovery) and the shapes
tolerant clients accept, plus what must still be refused: every refusal names its reason."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from edge_agent.discovery_parse import Announcement, parse_reply, preferred_xaddr

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "discovery"
REPLIES = sorted(CORPUS.glob("*.xml"))


def sidecar(reply: Path) -> dict[str, object]:
    return tomllib.loads(reply.with_suffix(".toml").read_text())


def test_the_corpus_is_there_and_every_reply_names_its_source() -> None:
    assert len(REPLIES) >= 8
    for reply in REPLIES:
        meta = sidecar(reply)
        assert str(meta["source"]).startswith("https://"), reply.name
        assert "dropped" in meta or "endpoint_ref" in meta, f"{reply.name}: say what the parser must make of it"


@pytest.mark.parametrize("reply", REPLIES, ids=[r.stem for r in REPLIES])
def test_parser_against_every_real_reply(reply: Path) -> None:
    meta = sidecar(reply)
    parsed = parse_reply(reply.read_bytes(), str(meta["source_address"]))
    if "dropped" in meta:
        assert parsed.devices == []
        assert str(meta["dropped"]) in parsed.dropped
        return
    assert parsed.dropped == ""
    [device] = parsed.devices
    assert device.endpoint_ref == meta["endpoint_ref"]
    assert device.host_port == (meta["host"], meta["port"])
    assert device.scope("name") == meta.get("name", "")
    assert device.scope("hardware") == meta.get("hardware", "")


NS = ('xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
      'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"')
EPR = "<a:EndpointReference><a:Address>urn:uuid:cam-1</a:Address></a:EndpointReference>"
XADDR = "<d:XAddrs>http://10.1.2.3:8000/onvif/device_service</d:XAddrs>"


def envelope(body: str, ns: str = NS, header: str = "") -> bytes:
    return f'<s:Envelope {ns}><s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>'.encode()


@pytest.mark.parametrize("body, ns", [
    (f"<d:ProbeMatches><d:ProbeMatch>{EPR}{XADDR}</d:ProbeMatch></d:ProbeMatches>", NS),
    (f"<d:ProbeMatch>{EPR}{XADDR}</d:ProbeMatch>", NS),  # no wrapper
    # WS-Addressing 2005/08, and the endpoint reference in the discovery namespace itself
    ('<d:ProbeMatch><w:EndpointReference xmlns:w="http://www.w3.org/2005/08/addressing"><w:Address>urn:uuid:cam-1'
     f"</w:Address></w:EndpointReference>{XADDR}</d:ProbeMatch>", NS),
    (f"<d:ProbeMatch><d:EndpointReference><d:Address>urn:uuid:cam-1</d:Address></d:EndpointReference>{XADDR}"
     "</d:ProbeMatch>", NS),
    # SOAP 1.1
    (f"<d:ProbeMatches><d:ProbeMatch>{EPR}{XADDR}</d:ProbeMatch></d:ProbeMatches>",
     NS.replace("http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/")),
    # the envelope prefix never declared (old gSOAP firmware)
    (f"<d:ProbeMatches><d:ProbeMatch>{EPR}{XADDR}</d:ProbeMatch></d:ProbeMatches>",
     NS.replace('xmlns:s="http://www.w3.org/2003/05/soap-envelope" ', "")),
    # a ResolveMatch has the same shape
    (f"<d:ResolveMatches><d:ResolveMatch>{EPR}{XADDR}</d:ResolveMatch></d:ResolveMatches>", NS),
])
def test_reply_shapes_tolerant_clients_accept(body: str, ns: str) -> None:
    parsed = parse_reply(envelope(body, ns), "10.1.2.3")
    assert parsed.dropped == ""
    [device] = parsed.devices
    assert (device.endpoint_ref, device.host_port) == ("urn:uuid:cam-1", ("10.1.2.3", 8000))


def test_missing_header_types_scopes_and_endpoint_reference_still_make_a_device() -> None:
    parsed = parse_reply(envelope(f"<d:ProbeMatch>{XADDR}</d:ProbeMatch>"), "10.1.2.3")
    [device] = parsed.devices
    assert device.endpoint_ref.startswith("urn:uuid:"), "a stable identity from the service address"
    assert parse_reply(envelope(f"<d:ProbeMatch>{XADDR}</d:ProbeMatch>"), "10.1.2.3").devices[0].endpoint_ref \
        == device.endpoint_ref
    assert device.scopes == []


def test_onvif_type_without_xaddrs_means_the_device_service_where_it_answered() -> None:
    parsed = parse_reply(envelope(f"<d:ProbeMatch>{EPR}<d:Types>dn:NetworkVideoTransmitter</d:Types></d:ProbeMatch>"),
                         "10.1.2.9")
    assert parsed.devices[0].host_port == ("10.1.2.9", 80)


def test_types_with_undeclared_prefixes_and_bare_xaddrs() -> None:
    body = f"<d:Hello>{EPR}<d:Types>tds:Device</d:Types><d:XAddrs>10.1.2.3/onvif/device_service</d:XAddrs></d:Hello>"
    [device] = parse_reply(envelope(body), "10.1.2.3").devices  # tds never declared: still the ONVIF type
    assert device.xaddrs == ["http://10.1.2.3/onvif/device_service"]


def test_hello_and_bye_announcements() -> None:
    hello = parse_reply(envelope(f"<d:Hello>{EPR}{XADDR}</d:Hello>"), "10.1.2.3")
    bye = parse_reply(envelope(f"<d:Bye>{EPR}</d:Bye>"), "10.1.2.3")
    assert hello.kind is Announcement.HELLO and hello.devices[0].endpoint_ref == "urn:uuid:cam-1"
    assert bye.kind is Announcement.BYE and bye.devices[0].endpoint_ref == "urn:uuid:cam-1"


def test_several_xaddrs_prefer_the_replying_address_then_a_usable_ipv4() -> None:
    xaddrs = ["http://[fe80::1]/onvif/device_service", "http://169.254.3.4/onvif/device_service",
              "http://cam.local/onvif/device_service", "http://10.9.9.9:2020/onvif/device_service",
              "http://10.1.2.3:8899/onvif/device_service"]
    assert preferred_xaddr(xaddrs, "10.1.2.3") == "http://10.1.2.3:8899/onvif/device_service"
    assert preferred_xaddr(xaddrs, "10.7.7.7") == "http://10.9.9.9:2020/onvif/device_service"  # NAT: another IPv4
    assert preferred_xaddr(xaddrs[:3], "10.7.7.7") == "http://cam.local/onvif/device_service"  # then a host name


@pytest.mark.parametrize("data, reason", [
    (b"", "empty datagram"),
    (b"\x00\x01garbage", "not XML"),
    (b"<html><body>hello</body></html>", "not a SOAP envelope (root <html>)"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "DTD"),
    (envelope(""), "not a discovery reply (Body holds <nothing>)"),
    (envelope("<d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe>"), "a Probe from another client"),
    (envelope(f"<d:ProbeMatch>{EPR}</d:ProbeMatch>"), "no XAddrs and no ONVIF type"),
    (envelope(f"<d:ProbeMatch>{EPR}<d:XAddrs>not a url at all ::</d:XAddrs></d:ProbeMatch>"), "no XAddrs"),
    (envelope("<d:Bye><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Bye>"), "Bye without an endpoint reference"),
    (b"<s:Envelope " + NS.encode() + b"/>", "without a Body"),
    (b"x" * 70_000, "larger than"),
])
def test_what_is_not_a_reply_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    parsed = parse_reply(data, "10.1.2.3")
    assert parsed.devices == []
    assert reason in parsed.dropped


def test_many_matches_in_one_datagram_are_bounded() -> None:
    body = "".join(f"<d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:{i}</a:Address></a:EndpointReference>"
                   f"{XADDR}</d:ProbeMatch>" for i in range(100))
    assert len(parse_reply(envelope(body), "10.1.2.3").devices) == 16


def test_device_text_reaches_logs_and_terminals_without_control_characters() -> None:
    # (ESC itself is not allowed in XML; the C1 CSI and a newline are.)
    fault = envelope("<s:Fault><s:Reason><s:Text>line one\nline two \u009b2J</s:Text></s:Reason></s:Fault>")
    assert parse_reply(fault, "10.1.2.3").dropped == "SOAP fault: line one line two  2J"
    scopes = "<d:Scopes>onvif://www.onvif.org/hardware/DS%0a%1b%5B2J</d:Scopes>"
    [device] = parse_reply(envelope(f"<d:ProbeMatch>{EPR}{scopes}{XADDR}</d:ProbeMatch>"), "10.1.2.3").devices
    assert device.scope("hardware") == "DS [2J"
