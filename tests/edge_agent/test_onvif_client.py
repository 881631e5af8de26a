"""OnvifSession and OnvifPool over real HTTP: field replies from tests/fixtures/onvif/, quirks, hostile devices."""

from __future__ import annotations

import asyncio
import socket
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from edge_agent.addresses import host_port_of, tcp_reachable
from edge_agent.onvif_client import OnvifSession
from edge_agent.onvif_errors import ONVIF_ERRORS, ReplyTooLarge, classify
from edge_agent.onvif_pool import MAX_REPLY_BYTES, OnvifPool
from tests.edge_agent.onvif_device import ENVELOPE, CannedDevice, Handler, Reply, serving

CORPUS = Path(__file__).parents[1] / "fixtures" / "onvif"
CASES = sorted(CORPUS.glob("*.toml"))


def corpus_reply(sidecar: Path) -> tuple[dict[str, Any], Reply]:
    meta = tomllib.loads(sidecar.read_text())
    body = next(p for p in CORPUS.glob(sidecar.stem + ".*") if p.suffix != ".toml").read_bytes()
    return meta, Reply(body, int(meta.get("status", 200)),
                       meta.get("content_type", "application/soap+xml; charset=utf-8"))


def run(device: CannedDevice, scenario: Callable[[OnvifSession], Awaitable[Any]], **session: Any) -> Any:
    """``scenario`` against ``device`` served on loopback, with a fresh session and pool."""
    async def main() -> Any:
        async with serving(device, session.pop("bind", "127.0.0.1")) as served:
            pool = OnvifPool(connections=4)
            options: dict[str, Any] = {"host": "127.0.0.1", "port": served.port, "username": "admin", "password": "pw",
                       "timeout_s": 3.0, "pool": pool} | session
            if callable(options.get("device_url")):
                options["device_url"] = options["device_url"](served.port)
            try:
                return await scenario(OnvifSession(**options))
            finally:
                await pool.close()
    return asyncio.run(main())


async def failure_of(call: Awaitable[Any]) -> str:
    try:
        await call
    except ONVIF_ERRORS as error:
        return classify(error).reason
    return "no failure"


def test_corpus_has_a_source_for_every_reply() -> None:
    replies = [p for p in CORPUS.iterdir() if p.suffix != ".toml"]
    assert len(CASES) >= 10 and len(replies) == len(CASES)
    for sidecar in CASES:
        meta = tomllib.loads(sidecar.read_text())
        assert meta["source"].startswith("https://") and meta["note"] and meta["call"], sidecar.name


@pytest.mark.parametrize("sidecar", CASES, ids=[p.stem for p in CASES])
def test_field_reply(sidecar: Path) -> None:
    meta, reply = corpus_reply(sidecar)
    call = meta["call"]
    device = CannedDevice(replies={call: reply})

    async def scenario(session: OnvifSession) -> None:
        if call == "*":
            assert await failure_of(session.system_time()) == meta["reason"]
        elif call == "GetSystemDateAndTime":
            reading = await session.system_time()
            if meta["offset"] == "unknown":
                assert reading.offset_s is None
            else:  # "behind": a clock the camera keeps well behind ours
                assert reading.offset_s is not None and reading.offset_s < -60
        elif call == "GetDeviceInformation":
            await session.system_time()
            if "reason" in meta:
                assert await failure_of(session.device_information()) == meta["reason"]
            else:
                device = await session.device_information()
                assert (device.manufacturer, device.model, device.firmware, device.serial) == (
                    meta["manufacturer"], meta["model"], meta["firmware"], meta["serial"])
        else:
            await session.system_time()
            await session.device_information()
            profile = await session.refresh_media()
            assert profile is not None
            await check_profile(meta, call, profile, session)

    run(device, scenario)


async def check_profile(meta: dict[str, Any], call: str, profile: Any, session: OnvifSession) -> None:
    if call == "GetProfiles":
        assert profile.token == meta["token"]
        assert profile.encoding == meta["encoding"]
        if meta["width"] == "unknown":
            assert (profile.width, profile.height) == (None, None)
        else:
            assert (profile.width, profile.height) == (meta["width"], meta["height"])
        assert profile.fps == (None if meta["fps"] == "unknown" else meta["fps"])
        return
    if call == "GetStreamUri":
        assert profile.token == "main" and not session.media_failures
        assert profile.stream_uri is not None
        await check_moved(meta, profile.stream_uri, meta["stream_path"], "rtsp", session)
        return
    # A URI call: the rest of the refresh survives its failure.
    assert profile.token == "main" and profile.stream_uri is not None and profile.stream_uri.startswith("rtsp://")
    if "reason" in meta:
        assert profile.snapshot_uri is None
        assert session.media_failures[call].reason == meta["reason"]
    else:
        assert profile.snapshot_uri is not None and not session.media_failures
        await check_moved(meta, profile.snapshot_uri, meta["snapshot_path"], "http", session)


