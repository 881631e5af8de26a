"""Pure image functions: cheap JPEG decode, frame statistics, quality verdicts and thumbnails."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.config import ThresholdSection

JPEG_MAGIC = b"\xff\xd8\xff"
# Statistics are computed at this width whatever the camera's resolution, so thresholds (notably
# the Laplacian's, which grows with resolution) mean the same thing on every camera.
ANALYSIS_WIDTH = 320
# Frames compared for "frozen" and "changed" are tiny: cheap to keep per camera (~2 kB each).
SIGNATURE_SIZE = (64, 36)
# A stuck picture, even re-encoded at JPEG quality 40, moves no signature cell by more than ~2 grey
# levels; a car, a person or a ticking OSD clock moves some cells by 10 or more while the mean over
# the whole picture stays below frozen_diff (measured on the simulator's street scenes: mean 0.04-0.45).
MOTION_CELL_DIFF = 6.0

# Decoding, resizing and encoding run on the agent's own small thread pool (schedule.workers): OpenCV's
# internal threads on top of it would only oversubscribe the two cores and hold a stack per thread.
cv2.setNumThreads(1)

Frame = np.ndarray


@dataclass(frozen=True, slots=True)
class FrameStats:
    width: int
    height: int
    mean: float
    std: float
    laplacian_var: float


@dataclass(frozen=True, slots=True)
class Verdict:
    reason: str
    message: str


def is_jpeg(data: bytes) -> bool:
    return data.startswith(JPEG_MAGIC)


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the JPEG's SOF marker without decoding, or None if there is none."""
    index = 2
    length = len(data)
    while index + 9 < length:
        if data[index] != 0xFF:
            index += 1
            continue
        marker = data[index + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            index += 2
            continue
        (segment,) = struct.unpack_from(">H", data, index + 2)
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack_from(">HH", data, index + 5)
            return width, height
        index += 2 + segment
    return None


def _reduced_flag(width: int) -> int:
    # libjpeg scales by 1/2, 1/4, 1/8 during decoding for almost nothing: decode only what we need.
    for factor, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                         (2, cv2.IMREAD_REDUCED_COLOR_2)):
        if width // factor >= ANALYSIS_WIDTH:
            return flag
    return cv2.IMREAD_COLOR


def decode_jpeg(data: bytes) -> tuple[Frame, tuple[int, int]] | None:
    """(frame at least ANALYSIS_WIDTH wide when the source is, source (width, height)), or None."""
    if not is_jpeg(data):
        return None
    size = jpeg_size(data)
    flag = _reduced_flag(size[0]) if size else cv2.IMREAD_COLOR
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if frame is None:
        return None
    if size is None:
        size = (frame.shape[1], frame.shape[0])
    return frame, size


def analysis_gray(frame: Frame) -> Frame:
    """Grayscale at ANALYSIS_WIDTH (never upscaled)."""
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    width = gray.shape[1]
    if width > ANALYSIS_WIDTH:
        height = max(1, round(gray.shape[0] * ANALYSIS_WIDTH / width))
        gray = cv2.resize(gray, (ANALYSIS_WIDTH, height), interpolation=cv2.INTER_AREA)
    return gray


def signature(gray: Frame) -> Frame:
    return cv2.resize(gray, SIGNATURE_SIZE, interpolation=cv2.INTER_AREA)


def difference(a: Frame | None, b: Frame | None) -> float | None:
    """Mean absolute difference of two signatures in grey levels (None when not comparable)."""
    if a is None or b is None or a.shape != b.shape:
        return None
    return float(cv2.absdiff(a, b).mean())


def moved(a: Frame | None, b: Frame | None) -> bool:
    """True when some part of the picture clearly changed (a signature cell by more than MOTION_CELL_DIFF)."""
    if a is None or b is None or a.shape != b.shape:
        return False
    return float(cv2.absdiff(a, b).max()) > MOTION_CELL_DIFF


