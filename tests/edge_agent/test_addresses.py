"""The one decision "this address means this box", and URL host rewriting, for discovery and ONVIF alike."""

from __future__ import annotations

import pytest

from edge_agent.addresses import host_port_of, is_local_only, names_this_box, with_host


@pytest.mark.parametrize(("host", "local"), [
    ("localhost", True), ("LOCALHOST", True), ("localhost.localdomain", True), ("127.0.0.1", True),
    ("127.3.4.5", True), ("0.0.0.0", True), ("::1", True), ("[::1]", True),
    ("10.0.0.5", False), ("192.168.1.64", False), ("cam.local", False), ("fe80::1", False), ("", False),
])
def test_is_local_only(host: str, local: bool) -> None:
    assert is_local_only(host) is local


@pytest.mark.parametrize(("host", "camera", "this_box"), [
    ("localhost", "10.0.0.5", True),
    ("127.0.0.1", "192.168.1.64", True),
    ("127.0.0.1", "127.0.0.5", False),  # a camera on this very box (the simulator) is where it says
    ("10.0.0.6", "10.0.0.5", False),
])
def test_names_this_box(host: str, camera: str, this_box: bool) -> None:
    assert names_this_box(host, camera) is this_box


@pytest.mark.parametrize(("url", "where"), [
    ("http://10.0.0.5/onvif/device_service", ("10.0.0.5", 80)),
    ("https://10.0.0.5/onvif/device_service", ("10.0.0.5", 443)),
    ("http://10.0.0.5:8899/onvif/device_service", ("10.0.0.5", 8899)),
    ("rtsp://10.0.0.5/Streaming/Channels/101", ("10.0.0.5", 554)),
    ("http://[fe80::1]:2020/onvif", ("fe80::1", 2020)),
    ("http://10.0.0.5:99999/", None),
    ("/onvif/device_service", None),
])
def test_host_port_of(url: str, where: tuple[str, int] | None) -> None:
    assert host_port_of(url) == where


def test_with_host_keeps_everything_but_the_address() -> None:
    assert with_host("rtsp://u:p@localhost:554/ch1?x=1", "10.0.0.5", 554) == "rtsp://u:p@10.0.0.5:554/ch1?x=1"
    assert with_host("https://cam.local/onvif/device_service", "10.0.0.5", 8443) == \
        "https://10.0.0.5:8443/onvif/device_service"