async def check_moved(meta: dict[str, Any], uri: str, path: str, scheme: str, session: OnvifSession) -> None:
    """``uri`` is the advertised one, or moved to the camera's address (HTTP: to the port its services
    answered on; RTSP: keeping its port) unless the advertised address accepts connections from here
    (some sandboxes answer any port 80)."""
    advertised = host_port_of(meta["advertised"])
    assert advertised is not None
    moved = not await tcp_reachable(*advertised, timeout=1.5)
    moved_port = session.port if scheme == "http" else advertised[1]
    where = f"127.0.0.1:{moved_port}" if moved else advertised[0]
    assert uri == f"{scheme}://{where}{path}"


def test_time_demanded_with_authentication_is_read_signed() -> None:
    """GetSystemDateAndTime refused unauthenticated (SOAP fault or HTTP 401): asked again with credentials."""
    fault = (CORPUS / "hikvision-notauthorized-fault.xml").read_bytes()
    signed: list[bool] = []

    async def refuse_anonymous(request: web.Request, body: bytes) -> web.StreamResponse:
        signed.append(b"UsernameToken" in body)
        if signed[-1]:
            return device.answer(request, "GetSystemDateAndTime")
        return web.Response(body=fault, status=400, content_type="application/soap+xml")

    device = CannedDevice(handlers={"GetSystemDateAndTime": refuse_anonymous})

    async def scenario(session: OnvifSession) -> Any:
        return await session.system_time()

    assert run(device, scenario).offset_s == 0.0
    assert signed == [False, True]


def test_device_service_at_the_discovered_path_and_port() -> None:
    """The XAddr discovery found is used as is, not assumed to be /onvif/device_service."""
    device = CannedDevice(path_prefix="/cgi-bin/onvif/")

    async def scenario(session: OnvifSession) -> Any:
        await session.system_time()
        return await session.device_information()

    info = run(device, scenario, device_url=lambda port: f"http://127.0.0.1:{port}/cgi-bin/onvif/device_service")
    assert info.manufacturer == "Canned"
    assert device.calls[:2] == ["GetSystemDateAndTime", "GetDeviceInformation"]


def test_mac_is_normalised() -> None:
    async def scenario(session: OnvifSession) -> Any:
        return await session.device_information()

    assert run(CannedDevice(), scenario).mac == "00:1a:2b:3c:4d:5e"


def test_get_services_unusable_falls_back_to_capabilities() -> None:
    capabilities = ENVELOPE.format(
        "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media><tt:XAddr>{base}/onvif/media_service</tt:XAddr>"
        "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
        "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media></tds:Capabilities>"
        "</tds:GetCapabilitiesResponse>")

    async def capabilities_here(request: web.Request, body: bytes) -> web.Response:
        return web.Response(body=capabilities.replace("{base}", f"http://{request.host}"),
                            content_type="application/soap+xml")

    device = CannedDevice(replies={"GetServices": Reply(b"<html>not here</html>", 200, "text/html")},
                          handlers={"GetCapabilities": capabilities_here})

    async def scenario(session: OnvifSession) -> Any:
        profile = await session.refresh_media()
        return session.xaddrs_from, profile

    source, profile = run(device, scenario)
    assert source == "GetCapabilities" and profile.token == "main"


def test_unreachable_advertised_address_is_probed_once_per_refresh(caplog: pytest.LogCaptureFixture) -> None:
    """Every service advertised on a dead address: one probe, one log line per URL, the camera's address used."""
    if asyncio.run(tcp_reachable("192.0.2.1", 8080, timeout=1.5)):
        pytest.skip("this network answers for 192.0.2.1 (TEST-NET-1): nothing here is unreachable")
    device = CannedDevice(base_override="http://192.0.2.1:8080")

    async def scenario(session: OnvifSession) -> Any:
        return await session.refresh_media()

    caplog.set_level("INFO", "edge_agent.onvif_client")
    profile = run(device, scenario)
    assert profile.snapshot_uri.startswith("http://127.0.0.1:") and profile.snapshot_uri.endswith("/snap.jpg")
    moved = [r.getMessage() for r in caplog.records if "unusable from here" in r.getMessage()]
    assert len(moved) == len(set(moved)) == 3  # device, media, snapshot: one line each


