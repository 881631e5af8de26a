"""One long-lived ONVIF session per camera on onvif-zeep-async: clock offset, services, profiles, URIs.

Why long-lived: onvif-zeep-async already parses each WSDL once per process (its module-level
document cache), but every ``ONVIFCamera`` and every service still builds aiohttp sessions and
zeep clients. Rebuilding them per check is what makes the naive way expensive (see
benchmarks/bench_agent.py), so the agent keeps one session per camera and only re-reads
profiles and URIs every ``onvif_refresh_s`` or after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from lxml.etree import LxmlError
from onvif import ONVIFCamera
from onvif.exceptions import ONVIFError, ONVIFTimeoutError
from onvif.util import is_auth_error, stringify_onvif_error
from zeep.exceptions import Fault, TransportError, XMLParseError, XMLSyntaxError
from zeep.exceptions import ValidationError as ZeepValidationError

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


@dataclass(slots=True)
class OnvifSession:
    """A camera's ONVIF state; create once per camera and reuse across checks."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    timeout_s: float = 8.0
    camera: ONVIFCamera | None = None
    clock_offset_s: float | None = None
    device: DeviceInfo | None = None
    profile: MediaProfile | None = None
    media_refreshed_at: float = 0.0
    xaddrs_from: str = ""

    async def _ensure_camera(self) -> ONVIFCamera:
        if self.camera is None:
            camera = ONVIFCamera(self.host, self.port, self.username or None, self.password or None,
                                 adjust_time=False)
            # The library opens a snapshot HTTP session we never use (snapshots go through httpx
            # with digest/basic fallback); close it now rather than hold a socket pool per camera.
            await camera._snapshot_client.close()
            self.camera = camera
        return self.camera

    async def close(self) -> None:
        if self.camera is not None:
            with contextlib.suppress(Exception):
                for service in list(self.camera.services.values()):
                    await service.close()
            self.camera = None
        self.profile = None
        self.media_refreshed_at = 0.0

    async def _devicemgmt(self) -> Any:
        camera = await self._ensure_camera()
        return await camera.create_devicemgmt_service()

    async def system_time(self) -> TimeReading:
        """Unauthenticated GetSystemDateAndTime; the camera's clock offset signs every later request."""
        devicemgmt = await self._devicemgmt()
        started = time.monotonic()
        before = dt.datetime.now(dt.UTC)
        async with asyncio.timeout(self.timeout_s):
            try:
                answer = await devicemgmt.authless_GetSystemDateAndTime()
            except Fault as fault:
                if not is_auth_error(fault):
                    raise
                # Some firmware wants auth even for the time: the ONVIF service answered, offset unknown.
                answer = await devicemgmt.GetSystemDateAndTime()
        elapsed = time.monotonic() - started
        offset = _offset_from(answer, before + dt.timedelta(seconds=elapsed / 2))
        if offset is not None:
            self.clock_offset_s = offset
            self._apply_offset(offset)
        return TimeReading(offset, elapsed)

    def _apply_offset(self, offset_s: float) -> None:
        camera = self.camera
        if camera is None:
            return
        diff = dt.timedelta(seconds=offset_s)
        camera.dt_diff = diff
        # Services already built carry their own WS-Security token; update its offset in place
        # instead of rebuilding the zeep clients.
        for service in camera.services.values():
            service.dt_diff = diff
            token = getattr(service.zeep_client, "wsse", None)
            if token is not None and hasattr(token, "dt_diff"):
                token.dt_diff = diff

    async def device_information(self) -> DeviceInfo:
        """Authenticated GetDeviceInformation: proves the credentials (and the signing offset)."""
        devicemgmt = await self._devicemgmt()
        async with asyncio.timeout(self.timeout_s):
            info = await devicemgmt.GetDeviceInformation()
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

    async def _mac(self, devicemgmt: Any) -> str:
        try:
            async with asyncio.timeout(self.timeout_s):
                interfaces = await devicemgmt.GetNetworkInterfaces()
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

    async def refresh_media(self) -> MediaProfile | None:
        """GetServices (else GetCapabilities) for the XAddrs, then profiles and stream/snapshot URIs."""
        camera = await self._ensure_camera()
        devicemgmt = await camera.create_devicemgmt_service()
        async with asyncio.timeout(self.timeout_s * 2):
            await self._update_xaddrs(camera, devicemgmt)
            media = await camera.create_media_service()
            profiles = await media.GetProfiles()
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
            stream = await media.GetStreamUri({
                "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                "ProfileToken": profile.token,
            })
            profile.stream_uri = await self._reachable_url(str(stream.Uri)) if stream and stream.Uri else None
            try:
                snapshot = await media.GetSnapshotUri({"ProfileToken": profile.token})
            except Fault:
                snapshot = None
            uri = getattr(snapshot, "Uri", None) if snapshot is not None else None
            profile.snapshot_uri = await self._reachable_url(str(uri)) if uri else None
        # The media service is only needed for this refresh; keep just device management open.
        media_key = ("media", None)
        service = camera.services.pop(media_key, None)
        if service is not None:
            await service.close()
        self.profile = profile
        self.media_refreshed_at = time.monotonic()
        return profile

    async def _update_xaddrs(self, camera: ONVIFCamera, devicemgmt: Any) -> None:
        xaddrs: dict[str, str] = {}
        try:
            services = await devicemgmt.GetServices({"IncludeCapability": False})
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
            capabilities = await devicemgmt.GetCapabilities({"Category": "All"})
            for name in ("Device", "Media", "Events", "Imaging", "PTZ", "Analytics"):
                capability = getattr(capabilities, name, None)
                xaddr = getattr(capability, "XAddr", None) if capability is not None else None
                if xaddr:
                    xaddrs[_CAPABILITY_NAMESPACES[name]] = str(xaddr)
            self.xaddrs_from = "GetCapabilities"
        camera.xaddrs = {namespace: await self._reachable_url(url) for namespace, url in xaddrs.items()}

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
