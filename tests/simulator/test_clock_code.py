"""The burned-in clock (simulator.clock_code) reads back after what live view does to a frame.

The live-view benchmark reads the render time out of the picture the browser shows; the picture on
the way has been scaled down to the live size and JPEG-encoded at the agent's quality (30 at the
worst, when the budget binds). A reading that is wrong must not pass as right: the check bits catch it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from simulator import clock_code
from simulator.camera import Camera, sub_size
from simulator.scenario import build_camera_configs
from simulator.scene import SceneRenderer

NOW = 1_796_000_000.123  # a frame rendered in 2026


def _camera(resolution: str) -> Camera:
    return Camera(build_camera_configs(1, {"defaults": {"resolution": resolution}})[0])


def _as_live(frame: np.ndarray, width: int, quality: int) -> np.ndarray:
    """What edge_agent/live_view.py sends: scaled to the live width (INTER_AREA), JPEG at ``quality``."""
    height = round(frame.shape[0] * width / frame.shape[1])
    scaled = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", scaled, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    assert decoded is not None
    return decoded


@pytest.mark.parametrize(("resolution", "width", "quality"), [
    ("1920x1080", 640, 70), ("1280x720", 640, 30), ("640x360", 320, 30), ("640x360", 160, 30), ("704x576", 352, 50),
])
def test_the_render_time_reads_back_through_the_live_path(resolution: str, width: int, quality: int) -> None:
    frame = SceneRenderer(clock_code=True).render(_camera(resolution), now=NOW)
    assert clock_code.read(_as_live(frame, width, quality)) == int(NOW * 1000)


def test_the_sub_stream_frame_carries_it_too() -> None:
    camera = _camera("1280x720")
    frame = SceneRenderer(clock_code=True).render(camera, now=NOW, size=sub_size((1280, 720)))
    assert frame.shape[:2] == (360, 640)
    assert clock_code.read(_as_live(frame, 320, 30)) == int(NOW * 1000)


def test_without_the_option_the_picture_has_no_blocks() -> None:
    frame = SceneRenderer().render(_camera("640x360"), now=NOW)
    assert clock_code.read(frame) is None


def test_a_misread_is_not_a_reading() -> None:
    bits = clock_code.bits_of(int(NOW * 1000))
    assert clock_code.value_of(bits) == int(NOW * 1000)
    for flipped in (0, 20, clock_code.DATA_BITS - 1, clock_code.CELLS - 1):
        damaged = list(bits)
        damaged[flipped] ^= 1
        assert clock_code.value_of(damaged) is None
    assert clock_code.value_of(bits[:-1]) is None
