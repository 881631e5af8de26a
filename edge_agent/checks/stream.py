"""Check: the RTSP stream opens and decodes frames (OpenCV/FFmpeg over TCP), at the profile's size and rate."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

from edge_agent.checks.base import CameraRuntime, CameraTarget, CheckContext, Resources, outcome, skipped
from edge_agent.checks.rtsp import camera_stream_url, without_userinfo
from shared.messages import CheckOutcome, Outcome

# FFmpeg reads this at every open: RTSP over TCP, because UDP through NAT and lossy links gives
# grey smeared frames that look like a camera fault; and a short stream analysis, because FFmpeg's
# default (5 s of probing inside open) would spend most of the probe budget before the first frame.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp|analyzeduration;500000|probesize;65536")

_MAX_FRAMES = 40


@dataclass(frozen=True, slots=True)
class StreamProbe:
    opened: bool
    frames: int = 0
    width: int = 0
    height: int = 0
    fps: float | None = None
    error: str = ""


def probe_stream(url: str, open_ms: int, read_ms: int, probe_s: float) -> StreamProbe:
    """Blocking: open, read frames for ``probe_s``, measure size and rate from the frames' timestamps.

    FFmpeg's interrupt callback enforces both timeouts, so a dead camera cannot hold the thread.
    """
    import cv2

    # One decoder thread: a probe reads ~40 frames, and FFmpeg's default (one thread per core, each
    # with its own frame buffers) multiplies memory and fights the other decodes for the two cores.
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG,
                               [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, open_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, read_ms,
                                cv2.CAP_PROP_N_THREADS, 1])
    try:
        if not capture.isOpened():
            return StreamProbe(False, error="stream did not open")
        frames = 0
        width = height = 0
        stamps: list[float] = []
        walls: list[float] = []
        deadline = time.monotonic() + probe_s
        while frames < _MAX_FRAMES and time.monotonic() < deadline:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            frames += 1
            height, width = frame.shape[:2]
            stamps.append(float(capture.get(cv2.CAP_PROP_POS_MSEC)))
            walls.append(time.monotonic())
        return StreamProbe(True, frames, width, height, _rate(stamps, walls))
    finally:
        capture.release()


def _rate(stamps: list[float], walls: list[float]) -> float | None:
    if len(stamps) < 3:
        return None
    # Presentation timestamps measure the camera's real rate; the first frames arrive in a burst
    # after the open, so wall-clock time is only the fallback.
    span_ms = stamps[-1] - stamps[0]
    if span_ms > 0 and all(b >= a for a, b in itertools.pairwise(stamps)):
        return (len(stamps) - 1) * 1000.0 / span_ms
    span = walls[-1] - walls[1]
    return (len(walls) - 2) / span if span > 0 else None


def with_credentials(url: str, username: str, password: str) -> str:
    if not username:
        return url
    parts = urlsplit(without_userinfo(url))
    return urlunsplit(parts._replace(netloc=f"{quote(username, safe='')}:{quote(password, safe='')}@{parts.netloc}"))


async def decode_stream(target: CameraTarget, runtime: CameraRuntime, resources: Resources) -> CheckOutcome:
    """Decode the camera's stream now (after waiting for a decode slot), judge it, and remember the outcome.

    Called by the decode rotation (edge_agent.decodes) and by check-now, never inside a check cycle.
    """
    # Set before the first await, so the rotation's other workers pick another camera.
    runtime.decoding = True
    try:
        result = await _decode(target, runtime, resources)
    finally:
        runtime.decoding = False
    runtime.stream_result = result
    runtime.decoded_at = time.monotonic()
    return result


async def _decode(target: CameraTarget, runtime: CameraRuntime, resources: Resources) -> CheckOutcome:
    url = camera_stream_url(target, runtime)
    if not url:
        return skipped(StreamDecodes.name, "no stream URI")
    config = resources.config
    timeouts = config.timeouts
    if not target.owns(url):
        # The rtsp check reports it (rtsp_foreign_host); the camera's password never goes there.
        return skipped(StreamDecodes.name, "stream URI points at another host")
    full_url = with_credentials(url, target.username, target.password)
    budget = timeouts.rtsp_open_s + timeouts.rtsp_probe_s + timeouts.rtsp_read_s + 2
    loop = asyncio.get_running_loop()
    name = StreamDecodes.name
    # Waiting for a decode slot is the agent being busy, not the camera being slow: the budget
    # starts when the probe does.
    async with resources.rtsp_slots:
        started = time.monotonic()
        try:
            async with asyncio.timeout(budget):
                probe: StreamProbe = await loop.run_in_executor(
                    resources.rtsp_executor, probe_stream, full_url, int(timeouts.rtsp_open_s * 1000),
                    int(timeouts.rtsp_read_s * 1000), timeouts.rtsp_probe_s,
                )
        except TimeoutError:
            return outcome(name, Outcome.FAIL, "rtsp_timeout", f"stream probe exceeded {budget:g} s",
                           started=started)
    if not probe.opened:
        return outcome(name, Outcome.FAIL, "rtsp_no_frames", "stream did not open in FFmpeg", started=started)
    if probe.frames == 0:
        return outcome(name, Outcome.FAIL, "rtsp_no_frames", "stream opened but no frame decoded", started=started)
    details: dict[str, str | int | float | bool | None] = {
        "frames": probe.frames, "width": probe.width, "height": probe.height,
        "fps": None if probe.fps is None else round(probe.fps, 1),
    }
    profile = runtime.session.profile
    if profile and profile.width and profile.height and (probe.width, probe.height) != (
        profile.width, profile.height
    ):
        return outcome(name, Outcome.WARN, "resolution_mismatch",
                       f"stream is {probe.width}x{probe.height}, profile says {profile.width}x{profile.height}",
                       started=started, actual=f"{probe.width}x{probe.height}",
                       expected=f"{profile.width}x{profile.height}", **details)
    expected_fps = profile.fps if profile else None
    if expected_fps and probe.fps is not None and probe.fps < expected_fps * config.thresholds.fps_ratio:
        return outcome(name, Outcome.WARN, "low_fps",
                       f"stream delivers {probe.fps:.1f} fps, profile says {expected_fps:g}",
                       started=started, expected_fps=expected_fps, **details)
    if expected_fps and probe.fps is None and probe.frames < 3 and expected_fps * timeouts.rtsp_probe_s >= 6:
        return outcome(name, Outcome.WARN, "low_fps",
                       f"only {probe.frames} frame(s) in {timeouts.rtsp_probe_s:g} s, profile says {expected_fps:g}",
                       started=started, expected_fps=expected_fps, **details)
    return outcome(name, Outcome.OK, "ok", "stream decodes", started=started, **details)


class StreamDecodes:
    """Reports the camera's latest decode; the decode itself runs on its own rotation, not in the cycle.

    A decode is seconds of mostly waiting: inside the cycle it held a check slot and set the cycle
    time for the whole fleet. The status therefore carries the latest decode's outcome with its age
    (``decoded_s_ago``); a fresh problem shows in the next cycle's status, at most ``interval_s`` later.
    """

    name: ClassVar[str] = "stream"
    requires: ClassVar[tuple[str, ...]] = ("rtsp",)
    after: ClassVar[tuple[str, ...]] = ()

    async def run(self, ctx: CheckContext) -> CheckOutcome:
        result = ctx.runtime.stream_result
        if result is None:
            return skipped(self.name, "RTSP decode not done yet (it runs on its own rotation)")
        age = round(time.monotonic() - ctx.runtime.decoded_at)
        return result.model_copy(update={"details": {**result.details, "decoded_s_ago": age}})
