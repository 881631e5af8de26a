"""One camera's ONVIF conversation on onvif-zeep-async's parsed WSDLs (shared through edge_agent.onvif_pool).

A camera keeps only its WS-Security token (and HTTP Digest credentials, answered only when the camera
challenges for them), one authenticated zeep client and two service proxies, and
re-reads profiles and URIs every ``onvif_refresh_s`` or after a failure. Tolerant like Home
Assistant's integration of what firmware really does: a device service away from
``/onvif/device_service`` or on https (the XAddr discovery found is used as is), the time demanded
with authentication, no UTC time, GetServices missing, one optional call failing (each call's failure
stays that call's: a broken GetSnapshotUri keeps the profile and stream URI already read), service
and media URIs naming an address the agent cannot reach or its own box.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from zeep.exceptions import Fault, TransportError

from edge_agent import arp
from edge_agent.addresses import host_port_of, names_this_box, tcp_reachable, with_host
from edge_agent.onvif_errors import ONVIF_ERRORS, OnvifFailure, classify
from edge_agent.onvif_lib import SERVICES, ONVIFError, UsernameDigestTokenDtDiff, bracket_host, is_auth_error
from edge_agent.onvif_pool import REPLY_DATE, BoundedTransport, OnvifPool
from edge_agent.onvif_replies import (
    DeviceInfo,
    MediaProfile,
    best_profile,
    clock_offset,
    device_info,
    http_date_offset,
    live_profile,
    mac_from,
    media_profile,
    media_uri,
)
from edge_agent.scrub import scrub

log = logging.getLogger(__name__)

@dataclass(slots=True)
class TimeReading:
    offset_s: float | None
    elapsed_s: float


_MEDIA_NS = SERVICES["media"]["ns"]
# The most requests a media refresh makes: GetServices, GetCapabilities, GetProfiles, GetStreamUri, GetSnapshotUri,
# and GetStreamUri of the live-view profile.
_MEDIA_REQUESTS = 6


@dataclass(slots=True)
class _Service:
    """One camera's proxies for one ONVIF service: ``authless`` (time) and ``auth`` (everything else)."""

    authless: Any
    auth: Any
    xaddr: str


def _binding(name: str) -> str:
    return "{%s}%s" % (SERVICES[name]["ns"], SERVICES[name]["binding"])  # noqa: UP031 - braces are literal


def _refused_credentials(error: BaseException) -> bool:
    """A SOAP NotAuthorized fault or an HTTP 401/403: how firmware says "authenticate first"."""
    if isinstance(error, Fault):
        return is_auth_error(error)
    return isinstance(error, TransportError) and error.status_code in (401, 403)


