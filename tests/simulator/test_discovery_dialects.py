"""The simulator's discovery dialects: each reply shape on the wire, per-camera answers on each camera's own
address, and scenario validation."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from edge_agent.discovery import probe_message
from edge_agent.discovery_parse import Announcement as Kind
from edge_agent.discovery_parse import parse_reply
from simulator import discovery_dialects as dialects
from simulator.scenario import ScenarioError, build_camera_configs
from simulator.testing import FleetClient, start_fleet

CAMERA = dialects.Announcement("urn:uuid:5f5a69c2-e0ae-504f-829b-00aabbccdd40",
                               ["onvif://www.onvif.org/name/CCTV%20Simpang", "onvif://www.onvif.org/hardware/DS-2CD"],
                               "http://10.20.30.40:8080/onvif/device_service", "10.20.30.40")


@pytest.mark.parametrize("dialect", dialects.DIALECTS)
def test_every_dialect_says_the_same_camera_in_its_own_words(dialect: str) -> None:
    sequence = '<d:AppSequence InstanceId="1" MessageNumber="1"/>'
    match = dialects.probe_match(dialect, CAMERA, "urn:uuid:probe-1", sequence)
    hello = dialects.hello(dialect, CAMERA, sequence)
    bye = dialects.bye(dialect, CAMERA, sequence)
    for message, kind in ((match, Kind.MATCH), (hello, Kind.HELLO), (bye, Kind.BYE)):
        parsed = parse_reply(message, CAMERA.host)
        assert parsed.dropped == "" and parsed.kind is kind, (dialect, message)
        assert [d.endpoint_ref for d in parsed.devices] == [CAMERA.endpoint_reference]
    [device] = parse_reply(match, CAMERA.host).devices
    if dialect in ("localhost_xaddr", "nat_xaddr"):
        assert device.host_port != ("10.20.30.40", 8080), "advertises an address the agent must not use as is"
    else:
        assert device.host_port == ("10.20.30.40", 8080)
    if dialect != "bare":
        assert device.scope("name") == "CCTV Simpang"


def test_dialect_shapes_differ_as_their_names_say() -> None:
    sequence = ""
    probe_match = {d: dialects.probe_match(d, CAMERA, "urn:uuid:probe-1", sequence).decode() for d in dialects.DIALECTS}
    assert "<d:ProbeMatches>" not in probe_match["no_wrapper"] and "<d:ProbeMatches>" in probe_match["standard"]
    assert "<wsa:RelatesTo>uuid:probe-1<" in probe_match["gsoap"]
    assert 'xmlns:wsa5="http://www.w3.org/2005/08/addressing"' in probe_match["wsa2005"]
    assert "<d:EndpointReference>" in probe_match["epr_discovery_ns"]
    assert "http://schemas.xmlsoap.org/soap/envelope/" in probe_match["soap11"]
    assert "Header" not in probe_match["bare"] and "Scopes" not in probe_match["bare"]
    assert 'xmlns:SOAP-ENV' not in probe_match["undeclared_prefix"]
    assert "http://[fe80::" in probe_match["multi_xaddr"]
    assert "http://localhost:8080/" in probe_match["localhost_xaddr"]
    assert "http://10.20.30.250:8080/" in probe_match["nat_xaddr"]


def test_mixed_gives_each_camera_the_next_dialect_and_unknown_names_are_refused() -> None:
    assert [dialects.resolve("mixed", i) for i in (1, 2, len(dialects.DIALECTS) + 1)] == [
        "standard", "gsoap", "standard"]
    configs = build_camera_configs(2, {"defaults": {"discovery_dialect": "mixed"},
                                       "cameras": {"cam0002": {"discovery_dialect": "soap11"}}})
    assert [c.discovery_dialect for c in configs] == ["mixed", "soap11"]
    with pytest.raises(ScenarioError, match="discovery_dialect 'klingon' unknown"):
        build_camera_configs(1, {"defaults": {"discovery_dialect": "klingon"}})


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetClient]:
    with start_fleet(3, scenario={"defaults": {"discovery_dialect": "mixed"}}, rtsp=False) as client:
        yield client


def _probe(host: str, port: int, wait: float = 1.0) -> list[tuple[bytes, str]]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(probe_message("urn:uuid:test-probe"), (host, port))
        answers = []
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                data, source = sock.recvfrom(65535)
            except TimeoutError:
                break
            answers.append((data, source[0]))
    return answers


def test_a_probe_to_a_cameras_own_address_is_answered_by_that_camera_from_it(fleet: FleetClient) -> None:
    camera = fleet.cameras[1]
    answers = _probe(camera.host, fleet.descriptor.discovery_port)
    assert [source for _data, source in answers] == [camera.host]
    [device] = parse_reply(answers[0][0], camera.host).devices
    assert device.endpoint_ref == camera.endpoint_reference
    assert b"<wsdd:ProbeMatches>" in answers[0][0], "camera 2 speaks the second dialect (gsoap)"


def test_a_probe_to_the_fleet_address_is_answered_by_every_camera_each_from_its_own(fleet: FleetClient) -> None:
    answers = _probe(fleet.descriptor.host, fleet.descriptor.discovery_port)
    assert sorted(source for _data, source in answers) == sorted(c.host for c in fleet.cameras)
