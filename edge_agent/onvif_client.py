"""ONVIF for many cameras on onvif-zeep-async's parsed WSDLs: one shared HTTP pool, a few light objects per camera.

Why not one ``ONVIFCamera`` per camera: each of its services owns an aiohttp session, a connector, a
requests session (zeep's base transport) and two zeep clients, and the first checks of a large fleet
all parse the same WSDL at once (the library's cache is filled only after a parse finishes), which
cost ~4 MB per concurrently started camera. Here a per-event-loop ``OnvifPool`` holds the HTTP pool,
the zeep transport, the parsed WSDLs (loaded once, under a lock) and one unauthenticated zeep client
per WSDL; a camera keeps only its WS-Security token, one authenticated zeep client and two service
proxies, and re-reads profiles and URIs every ``onvif_refresh_s`` or after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from lxml.etree import LxmlError
from zeep.exceptions import Fault, TransportError, XMLParseError, XMLSyntaxError
from zeep.exceptions import ValidationError as ZeepValidationError

from edge_agent.onvif_lib import (
    DEFAULT_SETTINGS,
    SERVICES,
    WSDL_DIR,
    AsyncTransportProtocolErrorHandler,
    ONVIFError,
    ONVIFTimeoutError,
    UsernameDigestTokenDtDiff,
    WsAddressingIfMissingPlugin,
    ZeepAsyncClient,
    bracket_host,
    cached_document,
    is_auth_error,
    stringify_onvif_error,
)
from edge_agent.scrub import scrub
from shared.messages import clip_text

log = logging.getLogger(__name__)

# The failures a camera can cause (the Home Assistant integration's pattern): anything else is a bug.
ONVIF_ERRORS: tuple[type[BaseException], ...] = (
    ONVIFError, Fault, TransportError, XMLParseError, XMLSyntaxError, aiohttp.ClientError, TimeoutError,
    OSError, ValueError, AttributeError, KeyError, TypeError, IndexError, LxmlError, ZeepValidationError,
)


@dataclass(frozen=True, slots=True)
class OnvifFailure:
    reason: str
    message: str


def classify(error: BaseException) -> OnvifFailure:
    """Map any ONVIF failure to a reason code from edge_agent.reasons and a scrubbed message."""
    seen: set[int] = set()
    current: BaseException | None = error
    # onvif-zeep-async wraps causes in ONVIFError; the cause says more.
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        verdict = _classify_one(current)
        if verdict is not None:
            return verdict
        current = current.__cause__ or current.__context__
    return OnvifFailure("onvif_error", scrub(f"{type(error).__name__}: {error}"))


def _classify_one(error: BaseException) -> OnvifFailure | None:
    text = scrub(stringify_onvif_error(error) if isinstance(error, Exception) else str(error))
    if isinstance(error, TimeoutError | ONVIFTimeoutError | aiohttp.ServerTimeoutError):
        return OnvifFailure("onvif_timeout", "no ONVIF answer in time")
    if isinstance(error, Fault):
        if is_auth_error(error):
            return OnvifFailure("auth_failed", f"camera refused the credentials: {clip_text(text, 200)}")
        return OnvifFailure("onvif_error", f"SOAP fault: {clip_text(text, 300)}")
    if isinstance(error, TransportError):
        if error.status_code in (401, 403):
            return OnvifFailure("auth_failed", f"camera refused the credentials (HTTP {error.status_code})")
        return OnvifFailure("onvif_no_answer", f"ONVIF service answered HTTP {error.status_code}")
    if isinstance(error, XMLSyntaxError | XMLParseError | ZeepValidationError | LxmlError):
        return OnvifFailure("onvif_malformed", f"answer is not valid SOAP: {clip_text(text, 200)}")
    if isinstance(error, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError |
                  aiohttp.ClientOSError | ConnectionError):
        return OnvifFailure("onvif_no_answer", f"ONVIF connection failed: {clip_text(text, 200)}")
    if isinstance(error, aiohttp.ClientError | OSError):
        return OnvifFailure("onvif_no_answer", f"ONVIF request failed: {clip_text(text, 200)}")
    if isinstance(error, TypeError | AttributeError | ValueError | KeyError | IndexError):
        # zeep hands back half-parsed objects for answers that do not match the schema.
        return OnvifFailure("onvif_malformed", f"answer does not match the ONVIF schema: {clip_text(text, 200)}")
    return None


@dataclass(slots=True)
class MediaProfile:
    token: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    encoding: str = ""
    stream_uri: str | None = None
    snapshot_uri: str | None = None


@dataclass(slots=True)
class DeviceInfo:
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    hardware_id: str = ""
    mac: str = ""


@dataclass(slots=True)
class TimeReading:
    offset_s: float | None
    elapsed_s: float


_MEDIA_NS = SERVICES["media"]["ns"]
# The most requests a media refresh makes: GetServices, GetCapabilities, GetProfiles, GetStreamUri, GetSnapshotUri.
_MEDIA_REQUESTS = 5


class OnvifPool:
    """What every camera's ONVIF session shares: one aiohttp pool, one zeep transport, parsed WSDLs.

    Bound to the event loop it is first used on (aiohttp's rule); ``close`` it when the checks stop.
    """

    def __init__(self, *, connections: int = 128) -> None:
        self._connections = connections
        self._http: aiohttp.ClientSession | None = None
        self._transport: AsyncTransportProtocolErrorHandler | None = None
        self._authless: dict[str, ZeepAsyncClient] = {}
        self._documents: dict[str, Any] = {}
        self._lock: asyncio.Lock | None = None

    @property
    def transport(self) -> AsyncTransportProtocolErrorHandler:
        if self._transport is None:
            connector = aiohttp.TCPConnector(
                limit=self._connections, limit_per_host=4, ssl=False,
                # Cameras are checked a minute apart: keep a connection only for the back-to-back
                # requests of one check, not one idle socket per camera.
                keepalive_timeout=4,
            )
            # Callers bound every request with asyncio.timeout; these only stop a leak if one does not.
            self._http = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=120, connect=30, sock_read=90),
            )
            # The library's transport retries once when a camera closed a kept-alive connection.
            self._transport = AsyncTransportProtocolErrorHandler(session=self._http, verify_ssl=False)
        return self._transport

    async def document(self, name: str) -> Any:
        """The parsed WSDL of service ``name``; parsed once even when 1,000 cameras ask at once."""
        document = self._documents.get(name)
        if document is None:
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                document = self._documents.get(name)
                if document is None:
                    document = await cached_document(f"{WSDL_DIR}/{SERVICES[name]['wsdl']}")
                    self._documents[name] = document
                    # A parsed WSDL is ~150,000 objects that live as long as the process: keep them out
                    # of the cyclic collector, whose full passes over them stalled the event loop.
                    gc.freeze()
        return document

    async def client(self, name: str, wsse: Any) -> ZeepAsyncClient:
        """A zeep client for service ``name`` signing with ``wsse`` (per camera: its credentials and offset)."""
        return ZeepAsyncClient(wsdl=await self.document(name), wsse=wsse, transport=self.transport,
                               settings=DEFAULT_SETTINGS, plugins=[WsAddressingIfMissingPlugin()])

    async def authless_client(self, name: str) -> ZeepAsyncClient:
        """The unauthenticated client of service ``name``: no per-camera state, so one for all cameras."""
        client = self._authless.get(name)
        if client is None:
            client = await self.client(name, None)
            self._authless[name] = client
        return client

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = self._transport = None
        self._authless.clear()


@dataclass(slots=True)
class _Service:
    """One camera's proxies for one ONVIF service: ``authless`` (time) and ``auth`` (everything else)."""

    authless: Any
    auth: Any
    xaddr: str


def _binding(name: str) -> str:
    return "{%s}%s" % (SERVICES[name]["ns"], SERVICES[name]["binding"])  # noqa: UP031 - braces are literal


@dataclass(slots=True)
class OnvifSession:
    """A camera's ONVIF state; create once per camera and reuse across checks.

    Without a ``pool`` the session makes its own (for one-off use such as ``scc-agent probe``) and
    closes it in ``close``.
    """

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    timeout_s: float = 8.0
    pool: OnvifPool | None = None
    clock_offset_s: float | None = None
    device: DeviceInfo | None = None
    profile: MediaProfile | None = None
    media_refreshed_at: float = 0.0
    xaddrs_from: str = ""
    xaddrs: dict[str, str] = field(default_factory=dict)
    _own_pool: bool = field(default=False, init=False, repr=False)
    _token: Any = field(default=None, init=False, repr=False)
    _devicemgmt: _Service | None = field(default=None, init=False, repr=False)

    def _pool(self) -> OnvifPool:
        if self.pool is None:
            self.pool = OnvifPool(connections=8)
            self._own_pool = True
        return self.pool

    def _wsse(self) -> Any:
        if self._token is None and self.username:
            offset = dt.timedelta(seconds=self.clock_offset_s) if self.clock_offset_s else None
            # Digest token with the camera's clock offset, as the library signs; one per camera because
            # the offset is the camera's.
            self._token = UsernameDigestTokenDtDiff(self.username, self.password or "", dt_diff=offset,
                                                    use_digest=True)
        return self._token

    async def _service(self, name: str, xaddr: str) -> _Service:
        pool = self._pool()
        authless = (await pool.authless_client(name)).create_service(_binding(name), xaddr)
        auth = (await pool.client(name, self._wsse())).create_service(_binding(name), xaddr)
        return _Service(authless, auth, xaddr)

    def _device_xaddr(self) -> str:
        base = self.host if self.host.startswith(("http://", "https://")) else f"http://{bracket_host(self.host)}"
        return f"{base}:{self.port}/onvif/device_service"

    async def close(self) -> None:
        """Forget the proxies (rebuilt cheaply on next use) and the media profile."""
        self._devicemgmt = None
        self.profile = None
        self.media_refreshed_at = 0.0
        if self._own_pool and self.pool is not None:
            with contextlib.suppress(Exception):
                await self.pool.close()
            self.pool, self._own_pool = None, False

    async def _device_service(self) -> _Service:
        if self._devicemgmt is None:
            self._devicemgmt = await self._service("devicemgmt", self._device_xaddr())
        return self._devicemgmt

    async def system_time(self) -> TimeReading:
        """Unauthenticated GetSystemDateAndTime; the camera's clock offset signs every later request."""
        devicemgmt = await self._device_service()
        started = time.monotonic()
        before = dt.datetime.now(dt.UTC)
        async with asyncio.timeout(self.timeout_s):
            try:
                answer = await devicemgmt.authless.GetSystemDateAndTime()
            except Fault as fault:
                if not is_auth_error(fault):
                    raise
                # Some firmware wants auth even for the time: the ONVIF service answered, offset unknown.
                answer = await devicemgmt.auth.GetSystemDateAndTime()
        elapsed = time.monotonic() - started
        offset = _offset_from(answer, before + dt.timedelta(seconds=elapsed / 2))
        if offset is not None:
            self.clock_offset_s = offset
            self._apply_offset(offset)
        return TimeReading(offset, elapsed)

    def _apply_offset(self, offset_s: float) -> None:
        # The token is shared by this camera's zeep clients: updating it re-signs every later request.
        if self._token is not None:
            self._token.dt_diff = dt.timedelta(seconds=offset_s) if offset_s else None

    async def device_information(self) -> DeviceInfo:
        """Authenticated GetDeviceInformation: proves the credentials (and the signing offset)."""
        devicemgmt = await self._device_service()
        async with asyncio.timeout(self.timeout_s):
            info = await devicemgmt.auth.GetDeviceInformation()
        device = DeviceInfo(
            manufacturer=clip_text(_text(info, "Manufacturer")),
            model=clip_text(_text(info, "Model")),
            firmware=clip_text(_text(info, "FirmwareVersion")),
            serial=clip_text(_text(info, "SerialNumber")),
            hardware_id=clip_text(_text(info, "HardwareId")),
            mac=self.device.mac if self.device else "",
        )
        if not device.mac:
            device.mac = await self._mac(devicemgmt)
        self.device = device
        return device

    async def _mac(self, devicemgmt: _Service) -> str:
        try:
            async with asyncio.timeout(self.timeout_s):
                interfaces = await devicemgmt.auth.GetNetworkInterfaces()
        except ONVIF_ERRORS:
            return ""
        for interface in interfaces or []:
            info = getattr(interface, "Info", None)
            address = getattr(info, "HwAddress", None) if info is not None else None
            if address:
                return clip_text(str(address).lower(), 64)
        return ""

    def media_stale(self, max_age_s: float) -> bool:
        return self.profile is None or time.monotonic() - self.media_refreshed_at > max_age_s

    async def _request(self, call: Any) -> Any:
        """One ONVIF request bounded by ``timeout_s``: a slow camera is judged per answer, like the other checks."""
        async with asyncio.timeout(self.timeout_s):
            return await call

    async def refresh_media(self) -> MediaProfile | None:
        """GetServices (else GetCapabilities) for the XAddrs, then profiles and stream/snapshot URIs.

        Each request has its own ``timeout_s``; the whole refresh is bounded by the sum (one
        ``timeout_s`` per request it may make, plus one for the advertised-address probes), so a camera
        answering every request slowly but in time gets its URIs and is reported slow, not URI-less.
        """
        devicemgmt = await self._device_service()
        async with asyncio.timeout(self.timeout_s * (_MEDIA_REQUESTS + 1)):
            await self._update_xaddrs(devicemgmt)
            media_xaddr = self.xaddrs.get(_MEDIA_NS)
            if not media_xaddr:
                raise ONVIFError(f"Device doesn't support service: media with namespace {_MEDIA_NS}")
            # Only needed for this refresh, so not kept: proxies are cheap to build from the shared WSDL.
            media = (await self._service("media", media_xaddr)).auth
            profiles = await self._request(media.GetProfiles())
            if not profiles:
                self.profile = None
                return None
            chosen = _best_profile(profiles)
            profile = MediaProfile(token=str(chosen.token))
            encoder = getattr(chosen, "VideoEncoderConfiguration", None)
            if encoder is not None:
                resolution = getattr(encoder, "Resolution", None)
                if resolution is not None:
                    profile.width, profile.height = int(resolution.Width), int(resolution.Height)
                rate = getattr(encoder, "RateControl", None)
                if rate is not None and getattr(rate, "FrameRateLimit", None):
                    profile.fps = float(rate.FrameRateLimit)
                profile.encoding = str(getattr(encoder, "Encoding", "") or "")
            stream = await self._request(media.GetStreamUri(
                StreamSetup={"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                ProfileToken=profile.token,
            ))
            profile.stream_uri = await self._reachable_url(str(stream.Uri)) if stream and stream.Uri else None
            try:
                snapshot = await self._request(media.GetSnapshotUri(ProfileToken=profile.token))
            except Fault:
                snapshot = None
            uri = getattr(snapshot, "Uri", None) if snapshot is not None else None
            profile.snapshot_uri = await self._reachable_url(str(uri)) if uri else None
        self.profile = profile
        self.media_refreshed_at = time.monotonic()
        return profile

    async def _update_xaddrs(self, devicemgmt: _Service) -> None:
        xaddrs: dict[str, str] = {}
        try:
            services = await self._request(devicemgmt.auth.GetServices(IncludeCapability=False))
            for service in services or []:
                namespace, xaddr = getattr(service, "Namespace", None), getattr(service, "XAddr", None)
                if namespace and xaddr:
                    xaddrs[str(namespace)] = str(xaddr)
            self.xaddrs_from = "GetServices"
        except (Fault, ONVIFError) as error:
            if isinstance(error, Fault) and is_auth_error(error):
                raise
            log.debug("%s: GetServices unsupported (%s); using GetCapabilities", self.host, scrub(error))
        if not xaddrs:
            capabilities = await self._request(devicemgmt.auth.GetCapabilities(Category="All"))
            for name in ("Device", "Media", "Events", "Imaging", "PTZ", "Analytics"):
                capability = getattr(capabilities, name, None)
                xaddr = getattr(capability, "XAddr", None) if capability is not None else None
                if xaddr:
                    xaddrs[_CAPABILITY_NAMESPACES[name]] = str(xaddr)
            self.xaddrs_from = "GetCapabilities"
        self.xaddrs = {namespace: await self._reachable_url(url) for namespace, url in xaddrs.items()}

    async def _reachable_url(self, url: str) -> str:
        """``url``, or the same URL on the address the camera answered on when its own host is unreachable.

        Cameras behind NAT or with a stale configuration advertise addresses the agent cannot reach.
        """
        parts = urlsplit(url)
        host = parts.hostname
        if not host or host == self.host:
            return url
        port = parts.port or {"http": 80, "https": 443, "rtsp": 554}.get(parts.scheme, 80)
        if await tcp_reachable(host, port, timeout=min(self.timeout_s, 1.5)):
            return url
        userinfo = parts.netloc.rpartition("@")[0]
        # The advertised port belongs to the unreachable address; through NAT the camera's web
        # services answer where we reached them, other schemes keep their port.
        new_port = self.port if parts.scheme in ("http", "https") else port
        netloc = f"{userinfo + '@' if userinfo else ''}{self.host}:{new_port}"
        fixed = urlunsplit(parts._replace(netloc=netloc))
        log.info("%s: advertised %s is unreachable; using %s", self.host, scrub(url), scrub(fixed))
        return fixed


_CAPABILITY_NAMESPACES = {
    "Device": "http://www.onvif.org/ver10/device/wsdl",
    "Media": "http://www.onvif.org/ver10/media/wsdl",
    "Events": "http://www.onvif.org/ver10/events/wsdl",
    "Imaging": "http://www.onvif.org/ver20/imaging/wsdl",
    "PTZ": "http://www.onvif.org/ver20/ptz/wsdl",
    "Analytics": "http://www.onvif.org/ver20/analytics/wsdl",
}


async def tcp_reachable(host: str, port: int, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _text(obj: Any, name: str) -> str:
    value = getattr(obj, name, None)
    return "" if value is None else str(value)


def _best_profile(profiles: list[Any]) -> Any:
    """The main stream: the video profile with the most pixels."""
    def pixels(profile: Any) -> int:
        encoder = getattr(profile, "VideoEncoderConfiguration", None)
        resolution = getattr(encoder, "Resolution", None) if encoder is not None else None
        if resolution is None:
            return 0
        return int(resolution.Width or 0) * int(resolution.Height or 0)
    return max(profiles, key=pixels)


def _offset_from(answer: Any, local_midpoint: dt.datetime) -> float | None:
    utc = getattr(answer, "UTCDateTime", None)
    if utc is None:
        return None
    try:
        camera_time = dt.datetime(
            utc.Date.Year, utc.Date.Month, utc.Date.Day, utc.Time.Hour, utc.Time.Minute, utc.Time.Second,
            tzinfo=dt.UTC,
        )
    except (AttributeError, TypeError, ValueError):
        return None
    offset = (camera_time - local_midpoint).total_seconds()
    # The camera reports whole seconds: do not call sub-second truncation a skew.
    return 0.0 if abs(offset) < 1.5 else offset
