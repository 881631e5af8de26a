"""Raw HTTP and SOAP abuse: the simulator answers like a careful device and never falls over."""

from __future__ import annotations

import base64
import os
import socket
import time
from collections.abc import Iterator

import pytest

from simulator.soap import UsernameToken
from simulator.testing import FleetClient, start_fleet
from simulator.wsse import password_digest, verify_token


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetClient]:
    with start_fleet(2, rtsp=False) as running:
        yield running


def raw(fleet: FleetClient, payload: bytes, host: str | None = None) -> bytes:
    camera = fleet.cameras[0]
    with socket.create_connection((host or camera.host, camera.onvif_port), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and b"Connection: close" in b"".join(chunks):
                break
        return b"".join(chunks)


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\n{extra}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def soap(body: str, header: str = "") -> bytes:
    return (f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>{header}</s:Header>'
            f"<s:Body>{body}</s:Body></s:Envelope>").encode()


def token_header(username: str, password: str, created: str) -> str:
    nonce = os.urandom(16)
    digest = password_digest(nonce, created, password)
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
    kind = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
    return (f'<Security xmlns="{wsse}"><UsernameToken><Username>{username}</Username>'
            f'<Password Type="{kind}">{digest}</Password><Nonce>{base64.b64encode(nonce).decode()}</Nonce>'
            f'<Created xmlns="{wsu}">{created}</Created></UsernameToken></Security>')


def test_garbage_request_line_gets_400(fleet: FleetClient) -> None:
    assert raw(fleet, b"HELLO\r\n\r\n").startswith(b"HTTP/1.1 400")


def test_oversized_header_and_body_are_refused(fleet: FleetClient) -> None:
    assert raw(fleet, b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n").startswith(b"HTTP/1.1 431")
    big = b"POST /onvif/device_service HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"
    assert raw(fleet, big).startswith(b"HTTP/1.1 413")


def test_entity_expansion_is_refused_as_not_well_formed(fleet: FleetClient) -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            + soap("<x>&b;</x>"))
    answer = raw(fleet, post("/onvif/device_service", bomb))
    assert answer.startswith(b"HTTP/1.1 400") and b"ter:WellFormed" in answer


def test_unknown_operation_is_action_not_supported(fleet: FleetClient) -> None:
    camera = fleet.cameras[0]
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = soap('<Reboot xmlns="http://www.onvif.org/ver10/device/wsdl"/>',
                token_header(camera.username, camera.password, created))
    answer = raw(fleet, post("/onvif/device_service", body))
    assert answer.startswith(b"HTTP/1.1 500") and b"ter:ActionNotSupported" in answer


def test_missing_token_is_not_authorized_with_the_real_camera_shape(fleet: FleetClient) -> None:
    answer = raw(fleet, post("/onvif/device_service", soap(
        '<GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/>')))
    assert answer.startswith(b"HTTP/1.1 400")
    for part in (b"<env:Value>env:Sender</env:Value>", b"<env:Value>ter:NotAuthorized</env:Value>",
                 b"Sender not Authorized"):
        assert part in answer


def test_get_on_soap_endpoint_and_unknown_paths(fleet: FleetClient) -> None:
    assert raw(fleet, b"GET /onvif/device_service HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 405")
    assert raw(fleet, b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 404")
    unknown_camera = b"POST /onvif/cam9999/device_service HTTP/1.1\r\nConnection: close\r\n\r\n"
    assert raw(fleet, unknown_camera).startswith(b"HTTP/1.1 404")


def test_keep_alive_serves_several_requests_on_one_connection(fleet: FleetClient) -> None:
    camera = fleet.cameras[0]
    request = soap('<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/>')
    once = (f"POST /onvif/device_service HTTP/1.1\r\nContent-Length: {len(request)}\r\n\r\n").encode() + request
    with socket.create_connection((camera.host, camera.onvif_port), timeout=5) as sock:
        answers = b""
        for _ in range(3):
            sock.sendall(once)
            time.sleep(0.05)
            answers += sock.recv(65536)
    assert answers.count(b"HTTP/1.1 200") == 3


def test_each_camera_answers_on_its_own_address(fleet: FleetClient) -> None:
    first, second = fleet.cameras
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = soap('<GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/>',
                token_header(first.username, first.password, created))
    for camera in (first, second):
        answer = raw(fleet, post("/onvif/device_service", body), host=camera.host)
        assert camera.serial.encode() in answer


def test_username_token_window_and_text_passwords() -> None:
    created = "2030-01-01T00:00:00Z"
    nonce = os.urandom(16)
    token = UsernameToken("admin", password_digest(nonce, created, "pw"), "x#PasswordDigest",
                          base64.b64encode(nonce).decode(), created)
    camera_time = 1893456000.0  # 2030-01-01T00:00:00Z
    assert verify_token(token, "admin", "pw", camera_time + 299)
    assert not verify_token(token, "admin", "pw", camera_time + 301)
    assert not verify_token(token, "admin", "other", camera_time)
    assert not verify_token(token, "root", "pw", camera_time)
    text = UsernameToken("admin", "pw", "x#PasswordText", "", "")
    assert verify_token(text, "admin", "pw", 0) and not verify_token(text, "admin", "nope", 0)
