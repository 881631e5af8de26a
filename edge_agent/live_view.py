"""Live view on demand: one upstream per camera while a viewer lease holds, JPEG frames within a budget.

Central asks with ``live_start`` (a lease of ``lease_s`` seconds named by ``command_id``, renewed by
repeating it) and ends a lease with ``live_stop``. A camera is streamed while at least one of its leases
holds, so viewers behind different central processes share the one stream; it stops when the last
lease ends or expires (the viewer's tab closed without a goodbye), after ``[live] max_duration_s``, or
when the agent stops. Each stream's last message (``ended`` or ``failed`` with the reason) says why.

Frames go out QoS 0 on ``scc/v1/live/<agent>/<camera>`` straight through the MQTT client, never
through the outbox: a late frame is worth nothing. The budget (``[live] max_kbps``) is shared by the
streams running: each one sends at most ``max_fps`` and no faster than its share of the budget allows
for the size of its frames; when even one frame a second does not fit, the JPEG quality goes down.
Central may set a lower budget for this agent's link (``max_kbps`` in ``live_start``, from its
``[live_view] agent_kbps``): the lower of the two holds.
See docs/live-view.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_agent.checks.base import CameraRuntime, CameraTarget
from edge_agent.checks.rtsp import camera_stream_url, without_userinfo
from edge_agent.checks.stream import with_credentials
from edge_agent.config import LiveSection
from edge_agent.scrub import scrub
from shared import codec, topics
from shared.messages import Command, CommandName, LiveFrame, LiveState, StreamProfile, new_message_id, utc_now

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 15
MIN_QUALITY = 30
# Frames further apart than this mean the budget binds hard: lower the quality rather than the rate.
SLOWEST_INTERVAL_S = 1.0
# A still is for detail: high quality, stepped down only when the picture would not fit in one message.
STILL_QUALITY = 90
MAX_STILL_SIDE = 4096
MAX_STILL_BYTES = codec.MAX_PAYLOAD_BYTES - 8192  # room for the framing and the JSON header

Publish = Callable[[str, bytes], bool]
Camera = Callable[[str], tuple[CameraTarget, CameraRuntime | None] | None]
Reason = Callable[[str], str]


def live_stream_url(
    target: CameraTarget, runtime: CameraRuntime | None
) -> tuple[str | None, StreamProfile, str]:
    """The RTSP URI live view reads, which stream that is (sent with each frame), and a line for the log.

    The configured ``rtsp_url`` when there is one (the operator's choice), else the ONVIF profile chosen
    for live view (``OnvifSession.live``: the sub-stream nearest ``[live] max_width``; "main" when that
    is the main profile itself), else the main profile the checks use.
    """
    if target.rtsp_url or runtime is None:
        return target.rtsp_url, StreamProfile.RTSP_URL, "the configured rtsp_url"
    live, profile = runtime.session.live, runtime.session.profile
    if live is not None and live.stream_uri:
        kind = StreamProfile.MAIN if profile is not None and live.token == profile.token else StreamProfile.SUB
        return (live.stream_uri, kind,
                f"ONVIF profile {live.token} ({live.width}x{live.height}, chosen for live view)")  # fmt: skip
    size = f", {profile.width}x{profile.height}" if profile and profile.width else ""
    return (camera_stream_url(target, runtime), StreamProfile.MAIN,
            f"ONVIF profile {profile.token if profile else '?'} (main{size})")  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Opened:
    """A camera's opened capture and which of its streams it reads."""

    capture: Any
    profile: StreamProfile


@dataclass(slots=True)
class _Stream:
    camera_id: str
    started: float
    leases: dict[str, float] = field(default_factory=dict)  # lease id -> monotonic expiry
    stop: threading.Event = field(default_factory=threading.Event)
    why_stopped: str = "viewer_left"
    thread: threading.Thread | None = None


class LiveView:
    """The agent's live streams; ``handle`` takes live commands, ``expire`` runs every second or so."""

    def __init__(self, agent: str, settings: LiveSection, camera: Camera, reason: Reason, publish: Publish,
                 open_ms: int, read_ms: int) -> None:
        self.agent = agent
        self.settings = settings
        self.camera = camera
        self.reason = reason
        self.publish = publish
        self.open_ms = open_ms
        self.read_ms = read_ms
        self.central_kbps: int | None = None  # central's budget for this link, from the latest live_start
        self._streams: dict[str, _Stream] = {}
        self._stills: set[str] = set()  # cameras whose still is being taken; it answers every asker
        self._lock = threading.Lock()

    # --- leases (called on the agent's loop) --------------------------------------------------

    def handle(self, command: Command) -> None:
        camera_id = command.camera_id
        if camera_id is None:
            log.warning("live command %s without a camera; ignored", command.command_id)
            return
        if command.name is CommandName.LIVE_STOP:
            self._end_lease(camera_id, command.command_id)
            return
        if command.name is CommandName.SNAPSHOT_NOW:
            self._start_still(camera_id)
            return
        if command.max_kbps and command.max_kbps != self.central_kbps:
            self.central_kbps = command.max_kbps
            log.info("central's live-view budget for this agent: %d kbit/s (own [live] max_kbps %d; the lower holds)",
                     command.max_kbps, self.settings.max_kbps)
        now = time.monotonic()
        lease_until = now + (command.lease_s or DEFAULT_LEASE_S)
        with self._lock:
            stream = self._streams.get(camera_id)
            if stream is not None:
                stream.leases[command.command_id] = lease_until
                return
            refusal = self._refusal(camera_id)
            if refusal is not None:
                stream = None
            else:
                stream = self._streams[camera_id] = _Stream(camera_id, now, {command.command_id: lease_until})
        if stream is None:
            assert refusal is not None
            self._send_end(camera_id, LiveState.FAILED, *refusal)
            return
        log.info("live view of %s starts for %s (%s)", camera_id, command.requested_by or "central",
                 command.command_id)
        stream.thread = threading.Thread(target=self._run, args=(stream,), name=f"live-{camera_id}", daemon=True)
        stream.thread.start()

    def _start_still(self, camera_id: str) -> None:
        with self._lock:
            if camera_id in self._stills:
                return
            refusal = self._refusal(camera_id, streams=False)
            if refusal is None:
                self._stills.add(camera_id)
        if refusal is not None:
            self._send_end(camera_id, LiveState.FAILED, *refusal, still=True)
            return
        threading.Thread(target=self._take_still, args=(camera_id,), name=f"still-{camera_id}", daemon=True).start()

    def _refusal(self, camera_id: str, streams: bool = True) -> tuple[str, str] | None:
        if not self.settings.enabled:
            return "live_disabled", "live view is switched off on this agent ([live] enabled = false)"
        if self.camera(camera_id) is None:
            return "unknown_camera", f"this agent does not know camera {camera_id!r}"
        if streams and len(self._streams) >= self.settings.max_streams:
            return "live_busy", f"{len(self._streams)} live streams already run (at most {self.settings.max_streams})"
        return None

    def _end_lease(self, camera_id: str, lease: str) -> None:
        with self._lock:
            stream = self._streams.get(camera_id)
            if stream is None:
                return
            stream.leases.pop(lease, None)
            if not stream.leases:
                stream.why_stopped = "viewer_left"
                stream.stop.set()

    def expire(self) -> None:
        """End streams whose leases all lapsed or that ran past the maximum duration."""
        now = time.monotonic()
        with self._lock:
            for stream in self._streams.values():
                stream.leases = {lease: until for lease, until in stream.leases.items() if until > now}
                if not stream.leases:
                    stream.why_stopped = "viewer_left"
                    stream.stop.set()
                elif now - stream.started > self.settings.max_duration_s:
                    stream.why_stopped = "max_duration"
                    stream.stop.set()

    def stop_all(self, timeout_s: float = 5.0) -> None:
        with self._lock:
            streams = list(self._streams.values())
            for stream in streams:
                stream.why_stopped = "agent_stopping"
                stream.stop.set()
        for stream in streams:
            if stream.thread is not None:
                stream.thread.join(timeout_s)

    @property
    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._streams)

    # --- one stream (its own thread) -----------------------------------------------------------

    def _run(self, stream: _Stream) -> None:
        try:
            state, reason, text = self._stream(stream)
        except Exception as error:  # the thread's end must be told to the viewers whatever happened
            log.exception("live view of %s crashed", stream.camera_id)
            state, reason, text = LiveState.FAILED, "live_error", scrub(f"{type(error).__name__}: {error}")
        with self._lock:
            self._streams.pop(stream.camera_id, None)
        log.info("live view of %s ended: %s", stream.camera_id, reason)
        self._send_end(stream.camera_id, state, reason, text)

    def _stream(self, stream: _Stream) -> tuple[LiveState, str, str]:
        opened = self._open(stream.camera_id)
        if isinstance(opened, tuple):
            return LiveState.FAILED, *opened
        try:
            return self._send_frames(stream, opened)
        finally:
            opened.capture.release()

    def _open(self, camera_id: str, still: bool = False) -> _Opened | tuple[str, str]:
        """The camera's opened capture (a still: the main stream, for detail), or (reason, text) saying why
        there is none."""
        import cv2

        found = self.camera(camera_id)
        if found is None:
            return "unknown_camera", "the camera left this agent's inventory"
        target, runtime = found
        if still:
            url = camera_stream_url(target, runtime) if runtime is not None else target.rtsp_url
            profile, source = (StreamProfile.RTSP_URL, "the configured rtsp_url") if target.rtsp_url \
                else (StreamProfile.MAIN, "the main stream")
        else:
            url, profile, source = live_stream_url(target, runtime)
        if not url:
            return self._camera_reason(camera_id, "no_stream_uri"), \
                "no RTSP address known for this camera yet (ONVIF has not answered)"
        capture = cv2.VideoCapture(with_credentials(url, target.username, target.password), cv2.CAP_FFMPEG,
                                   [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.open_ms,
                                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.read_ms, cv2.CAP_PROP_N_THREADS, 1])
        if not capture.isOpened():
            capture.release()
            return self._camera_reason(camera_id, "rtsp_no_frames"), "the stream did not open"
        log.info("%s of %s reads %s: %s", "still" if still else "live view", camera_id, source,
                 scrub(without_userinfo(url)))
        return _Opened(capture, profile)

    def _send_frames(self, stream: _Stream, opened: _Opened) -> tuple[LiveState, str, str]:
        import cv2

        capture = opened.capture
        quality = self.settings.jpeg_quality
        next_send = 0.0
        seq = 0
        topic = topics.live_frames(self.agent, stream.camera_id)
        while not stream.stop.is_set():
            ok, frame = capture.read()
            if not ok or frame is None:
                return LiveState.FAILED, self._camera_reason(stream.camera_id, "rtsp_no_frames"), \
                    "the stream stopped delivering frames"
            now = time.monotonic()
            if now < next_send:
                continue  # keep reading at the camera's rate so the picture sent is the newest
            height, width = frame.shape[:2]
            if width > self.settings.max_width:
                height = max(1, round(height * self.settings.max_width / width))
                width = self.settings.max_width
                frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
            encoded, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not encoded:
                continue
            jpeg = buffer.tobytes()
            interval = self._interval(len(jpeg))
            if interval > SLOWEST_INTERVAL_S and quality > MIN_QUALITY:
                quality = max(MIN_QUALITY, quality - 10)
            seq += 1
            meta = LiveFrame(agent=self.agent, seq=seq, msg_id=new_message_id(), ts=utc_now(),
                             camera_id=stream.camera_id, state=LiveState.FRAME, width=width, height=height,
                             size_bytes=len(jpeg), fps=round(min(self.settings.max_fps, 1 / interval), 2),
                             profile=opened.profile)
            self.publish(topic, codec.encode_live(meta, jpeg))
            next_send = now + interval
        return LiveState.ENDED, stream.why_stopped, ""

    # --- one full-resolution still (its own thread) -------------------------------------------

    def _take_still(self, camera_id: str) -> None:
        try:
            failure = self._still(camera_id)
        except Exception as error:  # the asker waits for an answer whatever happened
            log.exception("still of %s crashed", camera_id)
            failure = "live_error", scrub(f"{type(error).__name__}: {error}")
        finally:
            with self._lock:
                self._stills.discard(camera_id)
        if failure is not None:
            log.info("still of %s failed: %s", camera_id, failure[0])
            self._send_end(camera_id, LiveState.FAILED, *failure, still=True)

    def _still(self, camera_id: str) -> tuple[str, str] | None:
        """Send one frame at the camera's own size; (reason, text) when there is none to send."""
        import cv2

        opened = self._open(camera_id, still=True)
        if isinstance(opened, tuple):
            return opened
        try:
            ok, frame = opened.capture.read()
        finally:
            opened.capture.release()
        if not ok or frame is None:
            return self._camera_reason(camera_id, "rtsp_no_frames"), "the stream gave no frame"
        height, width = frame.shape[:2]
        if max(width, height) > MAX_STILL_SIDE:  # the contract's bound; cameras beyond 4K are scaled to it
            scale = MAX_STILL_SIDE / max(width, height)
            width, height = max(1, round(width * scale)), max(1, round(height * scale))
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        quality = STILL_QUALITY
        while True:
            encoded, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
            jpeg = buffer.tobytes() if encoded else b""
            if jpeg and len(jpeg) <= MAX_STILL_BYTES:
                break
            if quality <= MIN_QUALITY:
                return "still_too_large", f"a {width}x{height} JPEG does not fit in one message"
            quality = max(MIN_QUALITY, quality - 15)
        meta = LiveFrame(agent=self.agent, seq=1, msg_id=new_message_id(), ts=utc_now(), camera_id=camera_id,
                         state=LiveState.FRAME, width=width, height=height, size_bytes=len(jpeg), still=True,
                         profile=opened.profile)
        with self._lock:  # before the answer: an asker who reacts to it at once gets a still of their own
            self._stills.discard(camera_id)
        self.publish(topics.live_frames(self.agent, camera_id), codec.encode_live(meta, jpeg))
        log.info("still of %s sent: %dx%d, %d bytes at quality %d", camera_id, width, height, len(jpeg), quality)
        return None

    def _interval(self, frame_bytes: int) -> float:
        """Seconds until the next frame: the rate cap, or the stream's share of the budget, whichever is slower."""
        with self._lock:
            running = max(1, len(self._streams))
        share_bytes_per_s = self.budget_kbps * 1000 / 8 / running
        return max(1 / self.settings.max_fps, frame_bytes / share_bytes_per_s)

    @property
    def budget_kbps(self) -> int:
        """The link's budget for all streams: the agent's own, or central's when that is lower."""
        own = self.settings.max_kbps
        return min(own, self.central_kbps) if self.central_kbps else own

    def _camera_reason(self, camera_id: str, fallback: str) -> str:
        """The camera's current reason when its checks found a problem, else ``fallback``."""
        current = self.reason(camera_id)
        return current if current and current != "ok" else fallback

    def _send_end(self, camera_id: str, state: LiveState, reason: str, text: str, still: bool = False) -> None:
        meta = LiveFrame(agent=self.agent, seq=0, msg_id=new_message_id(), ts=utc_now(), camera_id=camera_id,
                         state=state, reason=reason, message=text[:256], still=still)
        self.publish(topics.live_frames(self.agent, camera_id), codec.encode_live(meta))