@dataclass(slots=True)
class OnvifSession:
    """A camera's ONVIF state; create once per camera and reuse across checks.

    ``device_url`` is the device service URL when known (the XAddr discovery found, scheme and path
    included); otherwise ``http(s)://host:port/onvif/device_service``. Without a ``pool`` the session
    makes its own (for one-off use such as ``scc-agent probe``) and closes it in ``close``.
    """

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    timeout_s: float = 8.0
    pool: OnvifPool | None = None
    device_url: str = ""
    clock_offset_s: float | None = None
    device: DeviceInfo | None = None
    profile: MediaProfile | None = None
    # Live view's width ([live] max_width; 0: no live view) and the profile chosen for it (the sub-stream
    # when the camera has one near that width; None: the main profile).
    live_width: int = 0
    live: MediaProfile | None = None
    media_refreshed_at: float = 0.0
    # Calls of the latest media refresh that failed while the refresh went on (GetStreamUri, GetSnapshotUri).
    media_failures: dict[str, OnvifFailure] = field(default_factory=dict)
    xaddrs_from: str = ""
    xaddrs: dict[str, str] = field(default_factory=dict)
    _own_pool: bool = field(default=False, init=False, repr=False)
    _token: Any = field(default=None, init=False, repr=False)
    _digest: BoundedTransport | None = field(default=None, init=False, repr=False)
    _devicemgmt: _Service | None = field(default=None, init=False, repr=False)
    # Settled once per media refresh: advertised URL -> the URL to use (one log line per URL), and
    # advertised host:port -> accepts connections (one probe per address, however many services share it).
    _settled: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _reachable: dict[tuple[str, int], bool] = field(default_factory=dict, init=False, repr=False)

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
        if self._digest is None and self.username:
            self._digest = pool.digest_transport(self.username, self.password or "")
        authless = (await pool.authless_client(name)).create_service(_binding(name), xaddr)
        auth = (await pool.client(name, self._wsse(), self._digest)).create_service(_binding(name), xaddr)
        return _Service(authless, auth, xaddr)

    def device_xaddr(self) -> str:
        """Where the device service is: ``device_url``, else the ONVIF default path on host and port."""
        if self.device_url:
            return self.device_url
        scheme = "https" if self.port == 443 else "http"
        return f"{scheme}://{bracket_host(self.host)}:{self.port}/onvif/device_service"

    async def close(self) -> None:
        """Forget the proxies (rebuilt cheaply on next use) and the media profile."""
        self._devicemgmt = self._digest = None
        self.profile = self.live = None
        self.media_refreshed_at = 0.0
        if self._own_pool and self.pool is not None:
            with contextlib.suppress(Exception):
                await self.pool.close()
            self.pool, self._own_pool = None, False

    async def _device_service(self) -> _Service:
        if self._devicemgmt is None:
            self._devicemgmt = await self._service("devicemgmt", self.device_xaddr())
        return self._devicemgmt

    async def system_time(self) -> TimeReading:
        """GetSystemDateAndTime, unauthenticated as the spec says (authenticated when the firmware demands
        it); the camera's clock offset then signs every later request."""
        devicemgmt = await self._device_service()
        started = time.monotonic()
        before = dt.datetime.now(dt.UTC)
        async with asyncio.timeout(self.timeout_s):
            try:
                answer = await devicemgmt.authless.GetSystemDateAndTime()
            except (Fault, TransportError) as error:
                if not _refused_credentials(error) or not self.username:
                    raise
                answer = await self._signed_time(devicemgmt)
        elapsed = time.monotonic() - started
        offset = clock_offset(answer, before + dt.timedelta(seconds=elapsed / 2))
        if offset is not None:
            self.clock_offset_s = offset
            self._apply_offset(offset)
        return TimeReading(offset, elapsed)

    async def _signed_time(self, devicemgmt: _Service) -> Any:
        """GetSystemDateAndTime for firmware that wants credentials even for the time (by SOAP fault or HTTP
        401): signed with the offset known so far, and if refused again, once more with the clock the
        refusal's HTTP Date header shows (a camera whose clock reset on reboot)."""
        try:
            return await devicemgmt.auth.GetSystemDateAndTime()
        except (Fault, TransportError) as error:
            if not _refused_credentials(error):
                raise
            offset = http_date_offset(REPLY_DATE.get(), dt.datetime.now(dt.UTC))
            known = self.clock_offset_s or 0.0
            if offset is None or abs(offset - known) < 60:
                raise  # the clock is not why: the credentials are wrong
            log.info("%s: time refused without a valid signature; signing with the clock its HTTP Date shows "
                     "(%+.0f s)", self.host, offset)
            self.clock_offset_s = offset
            self._wsse()
            self._apply_offset(offset)
            return await devicemgmt.auth.GetSystemDateAndTime()

    def _apply_offset(self, offset_s: float) -> None:
        # The token is shared by this camera's zeep clients: updating it re-signs every later request.
        if self._token is not None:
            self._token.dt_diff = dt.timedelta(seconds=offset_s) if offset_s else None

    async def device_information(self) -> DeviceInfo:
        """Authenticated GetDeviceInformation: proves the credentials (and the signing offset)."""
        devicemgmt = await self._device_service()
        answer = await self._request(devicemgmt.auth.GetDeviceInformation())
        device = device_info(answer, mac=self.device.mac if self.device else "")
        if not device.mac:
            device.mac = await self._mac(devicemgmt)
        self.device = device
        return device

    async def _mac(self, devicemgmt: _Service) -> str:
        """The camera's MAC from GetNetworkInterfaces, else from the ARP table; optional, so a failure only
        leaves it unknown."""
        try:
            mac = mac_from(await self._request(devicemgmt.auth.GetNetworkInterfaces()))
        except ONVIF_ERRORS as error:
            log.debug("%s: no MAC from GetNetworkInterfaces: %s", self.host, classify(error).message)
            mac = ""
        return mac or arp.mac_for(self.host)

    def media_stale(self, max_age_s: float) -> bool:
        return self.profile is None or time.monotonic() - self.media_refreshed_at > max_age_s

    async def _request(self, call: Any) -> Any:
        """One ONVIF request bounded by ``timeout_s``: a slow camera is judged per answer, like the other checks."""
        async with asyncio.timeout(self.timeout_s):
            return await call

    async def refresh_media(self) -> MediaProfile | None:
        """GetServices (else GetCapabilities) for the XAddrs, then profiles and stream/snapshot URIs.

        Without service addresses or profiles the refresh fails (raises); a failed GetStreamUri or
        GetSnapshotUri leaves that URI unknown, is kept in ``media_failures``, and the rest is kept.
        Each request has its own ``timeout_s``; the whole refresh is bounded by the sum (one
        ``timeout_s`` per request it may make, plus one for the advertised-address probes).
        """
        devicemgmt = await self._device_service()
        self._settled.clear()
        self._reachable.clear()
        failures: dict[str, OnvifFailure] = {}
        async with asyncio.timeout(self.timeout_s * (_MEDIA_REQUESTS + 1)):
            await self._update_xaddrs(devicemgmt)
            media_xaddr = self.xaddrs.get(_MEDIA_NS)
            if not media_xaddr:
                raise ONVIFError(f"Device doesn't support service: media with namespace {_MEDIA_NS}")
            # Only needed for this refresh, so not kept: proxies are cheap to build from the shared WSDL.
            media = (await self._service("media", media_xaddr)).auth
            profiles = await self._request(media.GetProfiles())
            chosen = best_profile(profiles)
            if chosen is None:
                self.profile, self.live, self.media_failures = None, None, failures
                return None
            profile = media_profile(chosen)
            setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
            profile.stream_uri = await self._uri("GetStreamUri", media.GetStreamUri(
                StreamSetup=setup, ProfileToken=profile.token), ("rtsp", "rtsps"), failures)
            profile.snapshot_uri = await self._uri("GetSnapshotUri", media.GetSnapshotUri(
                ProfileToken=profile.token), ("http", "https"), failures)
            self.live = await self._live_profile(media, profiles, profile, setup)
        self.profile, self.media_failures = profile, failures
        self.media_refreshed_at = time.monotonic()
        return profile

    async def _live_profile(self, media: Any, profiles: Any, main: MediaProfile,
                            setup: dict[str, Any]) -> MediaProfile | None:
        """The profile live view streams (None: the main one), with its stream URI.

        Its GetStreamUri failing is no finding of the checks (they use the main profile): live view then
        falls back to the main stream.
        """
        chosen = live_profile(profiles, self.live_width) if self.live_width else None
        if chosen is None:
            return None
        live = media_profile(chosen)
        if live.token == main.token:
            return None
        live.stream_uri = await self._uri("GetStreamUri", media.GetStreamUri(
            StreamSetup=setup, ProfileToken=live.token), ("rtsp", "rtsps"), {})
        return live if live.stream_uri else None

    async def _uri(self, name: str, call: Any, schemes: tuple[str, ...],
                   failures: dict[str, OnvifFailure]) -> str | None:
        """One optional URI call: its URI (settled to a usable address), or None with its failure recorded.

        A URI of another scheme than ``schemes`` (firmware answering GetSnapshotUri with its RTSP URL) is
        that call's malformed answer.
        """
        try:
            uri = media_uri(await self._request(call))
            if uri and urlsplit(uri).scheme.lower() not in schemes:
                raise ValueError(f"{name} returned a {urlsplit(uri).scheme or 'relative'} URI, not {'/'.join(schemes)}")
        except ONVIF_ERRORS as error:
            failures[name] = classify(error)
            log.info("%s: %s failed: %s", self.host, name, failures[name].message)
            return None
        return await self._reachable_url(uri) if uri else None

    async def _update_xaddrs(self, devicemgmt: _Service) -> None:
        xaddrs: dict[str, str] = {}
        try:
            services = await self._request(devicemgmt.auth.GetServices(IncludeCapability=False))
            for service in services or []:
                namespace, xaddr = getattr(service, "Namespace", None), getattr(service, "XAddr", None)
                if namespace and xaddr:
                    xaddrs[str(namespace).strip()] = str(xaddr).strip()
            self.xaddrs_from = "GetServices"
        except ONVIF_ERRORS as error:
            if _refused_credentials(error) or isinstance(error, TimeoutError):
                raise
            log.debug("%s: GetServices unusable (%s); using GetCapabilities", self.host, classify(error).message)
        if not xaddrs:
            capabilities = await self._request(devicemgmt.auth.GetCapabilities(Category="All"))
            for name in ("Device", "Media", "Events", "Imaging", "PTZ", "Analytics"):
                xaddr = getattr(getattr(capabilities, name, None), "XAddr", None)
                if xaddr:
                    xaddrs[_CAPABILITY_NAMESPACES[name]] = str(xaddr).strip()
            self.xaddrs_from = "GetCapabilities"
        self.xaddrs = {namespace: await self._reachable_url(url) for namespace, url in xaddrs.items()}

    async def _reachable_url(self, url: str) -> str:
        """``url``, or the same URL on the camera's address when the host it names is unusable from here:
        the agent's own box (``localhost``, 127/8), or an address that does not accept a connection.

        Cameras behind NAT or with a stale configuration advertise addresses the agent cannot reach.
        Settled once per URL per media refresh.
        """
        settled = self._settled.get(url)
        if settled is not None:
            return settled
        where = host_port_of(url)
        scheme = urlsplit(url).scheme.lower()
        fixed = url
        if where is not None and where[0] != self.host:
            host, port = where
            if names_this_box(host, self.host) or not await self._accepts(host, port):
                # Through NAT the camera's web services answer where we reached them; other schemes
                # (rtsp) keep their port.
                service_port = (host_port_of(self.device_xaddr()) or (self.host, self.port))[1]
                fixed = with_host(url, self.host, service_port if scheme in ("http", "https") else port)
                log.info("%s: advertised %s is unusable from here; using %s", self.host, scrub(url), scrub(fixed))
        self._settled[url] = fixed
        return fixed

    async def _accepts(self, host: str, port: int) -> bool:
        known = self._reachable.get((host, port))
        if known is None:
            known = self._reachable[(host, port)] = await tcp_reachable(host, port, min(self.timeout_s, 1.5))
        return known


_CAPABILITY_NAMESPACES = {
    "Device": "http://www.onvif.org/ver10/device/wsdl",
    "Media": "http://www.onvif.org/ver10/media/wsdl",
    "Events": "http://www.onvif.org/ver10/events/wsdl",
    "Imaging": "http://www.onvif.org/ver20/imaging/wsdl",
    "PTZ": "http://www.onvif.org/ver20/ptz/wsdl",
    "Analytics": "http://www.onvif.org/ver20/analytics/wsdl",
}
