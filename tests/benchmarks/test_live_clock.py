"""The browser's reader of the burned-in clock (benchmarks/live_clock.js) agrees with the simulator's
writer through what live view does to a frame (scaled to the live size, JPEG), in real Chromium, and
says null rather than a wrong time when the picture has no clock."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from playwright import sync_api as playwright_api

from benchmarks.bench_live_glass import CLOCK_JS
from simulator import clock_code
from simulator.camera import Camera
from simulator.scenario import build_camera_configs
from simulator.scene import SceneRenderer
from tests.fixtures.browser import chromium

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
NOW = 1_796_000_000.456


@pytest.fixture(scope="module")
def page() -> Iterator[playwright_api.Page]:
    with chromium() as browser:
        yield browser.new_page()


def _jpeg(frame: np.ndarray, width: int, quality: int) -> bytes:
    height = round(frame.shape[0] * width / frame.shape[1])
    ok, jpeg = cv2.imencode(".jpg", cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return jpeg.tobytes()


def _read_in_browser(page: playwright_api.Page, jpeg: bytes) -> object:
    page.set_content(f'<img id="p" src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}">')
    picture = page.locator("#p")
    picture.evaluate("image => image.decode()")
    return picture.evaluate(CLOCK_JS, {"once": True, "layout": clock_code.layout()})


@pytest.mark.parametrize(("resolution", "width", "quality"), [("1280x720", 640, 70), ("640x360", 320, 30)])
def test_the_browser_reads_the_render_time_back(page: playwright_api.Page, resolution: str, width: int,
                                                quality: int) -> None:
    camera = Camera(build_camera_configs(1, {"defaults": {"resolution": resolution}})[0])
    frame = SceneRenderer(clock_code=True).render(camera, now=NOW)
    assert _read_in_browser(page, _jpeg(frame, width, quality)) == int(NOW * 1000)


def test_a_picture_without_the_clock_reads_as_null(page: playwright_api.Page) -> None:
    camera = Camera(build_camera_configs(1)[0])
    assert _read_in_browser(page, _jpeg(SceneRenderer().render(camera, now=NOW), 640, 70)) is None
