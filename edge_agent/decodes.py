"""The RTSP decode rotation: every camera's stream decoded in turn, on its own slots, beside the check cycles.

Why a rotation of its own: a decode is ~2-3 s of mostly waiting (FFmpeg's open, then real-time
frames). Decoding inside the check cycle made a camera waiting for a decode slot hold a check slot,
so decodes set the cycle time of the whole fleet (1,000 cameras, every 10th cycle, 2 slots: 100 s).
Here ``rtsp_concurrency`` workers take the camera whose latest decode is oldest, at most once per
``decode_every_s`` each; the outcome is kept on the camera and reported by the next cycles' status
(the ``stream`` check, with ``decoded_s_ago``). A camera is decoded at least every
``max(decode_every_s, cameras x decode time / rtsp_concurrency)``; ``period_s`` is what it really took.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from edge_agent.checks.base import CameraRuntime, CameraTarget
from edge_agent.checks.stream import decode_stream
from edge_agent.scheduler import CameraChecker

log = logging.getLogger(__name__)

# Longest idle wait: new cameras (or ones whose DESCRIBE answers again) are picked up this soon.
_IDLE_S = 5.0


class DecodeRotation:
    """``rtsp_concurrency`` workers decoding the most overdue camera next; cameras whose DESCRIBE failed wait."""

    def __init__(self, checker: CameraChecker, targets: Callable[[], Mapping[str, CameraTarget]]) -> None:
        self.checker = checker
        self._targets = targets
        self.decoded = 0
        self.period_s: float | None = None  # the latest full rotation's duration
        self._round_started = time.monotonic()
        self._round_count = 0

    def _next(self) -> tuple[CameraTarget, CameraRuntime] | float:
        """The camera to decode now, or how long to wait until one is due."""
        every = self.checker.config.schedule.decode_every_s
        now = time.monotonic()
        best: tuple[CameraTarget, CameraRuntime] | None = None
        wait = _IDLE_S
        for camera_id, target in self._targets().items():
            runtime = self.checker.runtimes.get(camera_id)
            # Not checked yet, DESCRIBE failing, or being decoded (by another worker or check-now).
            if runtime is None or not runtime.rtsp_ok or runtime.decoding:
                continue
            if runtime.decoded_at and now - runtime.decoded_at < every:
                wait = min(wait, runtime.decoded_at + every - now)
                continue
            if best is None or runtime.decoded_at < best[1].decoded_at:
                best = (target, runtime)
        return best if best is not None else max(wait, 0.05)

    async def _worker(self) -> None:
        while True:
            picked = self._next()
            if isinstance(picked, float):
                await asyncio.sleep(picked)
                continue
            target, runtime = picked
            try:
                await decode_stream(target, runtime, self.checker.resources)
            except asyncio.CancelledError:
                raise
            except Exception:
                # decode_stream turns camera failures into outcomes; this is a bug, not a camera.
                log.exception("%s: stream decode crashed", target.camera_id)
                runtime.decoded_at = time.monotonic()  # do not retry it in a tight loop
            self._count()

    def _count(self) -> None:
        self.decoded += 1
        self._round_count += 1
        cameras = len(self._targets())
        if cameras and self._round_count >= cameras:
            self.period_s = time.monotonic() - self._round_started
            every = self.checker.config.schedule.decode_every_s
            level = logging.WARNING if self.period_s > 3 * every else logging.INFO
            log.log(level, "decode rotation: %d decodes for %d camera(s) in %.0f s (decode_every_s %g)",
                    self._round_count, cameras, self.period_s, every)
            self._round_started, self._round_count = time.monotonic(), 0

    async def run(self) -> None:
        """Decode until cancelled."""
        workers = self.checker.config.schedule.rtsp_concurrency
        await asyncio.gather(*(self._worker() for _ in range(workers)))
