"""The cameras' shared HTTP port: ONVIF SOAP endpoints and JPEG snapshots, routed by path or local address."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

from simulator.camera import Camera
from simulator.faults import Fault
from simulator.httpauth import DigestAuthenticator
from simulator.httpserver import Request, Response
from simulator.onvif_service import Endpoints, OnvifService, malformed
from simulator.scene import SceneRenderer
from simulator.soap import NOT_WELL_FORMED, SOAP_CONTENT_TYPE, SoapParseError, parse_request

_ONVIF_PATH = re.compile(r"^/onvif(?:/(?P<camera>[A-Za-z0-9_-]+))?/(?P<service>device_service|media_service)$")
_SNAPSHOT_PATH = re.compile(r"^/snapshot(?:/(?P<camera>[A-Za-z0-9_-]+))?\.jpg$")


@dataclass(frozen=True, slots=True)
class Route:
    camera: Camera
    kind: str  # "device_service", "media_service" or "snapshot"
    by_id: bool


class CameraHttpHandler:
    """Resolves which camera a request is for, applies that camera's faults, then serves it."""

    def __init__(
        self,
        cameras_by_id: dict[str, Camera],
        cameras_by_ip: dict[str, Camera],
        renderer: SceneRenderer,
        endpoints_for: Callable[[Camera, str, int, bool], Endpoints],
    ) -> None:
        self._by_id = cameras_by_id
        self._by_ip = cameras_by_ip
        self._renderer = renderer
        self._endpoints_for = endpoints_for
        self._services = {camera_id: OnvifService(camera) for camera_id, camera in cameras_by_id.items()}
        self._authenticators: dict[str, DigestAuthenticator] = {}
        self._cached: dict[str, tuple[float, bytes]] = {}  # camera id -> (monotonic time made, JPEG)

    def _resolve(self, request: Request) -> Route | None:
        for pattern, kind_group in ((_ONVIF_PATH, "service"), (_SNAPSHOT_PATH, None)):
            match = pattern.match(request.path)
            if match is None:
                continue
            kind = match.group(kind_group) if kind_group else "snapshot"
            camera_id = match.group("camera")
            if camera_id is not None:
                camera = self._by_id.get(camera_id)
                return Route(camera, kind, True) if camera else None
            camera = self._by_ip.get(request.local[0])
            if camera is None and len(self._by_id) == 1:
                camera = next(iter(self._by_id.values()))
            return Route(camera, kind, False) if camera else None
        return None

    async def __call__(self, request: Request) -> Response:
        route = self._resolve(request)
        if route is None:
            return Response.text(404, "not found")
        camera = route.camera
        if camera.has(Fault.OFFLINE):
            return Response.dropped()
        delay = camera.delay_seconds()
        if delay:
            await asyncio.sleep(delay)
        if route.kind == "snapshot":
            return await self._snapshot(camera, request)
        return self._onvif(camera, route, request)

    def _onvif(self, camera: Camera, route: Route, request: Request) -> Response:
        if camera.has(Fault.ONVIF_DEAD):
            return Response.text(503, "service unavailable")
        if request.method != "POST":
            return Response(405, b"SOAP endpoints accept POST only", headers=[("Allow", "POST")])
        service = self._services[camera.camera_id]
        if service.dialect.http_digest:
            refused = self._digest_refusal(camera, request)
            if refused is not None:
                return refused
        try:
            soap_request = parse_request(request.body)
        except SoapParseError:
            return Response(NOT_WELL_FORMED.http_status, NOT_WELL_FORMED.render(), SOAP_CONTENT_TYPE)
        endpoints = self._endpoints_for(camera, request.local[0], request.local[1], route.by_id)
        reply = service.handle(soap_request, endpoints)
        if camera.has(Fault.MALFORMED_SOAP):
            reply = malformed(reply)
        # Real firmware stamps replies with its own clock, which a client can read when the time is refused.
        return Response(reply.status, reply.body, SOAP_CONTENT_TYPE,
                        headers=[("Date", formatdate(camera.now(), usegmt=True))])

    def _authenticator(self, camera: Camera) -> DigestAuthenticator:
        authenticator = self._authenticators.get(camera.camera_id)
        if authenticator is None:
            authenticator = DigestAuthenticator(f"IP Camera({camera.identity.serial[-8:]})")
            self._authenticators[camera.camera_id] = authenticator
        return authenticator

    def _digest_refusal(self, camera: Camera, request: Request) -> Response | None:
        """A 401 with a Digest challenge (and Hikvision's HTML page) unless the request carries valid Digest."""
        authenticator = self._authenticator(camera)
        verdict = authenticator.check_digest(request.header("authorization"), request.method, camera.config.username,
                                             camera.accepted_password(), request.target)
        if verdict == "ok":
            return None
        page = (b"<?xml version='1.0' encoding='utf-8'?> <head> <title>Unauthorized</title> </head> <body> "
                b"<h2>Access Error: 401 -- Unauthorized</h2> <pre/> </body>")
        challenge = authenticator.challenge(stale=verdict == "stale")
        return Response(401, page, "text/html", headers=[("WWW-Authenticate", challenge)])

    async def _snapshot(self, camera: Camera, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(405, b"GET only", headers=[("Allow", "GET, HEAD")])
        authenticator = self._authenticator(camera)
        authorization = request.header("authorization")
        username, password = camera.config.username, camera.accepted_password()
        if camera.config.snapshot_auth == "basic":
            if not authenticator.check_basic(authorization, username, password):
                return Response(401, b"unauthorized", headers=[("WWW-Authenticate", authenticator.basic_challenge())])
        else:
            verdict = authenticator.check_digest(authorization, request.method, username, password, request.target)
            if verdict != "ok":
                challenge = authenticator.challenge(stale=verdict == "stale")
                return Response(401, b"unauthorized", headers=[("WWW-Authenticate", challenge)])
        if camera.has(Fault.SNAPSHOT_DEAD):
            return Response.text(500, "snapshot unavailable")
        return Response(200, await self._picture(camera), "image/jpeg", headers=[("Cache-Control", "no-store")])

    async def _picture(self, camera: Camera) -> bytes:
        """A fresh picture, or with ``snapshot_cached`` the one made less than that many seconds ago."""
        cached_s = camera.snapshot_cached_s()
        made = self._cached.get(camera.camera_id)
        if cached_s > 0 and made is not None and time.monotonic() - made[0] < cached_s:
            return made[1]
        jpeg = await asyncio.to_thread(self._renderer.jpeg, camera)
        if cached_s > 0:
            self._cached[camera.camera_id] = (time.monotonic(), jpeg)
        else:
            self._cached.pop(camera.camera_id, None)
        return jpeg