def frame_stats(gray: Frame, source_size: tuple[int, int]) -> FrameStats:
    mean, std = cv2.meanStdDev(gray)
    laplacian = cv2.Laplacian(gray, cv2.CV_64F)
    return FrameStats(
        width=source_size[0],
        height=source_size[1],
        mean=float(mean[0][0]),
        std=float(std[0][0]),
        laplacian_var=float(laplacian.var()),
    )


def identical(first: bytes, second: bytes, first_gray: Frame | None, second_gray: Frame | None) -> bool:
    """The second look's rule: two snapshots of one check, seconds apart, are the very same picture.

    Stricter than the rule across checks (``difference``/``moved`` against ``frozen_diff``), because it
    has far less time to work with: it asks for the same JPEG bytes, or analysis greys (ANALYSIS_WIDTH,
    ``analysis_gray``) equal at every pixel. A live camera never gives that a couple of seconds apart:
    its sensor's noise alone changes some of the ~57,600 analysis pixels by a grey level, and its OSD
    clock (seconds, often more) changes tens of them by a hundred. A stuck encoder sends the same frame
    again, and a camera that re-encodes one stuck frame gets the same bytes or the same decoded pixels.
    No tolerance on purpose: a near-identical pair (a quiet scene behind strong noise reduction, no
    OSD) is left to the comparison across checks, which has an interval of drift to see; the error this
    rule can make is to miss a freeze for one check, never to call a live picture frozen.
    """
    if first == second:
        return True
    if first_gray is None or second_gray is None or first_gray.shape != second_gray.shape:
        return False
    return not np.any(cv2.absdiff(first_gray, second_gray))


def judge(stats: FrameStats, change: float | None, limits: ThresholdSection, *, motion: bool = False,
          still_for: float | None = None) -> Verdict | None:
    """The most telling image problem, or None for a healthy image.

    "Frozen" has two sources, decided here only:

    | evidence | frozen when | finds a freeze |
    |---|---|---|
    | ``change``/``motion``: this check's snapshot against the previous check's | ``change`` <= ``frozen_diff`` and no ``motion`` | at the second check after it |
    | ``still_for``: a second snapshot of this check, that many seconds later (``identical``) | not None | at the first check after it |

    ``motion`` (see ``moved``) vetoes the first: a quiet scene with one moving thing is live. The second
    needs no veto: ``identical`` only says yes to the very same picture.

    Order matters: a black or covered image is also dark, blurred and unchanged, and the badge
    should name the cause an operator acts on.
    """
    if stats.mean <= limits.black_mean and stats.std <= max(limits.covered_std, 4.0):
        return Verdict("black", f"image is black (mean luma {stats.mean:.1f})")
    if stats.std <= limits.covered_std:
        return Verdict("covered", f"image is uniform, no detail (luma std {stats.std:.1f}): lens covered?")
    if stats.mean <= limits.dark_mean:
        return Verdict("dark", f"image is dark (mean luma {stats.mean:.1f})")
    if stats.laplacian_var <= limits.blur_laplacian:
        return Verdict("blurred", f"image is blurred (Laplacian variance {stats.laplacian_var:.0f})")
    if change is not None and change <= limits.frozen_diff and not motion:
        return Verdict("frozen", f"image unchanged since the previous check (change {change:.2f})")
    if still_for is not None:
        return Verdict("frozen", f"image identical in two snapshots {still_for:.1f} s apart")
    return None


THUMBNAIL_WIDTH = 320


def fit_width(frame: Frame, max_width: int = THUMBNAIL_WIDTH) -> Frame:
    """The frame scaled down to at most ``max_width`` wide (as it is when narrower)."""
    height, width = frame.shape[:2]
    if width <= max_width:
        return frame
    size = (max_width, max(1, round(height * max_width / width)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def thumbnail(frame: Frame, max_width: int = THUMBNAIL_WIDTH, quality: int = 70) -> tuple[bytes, int, int]:
    """A JPEG at most ``max_width`` wide (about 10 kB at 320x180)."""
    frame = fit_width(frame, max_width)
    height, width = frame.shape[:2]
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes(), width, height
