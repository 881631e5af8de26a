"""Runs a fleet of simulated cameras: shared HTTP/RTSP/discovery servers, control API and fault wiring."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import socket
from dataclasses import dataclass, field
from typing import Any

from simulator import onvif_dialects
from simulator.camera import Camera
from simulator.camera_http import CameraHttpHandler
from simulator.control import ControlApi
from simulator.descriptors import CameraDescriptor, FleetDescriptor
from simulator.discovery import DISCOVERY_PORT, DiscoveryResponder
from simulator.faults import Fault, FaultValue, parse_fault_name
from simulator.httpserver import HttpServer
from simulator.onvif_service import Endpoints
from simulator.scenario import build_camera_configs
from simulator.scene import SceneRenderer

log = logging.getLogger(__name__)

# Loopback block the cameras get their own addresses from, so each can be reached as host:port with the
# standard /onvif/device_service path, exactly like a real camera (127.0.0.0/8 is all loopback on Linux).
LOOPBACK_CAMERA_BASE = ipaddress.IPv4Address("127.20.0.0")


@dataclass(slots=True)
class FleetOptions:
    """How to run the fleet; port 0 means "pick a free one" and the chosen port is reported."""

    cameras: int = 1
    host: str = "127.0.0.1"
    http_port: int = 0
    rtsp_port: int = 0
    control_port: int = 0
    discovery_port: int = DISCOVERY_PORT
    multicast: bool = True
    # Give every camera its own loopback address when serving on loopback (ignored otherwise).
    per_camera_addresses: bool = True
    # Or give camera N the address camera_ip_base + N - 1 (the addresses must exist, e.g. netns add_addresses).
    camera_ip_base: str | None = None
    advertise_host: str | None = None
    rtsp: bool = True
    # Burn the render time into every frame as blocks (simulator.clock_code), for the live-view benchmark.
    clock_code: bool = False
    scenario: dict[str, Any] = field(default_factory=dict)


def _primary_address() -> str:
    """The address other hosts would reach us on, for advertising when bound to 0.0.0.0."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _raise_open_file_limit(wanted: int) -> None:
    """Each camera holds a listening socket; the common default soft limit (1024) is too low for 1000."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class Fleet:
    """Start with ``await fleet.start()``, stop with ``await fleet.stop()``; describe() says what is served."""

    def __init__(self, options: FleetOptions) -> None:
        self.options = options
        self.cameras = [Camera(config) for config in build_camera_configs(options.cameras, options.scenario)]
        self._by_id = {camera.camera_id: camera for camera in self.cameras}
        self._addresses: dict[str, str] = {}
        self.renderer = SceneRenderer(clock_code=options.clock_code)
        self._camera_http = HttpServer(self._make_camera_handler())
        self._control_http = HttpServer(ControlApi(self))
        self._discovery = DiscoveryResponder(lambda: self.cameras, self.device_xaddr, self._own_address)
        self._rtsp: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.http_port = 0
        # A second HTTP port for cameras whose snapshots are not on their ONVIF port (dialect snapshot_other_port).
        self.snapshot_port = 0
        self.rtsp_port = 0
        self.control_port = 0
        self.discovery_port = 0
        self.advertised_host = options.advertise_host or (
            _primary_address() if options.host in ("", "0.0.0.0") else options.host
        )

    def _first_camera_address(self) -> ipaddress.IPv4Address | None:
        """Camera N gets this address + N - 1, or None when all cameras share the fleet's address."""
        if self.options.camera_ip_base:
            return ipaddress.IPv4Address(self.options.camera_ip_base)
        try:
            loopback = ipaddress.IPv4Address(self.options.host).is_loopback
        except ValueError:
            return None
        return LOOPBACK_CAMERA_BASE + 1 if self.options.per_camera_addresses and loopback else None

    def _make_camera_handler(self) -> CameraHttpHandler:
        by_ip: dict[str, Camera] = {}
        first = self._first_camera_address()
        if first is not None:
            for camera in self.cameras:
                address = str(first + camera.identity.index - 1)
                self._addresses[camera.camera_id] = address
                by_ip[address] = camera
        return CameraHttpHandler(self._by_id, by_ip, self.renderer, self._endpoints)

    def _own_address(self, camera: Camera) -> str:
        """The camera's own address, where its discovery replies come from ("" when it shares the fleet's)."""
        return self._addresses.get(camera.camera_id, "")

    def camera_host(self, camera: Camera) -> str:
        return self._addresses.get(camera.camera_id, self.advertised_host)

    def _onvif_base(self, camera: Camera, host: str, port: int, by_id: bool) -> str:
        if by_id or (camera.camera_id not in self._addresses and len(self.cameras) > 1):
            return f"http://{host}:{port}/onvif/{camera.camera_id}"
        return f"http://{host}:{port}/onvif"

    def device_xaddr(self, camera: Camera) -> str:
        return self._onvif_base(camera, self.camera_host(camera), self.http_port, False) + "/device_service"

    def rtsp_url(self, camera: Camera) -> str:
        # The camera's own address, like a real camera's: the RTSP server listens there too (start()).
        return f"rtsp://{self.camera_host(camera)}:{self.rtsp_port}/cam/{camera.camera_id}"

    @staticmethod
    def _dialect(camera: Camera) -> onvif_dialects.OnvifDialect:
        return onvif_dialects.resolve(camera.config.dialect, camera.identity.index)

    def snapshot_url(self, camera: Camera, host: str | None = None, port: int | None = None) -> str:
        if self._dialect(camera).snapshot_other_port:
            port = self.snapshot_port
        return f"http://{host or self.camera_host(camera)}:{port or self.http_port}/snapshot/{camera.camera_id}.jpg"

    def _endpoints(self, camera: Camera, local_ip: str, local_port: int, by_id: bool) -> Endpoints:
        """URLs built from the address the client used, as the ONVIF spec asks for GetServices."""
        base = self._onvif_base(camera, local_ip, local_port, by_id)
        return Endpoints(
            ip=self.camera_host(camera),
            device_xaddr=f"{base}/device_service",
            media_xaddr=f"{base}/media_service",
            snapshot_uri=self.snapshot_url(camera, local_ip, local_port),
            stream_uri=self.rtsp_url(camera),
            sub_stream_uri=self.rtsp_url(camera) + "/sub",
        )

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        options = self.options
        _raise_open_file_limit(2 * len(self.cameras) + 256)  # an HTTP and a discovery socket per camera
        self.http_port = await self._camera_http.listen(options.host, options.http_port)
        for address in self._addresses.values():
            await self._camera_http.listen(address, self.http_port)
        if any(self._dialect(camera).snapshot_other_port for camera in self.cameras):
            self.snapshot_port = await self._camera_http.listen(options.host, 0)
            for address in self._addresses.values():
                await self._camera_http.listen(address, self.snapshot_port)
        self.control_port = await self._control_http.listen(options.host or "0.0.0.0", options.control_port)
        if options.rtsp:
            from simulator.rtsp import RtspServer

            # Bound to all addresses, it already serves the cameras' own; else it listens on each of them too.
            wildcard = options.host in ("", "0.0.0.0")
            extra = [] if wildcard else sorted(set(self._addresses.values()) - {options.host})
            self._rtsp = RtspServer(self.renderer, options.host or "0.0.0.0", options.rtsp_port, extra)
            for camera in self.cameras:
                self._rtsp.add_camera(camera)
            self.rtsp_port = await asyncio.to_thread(self._rtsp.start)
        multicast = options.multicast and options.discovery_port == DISCOVERY_PORT
        self.discovery_port = await self._discovery.start(options.host, options.discovery_port, multicast)
        for camera in self.cameras:
            camera.add_listener(self._on_fault_changed)
        self._discovery.hello_all()

    async def stop(self) -> None:
        """Say Bye for every camera first, so listeners learn the cameras went away on purpose."""
        self._discovery.bye_all()
        await asyncio.sleep(0.05)
        self._discovery.close()
        await self._camera_http.close()
        await self._control_http.close()
        if self._rtsp is not None:
            await asyncio.to_thread(self._rtsp.stop)

    def _on_fault_changed(self, camera: Camera, fault: Fault | None) -> None:
        if self._rtsp is not None:
            self._rtsp.on_fault_changed(camera, fault)
        if fault in (None, Fault.OFFLINE, Fault.ONVIF_DEAD):
            gone = camera.has(Fault.OFFLINE) or camera.has(Fault.ONVIF_DEAD)
            announce = self._discovery.bye if gone else self._discovery.hello
            if self._loop is not None:
                self._loop.call_soon_threadsafe(announce, camera)

    # --- control (FaultController protocol); called on the fleet's event loop ---

    def set_faults(self, camera_id: str, faults: dict[str, FaultValue]) -> None:
        camera = self._by_id[camera_id]
        for name, value in faults.items():
            camera.set_fault(parse_fault_name(name), value)

    def clear_faults(self, camera_id: str, fault_name: str | None) -> None:
        camera = self._by_id[camera_id]
        camera.clear_fault(parse_fault_name(fault_name) if fault_name else None)

    def camera_json(self, camera_id: str) -> dict[str, Any] | None:
        camera = self._by_id.get(camera_id)
        return self.describe_camera(camera).to_json() if camera else None

    def describe_json(self) -> dict[str, Any]:
        return self.describe().to_json()

    def describe_camera(self, camera: Camera) -> CameraDescriptor:
        identity = camera.identity
        host = self.camera_host(camera)
        return CameraDescriptor(
            id=camera.camera_id,
            index=identity.index,
            name=identity.name,
            host=host,
            onvif_port=self.http_port,
            onvif_xaddr=self.device_xaddr(camera),
            media_xaddr=self.device_xaddr(camera).replace("/device_service", "/media_service"),
            snapshot_url=self.snapshot_url(camera),
            rtsp_url=self.rtsp_url(camera),
            username=camera.config.username,
            password=camera.config.password,
            faults=camera.faults().as_json(),
            manufacturer=identity.manufacturer,
            model=identity.model,
            firmware=identity.firmware,
            serial=identity.serial,
            mac=identity.mac,
            endpoint_reference=identity.endpoint_reference,
            regency_code=identity.regency_code,
            resolution=camera.config.resolution,
            fps=camera.config.fps,
            snapshot_auth=camera.config.snapshot_auth,
            dialect=self._dialect(camera).name,
        )

    def describe(self) -> FleetDescriptor:
        control_host = self.advertised_host
        return FleetDescriptor(
            host=self.advertised_host,
            http_port=self.http_port,
            rtsp_port=self.rtsp_port,
            discovery_port=self.discovery_port,
            multicast=self._discovery.multicast,
            control_url=f"http://{control_host}:{self.control_port}",
            cameras=[self.describe_camera(camera) for camera in self.cameras],
        )
