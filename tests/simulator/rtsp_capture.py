"""Decode an RTSP stream with OpenCV in a child process (OpenCV holds the GIL while opening a stream)."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class StreamSample:
    """What a test needs from a few seconds of stream, small enough to send between processes."""

    opened: bool
    frame_count: int = 0
    sizes: set[tuple[int, int]] = field(default_factory=set)
    first: np.ndarray | None = None
    second_last: np.ndarray | None = None
    last: np.ndarray | None = None


def capture(url: str, seconds: float) -> StreamSample:
    # As tests/simulator/conftest.py: the agent's options, whoever sets them first.
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp|analyzeduration;500000|probesize;65536")
    import cv2

    video = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    try:
        if not video.isOpened():
            return StreamSample(opened=False)
        sample = StreamSample(opened=True)
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            ok, frame = video.read()
            if not ok:
                break
            sample.frame_count += 1
            sample.sizes.add((frame.shape[1], frame.shape[0]))
            if sample.first is None:
                sample.first = frame
            sample.second_last, sample.last = sample.last, frame
        return sample
    finally:
        video.release()


def capture_many(urls: Sequence[str], seconds: float) -> list[StreamSample]:
    """Capture all streams at once, each in its own process."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(urls), mp_context=context) as pool:
        return list(pool.map(capture, urls, [seconds] * len(urls)))
