"""One shared GStreamer RTSP server with a lazily built H.264 mount per camera, run on its own GLib thread."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import cv2
import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

from simulator.camera import Camera, sub_size  # noqa: E402
from simulator.faults import Fault  # noqa: E402
from simulator.scene import SceneRenderer  # noqa: E402

log = logging.getLogger(__name__)

# Faults after which the running media no longer matches reality and must be rebuilt for new clients.
_RESTART_FAULTS = {Fault.WRONG_RESOLUTION, Fault.LOW_FPS, Fault.RTSP_DEAD, Fault.OFFLINE, Fault.WRONG_CREDENTIALS}


def mount_path(camera: Camera, sub: bool = False) -> str:
    """The main stream's path, or the sub-stream's (half the size each way, ONVIF profile Profile_2)."""
    return f"/cam/{camera.camera_id}/sub" if sub else f"/cam/{camera.camera_id}"


def _role_for(username: str, password: str) -> str:
    """Cameras sharing credentials share a role, because Basic auth is keyed by user:password."""
    return "cred-" + hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()[:16]


class _FramePump:
    """Feeds one media's appsrc at the camera's current frame rate, from GStreamer's streaming thread."""

    def __init__(self, camera: Camera, renderer: SceneRenderer, width: int, height: int, sub: bool) -> None:
        self._camera = camera
        self._renderer = renderer
        self._size = (width, height)
        self._sub = sub
        self._next_due = 0.0

    def on_need_data(self, appsrc: Gst.Element, _length: int) -> None:
        fps = self._camera.stream_fps()
        now = time.monotonic()
        if self._next_due == 0.0:
            self._next_due = now
        # Pace here rather than trusting sink sync: low_fps must really deliver few frames.
        if self._next_due > now:
            time.sleep(self._next_due - now)
        self._next_due = max(self._next_due + 1.0 / fps, time.monotonic() - 1.0)
        size = sub_size(self._camera.stream_resolution()) if self._sub else None
        frame = self._renderer.render(self._camera, size=size)
        if (frame.shape[1], frame.shape[0]) != self._size:
            # The fault changed under a running media; keep the negotiated caps until it is rebuilt.
            frame = cv2.resize(frame, self._size)
        buffer = Gst.Buffer.new_wrapped(frame.tobytes())
        buffer.duration = int(Gst.SECOND / fps)
        appsrc.emit("push-buffer", buffer)


class CameraMediaFactory(GstRtspServer.RTSPMediaFactory):
    """Builds the camera's pipeline on first DESCRIBE; the media is shared by all its clients."""

    def __init__(self, camera: Camera, renderer: SceneRenderer, sub: bool = False) -> None:
        super().__init__()
        self.camera = camera
        self.renderer = renderer
        self.sub = sub
        self.medias: list[GstRtspServer.RTSPMedia] = []
        self._generation = 0
        self.set_shared(True)
        self.connect("media-configure", self._on_media_configure)

    def do_create_element(self, url: Any) -> Gst.Element:
        # A slow camera is slow to DESCRIBE too; this runs on the client's own pool thread, so others go on.
        time.sleep(self.camera.delay_seconds())
        width, height = self.camera.stream_resolution()
        if self.sub:
            width, height = sub_size((width, height))
        rate = Fraction(self.camera.stream_fps()).limit_denominator(1000)
        gop = max(round(self.camera.stream_fps()), 1)
        launch = (
            f"appsrc name=src is-live=true do-timestamp=true format=time block=false "
            f"caps=video/x-raw,format=BGR,width={width},height={height},"
            f"framerate={rate.numerator}/{rate.denominator} "
            "! videoconvert ! video/x-raw,format=I420 "
            f"! x264enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max={gop} pass=quant quantizer=24 "
            "! rtph264pay name=pay0 pt=96 config-interval=1"
        )
        return Gst.parse_launch(launch)

    def do_gen_key(self, url: Any) -> str:
        # A shared media that is shutting down answers 503; a new key makes the next client get a fresh one.
        return f"{url.abspath}#{self._generation}"

    def _on_target_state(self, _media: GstRtspServer.RTSPMedia, state: int) -> None:
        if state == int(Gst.State.NULL):
            self._generation += 1

    def _on_media_configure(self, _factory: Any, media: GstRtspServer.RTSPMedia) -> None:
        appsrc = media.get_element().get_by_name("src")
        caps = appsrc.get_property("caps").get_structure(0)
        pump = _FramePump(self.camera, self.renderer, caps.get_value("width"), caps.get_value("height"), self.sub)
        appsrc.connect("need-data", pump.on_need_data)
        self.medias.append(media)
        media.connect("unprepared", self._on_unprepared)
        media.connect("target-state", self._on_target_state)

    def _on_unprepared(self, media: GstRtspServer.RTSPMedia) -> None:
        if media in self.medias:
            self.medias.remove(media)


