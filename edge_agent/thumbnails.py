"""When to send a camera's thumbnail (meaningful change, or every N minutes) and building its message."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from edge_agent import imaging
from edge_agent.checks.base import CameraRuntime
from edge_agent.checks.snapshot import Analysed
from shared.codec import thumbnail_meta
from shared.messages import CameraThumbnail

MAX_WIDTH = imaging.THUMBNAIL_WIDTH
QUALITY = 70


def thumbnail_due(runtime: CameraRuntime, analysed: Analysed, *, change_threshold: float, every_s: float,
                  forced: bool = False, now: float | None = None) -> bool:
    now = time.monotonic() if now is None else now
    if forced or runtime.thumbnail_signature is None or now - runtime.thumbnail_sent_at >= every_s:
        return True
    change = imaging.difference(runtime.thumbnail_signature, analysed.signature)
    return change is None or change >= change_threshold


def render(analysed: Analysed) -> tuple[bytes, int, int]:
    """Blocking (run in the thread pool): the JPEG at most MAX_WIDTH wide."""
    if analysed.frame is None:
        raise ValueError("the snapshot's picture was already let go: the thumbnail comes before the second look")
    return imaging.thumbnail(analysed.frame, MAX_WIDTH, QUALITY)


def builder(agent: str, camera_id: str, jpeg: bytes, width: int, height: int,
            captured_at: datetime) -> Callable[[int, str], CameraThumbnail]:
    def build(seq: int, msg_id: str) -> CameraThumbnail:
        return thumbnail_meta(agent=agent, seq=seq, msg_id=msg_id, ts=captured_at, camera_id=camera_id,
                              jpeg=jpeg, width=width, height=height)
    return build


def mark_sent(runtime: CameraRuntime, analysed: Analysed, now: float | None = None) -> None:
    runtime.thumbnail_signature = analysed.signature
    runtime.thumbnail_sent_at = time.monotonic() if now is None else now
