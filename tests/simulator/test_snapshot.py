"""Snapshots over HTTP with independent clients: urllib's digest and basic handlers."""

from __future__ import annotations

import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from simulator.descriptors import CameraDescriptor
from simulator.testing import FleetClient


def fetch(descriptor: CameraDescriptor, password: str | None = None, basic: bool = False) -> bytes:
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, descriptor.snapshot_url, descriptor.username,
                         descriptor.password if password is None else password)
    handler: urllib.request.BaseHandler = (
        urllib.request.HTTPBasicAuthHandler(manager) if basic else urllib.request.HTTPDigestAuthHandler(manager)
    )
    with urllib.request.build_opener(urllib.request.ProxyHandler({}), handler).open(descriptor.snapshot_url, timeout=10) as response:
        assert response.headers["Content-Type"] == "image/jpeg"
        body: bytes = response.read()
        return body


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_digest_snapshot_at_configured_resolution(behaviour_fleet: FleetClient) -> None:
    descriptor = behaviour_fleet.camera("cam0001")
    image = decode(fetch(descriptor))
    assert (image.shape[1], image.shape[0]) == descriptor.resolution


def test_consecutive_snapshots_differ_because_the_clock_runs(behaviour_fleet: FleetClient) -> None:
    descriptor = behaviour_fleet.camera("cam0001")
    first, second = decode(fetch(descriptor)), decode(fetch(descriptor))
    assert np.abs(first.astype(int) - second.astype(int)).sum() > 0


def test_unauthenticated_request_gets_a_digest_challenge(behaviour_fleet: FleetClient) -> None:
    descriptor = behaviour_fleet.camera("cam0001")
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(descriptor.snapshot_url, timeout=10)
    assert excinfo.value.code == 401
    challenge = excinfo.value.headers["WWW-Authenticate"]
    assert challenge.startswith("Digest ") and 'qop="auth"' in challenge


def test_wrong_password_is_refused(behaviour_fleet: FleetClient) -> None:
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        fetch(behaviour_fleet.camera("cam0001"), password="guess")
    assert excinfo.value.code == 401


def test_wrong_credentials_fault_refuses_the_advertised_password(behaviour_fleet: FleetClient) -> None:
    descriptor = behaviour_fleet.camera("cam0002")
    with pytest.raises(urllib.error.HTTPError):
        fetch(descriptor)
    assert decode(fetch(descriptor, password=str(descriptor.faults["wrong_credentials"]))).size


def test_basic_auth_by_switch(behaviour_fleet: FleetClient) -> None:
    descriptor = behaviour_fleet.camera("cam0009")
    assert descriptor.snapshot_auth == "basic" and descriptor.username == "operator"
    assert decode(fetch(descriptor, basic=True)).size
    with pytest.raises(urllib.error.HTTPError):
        fetch(descriptor, password="wrong", basic=True)


def test_snapshot_dead_and_offline(behaviour_fleet: FleetClient) -> None:
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        fetch(behaviour_fleet.camera("cam0008"))
    assert excinfo.value.code == 500
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        fetch(behaviour_fleet.camera("cam0007"))


def test_onvif_dead_camera_still_serves_snapshots(behaviour_fleet: FleetClient) -> None:
    assert decode(fetch(behaviour_fleet.camera("cam0006"))).size