class RtspServer:
    """Owns the GLib loop thread; all GStreamer calls are marshalled onto it."""

    def __init__(self, renderer: SceneRenderer, host: str, port: int, extra_hosts: Sequence[str] = ()) -> None:
        """Serve on ``host``:``port``, and on the same port at each of ``extra_hosts`` (the cameras' own
        addresses: a camera's stream URI names its own address, as the agent insists it must)."""
        Gst.init(None)
        self._renderer = renderer
        self._context = GLib.MainContext.new()
        self._loop = GLib.MainLoop.new(self._context, False)
        self._server = GstRtspServer.RTSPServer()
        self._server.set_address(host)
        self._server.set_service(str(port))
        self._auth = GstRtspServer.RTSPAuth()
        self._server.set_auth(self._auth)
        # The default pool serves every client from one thread, so one slow DESCRIBE (pipeline start-up)
        # would stall all other cameras' clients; real cameras are independent of each other.
        self._server.get_thread_pool().set_max_threads(64)
        self._mounts = self._server.get_mount_points()
        self._factories: dict[str, tuple[CameraMediaFactory, CameraMediaFactory]] = {}  # main, sub
        self._mounted: set[str] = set()
        self._known_roles: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="rtsp-glib", daemon=True)
        self._extra_hosts = list(extra_hosts)
        self._extra_servers: list[GstRtspServer.RTSPServer] = []
        self.port = 0

    def start(self) -> int:
        """Bind and start serving; returns the bound port."""
        self._server.attach(self._context)
        self.port = int(self._server.get_bound_port())
        if self.port <= 0:
            raise OSError("RTSP server could not bind its port")
        for host in self._extra_hosts:
            # One more listening address sharing everything else: mounts, credentials, threads, sessions.
            server = GstRtspServer.RTSPServer()
            server.set_address(host)
            server.set_service(str(self.port))
            server.set_auth(self._auth)
            server.set_mount_points(self._mounts)
            server.set_thread_pool(self._server.get_thread_pool())
            server.set_session_pool(self._server.get_session_pool())
            server.attach(self._context)
            if int(server.get_bound_port()) != self.port:
                raise OSError(f"RTSP server could not bind {host}:{self.port}")
            self._extra_servers.append(server)
        cleanup = GLib.timeout_source_new_seconds(2)
        cleanup.set_callback(self._cleanup_sessions)
        cleanup.attach(self._context)
        self._thread.start()
        return self.port

    def _run(self) -> None:
        self._context.push_thread_default()
        self._loop.run()

    def _cleanup_sessions(self, *_args: Any) -> bool:
        self._server.get_session_pool().cleanup()
        return True

    def call_soon(self, function: Callable[[], None]) -> None:
        """Run ``function`` on the GLib thread."""
        def once(*_args: Any) -> bool:
            try:
                function()
            except Exception:
                log.exception("RTSP task failed")
            return False

        source = GLib.idle_source_new()
        source.set_callback(once)
        source.attach(self._context)

    def add_camera(self, camera: Camera) -> None:
        """Register the camera's mount (cheap: no pipeline until someone asks for the stream)."""
        self._factories[camera.camera_id] = (CameraMediaFactory(camera, self._renderer),
                                              CameraMediaFactory(camera, self._renderer, sub=True))
        self._apply_permissions(camera)
        self._sync_mount(camera)

    def _apply_permissions(self, camera: Camera) -> None:
        role = _role_for(camera.config.username, camera.accepted_password())
        if role not in self._known_roles:
            token = GstRtspServer.RTSPToken()
            token.set_string("media.factory.role", role)
            self._auth.add_basic(
                GstRtspServer.RTSPAuth.make_basic(camera.config.username, camera.accepted_password()), token
            )
            self._known_roles.add(role)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role(role, "media.factory.access", True)
        permissions.add_permission_for_role(role, "media.factory.construct", True)
        for factory in self._factories[camera.camera_id]:
            factory.set_permissions(permissions)

    def _sync_mount(self, camera: Camera) -> None:
        should_serve = not (camera.has(Fault.RTSP_DEAD) or camera.has(Fault.OFFLINE))
        for factory in self._factories[camera.camera_id]:
            path = mount_path(camera, factory.sub)
            if should_serve and path not in self._mounted:
                self._mounts.add_factory(path, factory)
                self._mounted.add(path)
            elif not should_serve and path in self._mounted:
                self._mounts.remove_factory(path)
                self._mounted.discard(path)

    def on_fault_changed(self, camera: Camera, fault: Fault | None) -> None:
        """Faults that change caps, credentials or reachability drop current viewers, like a reboot would."""
        if fault is not None and fault not in _RESTART_FAULTS:
            return

        def apply() -> None:
            self._apply_permissions(camera)
            self._sync_mount(camera)
            for factory in self._factories[camera.camera_id]:
                for media in list(factory.medias):
                    media.unprepare()

        self.call_soon(apply)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.call_soon(self._loop.quit)
            self._thread.join(timeout=5)