def _lan_address() -> str | None:
    """An address of this machine other than loopback, if it has one (to play a camera on the LAN)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_localhost_from_a_lan_camera_means_the_camera() -> None:
    """A camera on the LAN advertising localhost services: the camera's address is used, this box never asked."""
    lan = _lan_address()
    if lan is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    device = CannedDevice(base_override="http://localhost:1")

    async def scenario(session: OnvifSession) -> Any:
        return await session.refresh_media()

    profile = run(device, scenario, bind=lan, host=lan)
    assert profile.snapshot_uri.startswith(f"http://{lan}:")


def hostile(handler: Handler) -> CannedDevice:
    return CannedDevice(handlers={"*": handler})


def test_endless_reply_is_a_finding_not_memory() -> None:
    """A device streaming a reply without end: reading stops at the bound, the check says why."""
    sent = 0

    async def endless(request: web.Request, body: bytes) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "application/soap+xml"})
        await response.prepare(request)
        chunk = b"<s:Envelope>" + b"<a>" * 20_000
        try:
            while sent < 50 * MAX_REPLY_BYTES:
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionResetError, RuntimeError):
            pass
        return response

    async def scenario(session: OnvifSession) -> Any:
        try:
            await session.system_time()
        except ReplyTooLarge as error:
            return classify(error)
        raise AssertionError("an endless reply was accepted")

    failure = run(hostile(endless), scenario)
    assert failure.reason == "onvif_malformed" and "larger than" in failure.message
    assert sent < 10 * MAX_REPLY_BYTES  # the agent hung up; it did not drain the device


def test_declared_oversize_is_refused_before_reading() -> None:
    async def declared(request: web.Request, body: bytes) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/soap+xml",
                                               "Content-Length": str(10**12)})
        await response.prepare(request)
        await response.write(b"<s:Envelope>")
        return response

    async def scenario(session: OnvifSession) -> str:
        return await failure_of(session.system_time())

    assert run(hostile(declared), scenario) == "onvif_malformed"


@pytest.mark.parametrize("body", [
    pytest.param(b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
                 b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;</l>', id="entity-expansion"),
    pytest.param(b"<a>" * 100_000, id="deep-nesting"),
    pytest.param(b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>', id="external-dtd"),
])
def test_hostile_xml_is_malformed(body: bytes) -> None:
    device = CannedDevice(replies={"*": Reply(body)})

    async def scenario(session: OnvifSession) -> str:
        return await failure_of(session.system_time())

    assert run(device, scenario) == "onvif_malformed"


def test_pool_parses_each_wsdl_once_and_shares_the_authless_client() -> None:
    async def main() -> None:
        pool = OnvifPool()
        documents = await asyncio.gather(*(pool.document("devicemgmt") for _ in range(20)))
        assert all(document is documents[0] for document in documents)
        assert await pool.authless_client("media") is await pool.authless_client("media")
        signed = await pool.client("media", None)
        assert signed is not await pool.authless_client("media")
        transport = pool.transport
        assert transport is pool.transport and transport.limit == MAX_REPLY_BYTES
        await pool.close()
        assert pool.transport is not transport  # a closed pool makes a fresh HTTP pool when used again
        await pool.close()

    asyncio.run(main())


def test_a_basic_challenge_gets_no_password() -> None:
    """Digest is answered when a camera asks for it (simulator dialect http_digest); Basic never is."""
    authorizations: list[str] = []

    async def basic_only(request: web.Request, body: bytes) -> web.StreamResponse:
        authorizations.append(request.headers.get("Authorization", ""))
        return web.Response(status=401, text="unauthorized", headers={"WWW-Authenticate": 'Basic realm="cam"'})

    async def scenario(session: OnvifSession) -> str:
        return await failure_of(session.device_information())

    assert run(hostile(basic_only), scenario) == "auth_failed"
    assert authorizations and not any(authorizations)


@pytest.mark.parametrize(("status", "body", "reason"), [
    (503, b"<html><body><h1>503 Service Unavailable</h1></body></html>", "onvif_no_answer"),
    (500, b"<html><body>Internal Server Error</body></html>", "onvif_no_answer"),
    (404, b"<html><head><title>404</title></head><body>Not Found</body></html>", "onvif_no_answer"),
    (200, b"<html><body>Welcome</body></html>", "onvif_malformed"),
])
def test_an_error_page_is_not_a_soap_fault(status: int, body: bytes, reason: str) -> None:
    """A well-formed HTML error page is the service missing or dead (down evidence), not a camera answering
    SOAP badly; the same page with HTTP 200 is an answer, just not SOAP."""
    device = CannedDevice(replies={"*": Reply(body, status, "text/html")})

    async def scenario(session: OnvifSession) -> str:
        return await failure_of(session.system_time())

    assert run(device, scenario) == reason
