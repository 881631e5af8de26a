"""The snapshot and RTSP checks against hostile local devices: the password goes only where it belongs,
and an endless "JPEG" is a finding, not the agent's memory.

Each device is a real socket server that records every byte it receives, so "the password never
arrived" is checked on the wire: neither in clear, nor Basic-encoded, nor in any request at all.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge_agent.checks.base import CameraTarget, CheckContext
from edge_agent.checks.rtsp import RtspAnswers
from edge_agent.checks.snapshot import MAX_SNAPSHOT_BYTES, Snapshot
from edge_agent.scheduler import CameraChecker, close_resources, make_resources
from shared.messages import CheckOutcome
from tests.edge_agent.conftest import agent_config

USER, PASSWORD = "admin", "Rahasia-Kamera-77"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode())
JPEG_START = b"\xff\xd8\xff\xe0" + b"\x00" * 60


@dataclass
class Device:
    """A socket server that answers with ``reply(request_head, writer)`` and keeps every byte it got."""

    reply: Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]
    received: bytearray = field(default_factory=bytearray)
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.received += head
                await self.reply(head, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def assert_no_password(self) -> None:
        assert PASSWORD.encode() not in self.received
        assert BASIC not in self.received, "the password arrived Basic-encoded"


@asynccontextmanager
async def serving(device: Device, host: str = "127.0.0.1") -> AsyncIterator[int]:
    server = await asyncio.start_server(device.handle, host, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def basic_challenge(protocol: bytes) -> Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]:
    """Always 401 asking for Basic: what a rogue device harvesting passwords answers."""

    async def reply(head: bytes, writer: asyncio.StreamWriter) -> None:
        cseq = b"".join(line + b"\r\n" for line in head.split(b"\r\n") if line.lower().startswith(b"cseq"))
        writer.write(protocol + b" 401 Unauthorized\r\n" + cseq
                     + b'WWW-Authenticate: Basic realm="camera"\r\nContent-Length: 0\r\n\r\n')
        await writer.drain()

    return reply


async def endless_jpeg(_head: bytes, writer: asyncio.StreamWriter) -> None:
    """A "JPEG" that never ends: no length, 64 KiB after 64 KiB until the client hangs up."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nConnection: close\r\n\r\n" + JPEG_START)
    chunk = b"\x00" * 65536
    while True:
        writer.write(chunk)
        await writer.drain()


async def announced_huge_jpeg(_head: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 600000000\r\n\r\n" + JPEG_START)
    await writer.drain()


async def run_check(check: Snapshot | RtspAnswers, tmp_path: Path, *, snapshot_url: str | None = None,
                    rtsp_url: str | None = None, basic_in_clear: bool = True) -> CheckOutcome:
    config = agent_config("agent-hostile", tmp_path, timeouts={"snapshot_s": 5, "rtsp_open_s": 5})
    target = CameraTarget(camera_id="cam-1", host="127.0.0.1", port=80, username=USER, password=PASSWORD,
                          onvif=False, snapshot_url=snapshot_url, rtsp_url=rtsp_url, basic_in_clear=basic_in_clear)
    resources = make_resources(config)
    checker = CameraChecker(config, resources)
    try:
        return await check.run(CheckContext(target=target, runtime=checker.runtime(target), resources=resources))
    finally:
        await checker.close()
        await close_resources(resources)


# --- where credentials go ----------------------------------------------------------------------------


@pytest.mark.parametrize("check", ["snapshot", "rtsp"])
def test_a_uri_pointing_at_another_host_is_a_finding_and_gets_nothing(tmp_path: Path, check: str) -> None:
    # The device at 127.0.0.1 names 127.0.0.2 as its snapshot/stream host: a harvester listens there.
    harvester = Device(basic_challenge(b"HTTP/1.1" if check == "snapshot" else b"RTSP/1.0"))

    async def main() -> CheckOutcome:
        async with serving(harvester, "127.0.0.2") as port:
            if check == "snapshot":
                return await run_check(Snapshot(), tmp_path, snapshot_url=f"http://127.0.0.2:{port}/snap.jpg")
            return await run_check(RtspAnswers(), tmp_path, rtsp_url=f"rtsp://127.0.0.2:{port}/live")

    result = asyncio.run(main())
    assert (result.outcome.value, result.reason) == ("fail", f"{check}_foreign_host")
    assert result.details["host"] == "127.0.0.2"
    assert harvester.connections == 0 and not harvester.received


@pytest.mark.parametrize("check", ["snapshot", "rtsp"])
def test_basic_in_clear_is_refused_where_the_network_forbids_it(tmp_path: Path, check: str) -> None:
    device = Device(basic_challenge(b"HTTP/1.1" if check == "snapshot" else b"RTSP/1.0"))

    async def main() -> CheckOutcome:
        async with serving(device) as port:
            if check == "snapshot":
                return await run_check(Snapshot(), tmp_path, snapshot_url=f"http://127.0.0.1:{port}/snap.jpg",
                                       basic_in_clear=False)
            return await run_check(RtspAnswers(), tmp_path, rtsp_url=f"rtsp://127.0.0.1:{port}/live",
                                   basic_in_clear=False)

    result = asyncio.run(main())
    assert (result.outcome.value, result.reason) == ("fail", f"{check}_basic_refused")
    assert device.received, "the device was asked (without credentials)"
    assert b"authorization" not in device.received.lower()
    device.assert_no_password()


def test_snapshot_sends_basic_only_when_asked_and_allowed(tmp_path: Path) -> None:
    device = Device(basic_challenge(b"HTTP/1.1"))

    async def main() -> CheckOutcome:
        async with serving(device) as port:
            return await run_check(Snapshot(), tmp_path, snapshot_url=f"http://127.0.0.1:{port}/snap.jpg")

    result = asyncio.run(main())
    assert result.reason == "snapshot_auth_failed"
    requests = bytes(device.received).split(b"GET ")[1:]
    # First without any credentials (digest needs the challenge first); Basic only after the device asked.
    assert b"authorization" not in requests[0].lower()
    assert any(b"Authorization: Basic " + BASIC in request for request in requests[1:])


def test_a_digest_only_device_never_gets_basic(tmp_path: Path) -> None:
    async def digest_challenge(_head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="cam", nonce="abc", qop="auth"'
                     b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    device = Device(digest_challenge)

    async def main() -> CheckOutcome:
        async with serving(device) as port:
            return await run_check(Snapshot(), tmp_path, snapshot_url=f"http://127.0.0.1:{port}/snap.jpg")

    result = asyncio.run(main())
    assert result.reason == "snapshot_auth_failed"
    assert b"Authorization: Digest" in device.received  # it answered the digest challenge
    device.assert_no_password()


# --- bounded reads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reply", [endless_jpeg, announced_huge_jpeg], ids=["endless", "announced"])
def test_a_huge_snapshot_is_a_finding_read_no_further_than_the_bound(
    tmp_path: Path, reply: Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]
) -> None:
    device = Device(reply)

    async def main() -> CheckOutcome:
        async with serving(device) as port:
            return await run_check(Snapshot(), tmp_path, snapshot_url=f"http://127.0.0.1:{port}/snap.jpg")

    result = asyncio.run(main())
    assert (result.outcome.value, result.reason) == ("fail", "snapshot_too_large")
    assert result.details["limit_bytes"] == MAX_SNAPSHOT_BYTES
