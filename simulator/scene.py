"""Renders each camera's scene (cached background + moving car + clock OSD) and applies image faults.

With ``clock_code`` the frame also carries its render time as blocks a benchmark reads back
(simulator.clock_code): the glass-to-glass latency of live view.
"""

from __future__ import annotations

import random
import threading
import time
import zlib
from collections import OrderedDict

import cv2
import numpy as np

from simulator import clock_code as clock_blocks
from simulator.camera import Camera
from simulator.faults import Fault

Frame = np.ndarray
# Western Indonesia Time, which is what the OSD of a camera in Palembang shows.
_WIB_OFFSET_SECONDS = 7 * 3600
_COVER_COLOUR = (38, 52, 61)


def _draw_background(camera_key: str, width: int, height: int) -> Frame:
    """A plausible street scene unique to the camera: sky, buildings with windows, road, textured ground."""
    rng = random.Random(camera_key)
    image = np.empty((height, width, 3), np.uint8)
    horizon = int(height * rng.uniform(0.3, 0.5))
    sky_top = np.array([rng.randint(150, 230), rng.randint(110, 180), rng.randint(60, 120)], np.float32)
    sky_bottom = np.array([rng.randint(200, 255), rng.randint(190, 240), rng.randint(170, 220)], np.float32)
    ramp = np.linspace(0.0, 1.0, horizon, dtype=np.float32)[:, None]
    image[:horizon] = (sky_top * (1 - ramp) + sky_bottom * ramp).astype(np.uint8)[:, None, :]
    ground = (rng.randint(60, 110), rng.randint(90, 130), rng.randint(70, 110))
    image[horizon:] = ground
    x = 0
    while x < width:
        building_width = rng.randint(width // 12, width // 5)
        top = rng.randint(int(horizon * 0.2), horizon - 5)
        colour = (rng.randint(60, 200), rng.randint(60, 200), rng.randint(60, 200))
        cv2.rectangle(image, (x, top), (x + building_width, horizon + 10), colour, -1)
        for wy in range(top + 6, horizon, 14):
            for wx in range(x + 5, x + building_width - 8, 12):
                lit = rng.random() < 0.4
                cv2.rectangle(image, (wx, wy), (wx + 6, wy + 7), (90, 220, 250) if lit else (40, 40, 50), -1)
        x += building_width + rng.randint(0, 12)
    road_top = horizon + (height - horizon) // 3
    cv2.fillPoly(
        image,
        [np.array([[width // 2 - width // 10, road_top], [width // 2 + width // 10, road_top],
                   [width, height], [0, height]], np.int32)],
        (70, 70, 74),
    )
    for lane_y in range(road_top + 8, height, 22):
        cv2.line(image, (width // 2, lane_y), (width // 2, lane_y + 10), (230, 230, 230), 2)
    # Sensor-like noise gives every image real high-frequency detail, which blur detection relies on.
    noise = np.random.default_rng(zlib.crc32(camera_key.encode())).integers(-12, 13, image.shape, np.int16)
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


# (speed in picture widths per second, lane as a share of the height, body and roof colours in BGR).
_CARS = ((1 / 6.0, 0.82, (30, 30, 200), (60, 60, 210)), (1 / (6.0 * 1.618), 0.64, (200, 60, 20), (220, 90, 40)))


class SceneRenderer:
    """Renders frames on demand; backgrounds are cached for recently used cameras only, so idle is cheap."""

    def __init__(self, cached_backgrounds: int = 64, clock_code: bool = False) -> None:
        self.clock_code = clock_code
        self._backgrounds: OrderedDict[tuple[str, int, int], Frame] = OrderedDict()
        self._frozen: dict[tuple[str, int, int], Frame] = {}
        self._capacity = cached_backgrounds
        self._lock = threading.Lock()

    def _background(self, camera: Camera, width: int, height: int) -> Frame:
        key = (camera.camera_id, width, height)
        with self._lock:
            cached = self._backgrounds.get(key)
            if cached is not None:
                self._backgrounds.move_to_end(key)
                return cached
        background = _draw_background(f"{camera.identity.serial}", width, height)
        with self._lock:
            self._backgrounds[key] = background
            while len(self._backgrounds) > self._capacity:
                self._backgrounds.popitem(last=False)
        return background

    def _live_frame(self, camera: Camera, width: int, height: int, now: float) -> Frame:
        frame = self._background(camera, width, height).copy()
        # Two cars at speeds in the golden ratio: a picture never repeats a few laps later (one car alone
        # is back in place every ~6.75 s, and the OSD clock alone is too small to count as motion, so a
        # live camera compared a lap apart looked unchanged).
        for speed, lane, body, roof in _CARS:
            car_x = int((now * width * speed) % (width + 80)) - 80
            car_y = int(height * lane)
            cv2.rectangle(frame, (car_x, car_y), (car_x + 70, car_y + 28), body, -1)
            cv2.rectangle(frame, (car_x + 12, car_y - 14), (car_x + 52, car_y), roof, -1)
        camera_time = time.gmtime(camera.now() + _WIB_OFFSET_SECONDS)
        millis = int((now % 1) * 1000)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", camera_time) + f".{millis:03d} WIB"
        scale = max(width / 900.0, 0.35)
        cv2.putText(frame, stamp, (8, int(24 * scale) + 6), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), max(1, int(2 * scale)), cv2.LINE_AA)
        cv2.putText(frame, camera.identity.name[:48], (8, height - 10), cv2.FONT_HERSHEY_SIMPLEX,
                    scale * 0.8, (255, 255, 255), 1, cv2.LINE_AA)
        if self.clock_code:  # the render time on this machine's clock, not the camera's (clock_wrong)
            clock_blocks.draw(frame, int(now * 1000))
        return frame

    def render(self, camera: Camera, now: float | None = None, size: tuple[int, int] | None = None) -> Frame:
        """The BGR frame the camera sees at ``now`` (wall-clock seconds), after its image faults.

        ``size`` is a sub-stream's (width, height); the main stream's is the camera's resolution.
        """
        now = time.time() if now is None else now
        faults = camera.faults()
        width, height = size or camera.stream_resolution()
        if faults.has(Fault.BLACK):
            return np.zeros((height, width, 3), np.uint8)
        if faults.has(Fault.COVERED):
            return np.full((height, width, 3), _COVER_COLOUR, np.uint8)
        if faults.has(Fault.FROZEN):
            with self._lock:  # per size: the main and the sub-stream freeze on their own pictures
                frozen = self._frozen.get((camera.camera_id, width, height))
            if frozen is None:
                frozen = self._apply_optics(faults.has(Fault.DARK), faults.has(Fault.BLURRED),
                                            self._live_frame(camera, width, height, now))
                with self._lock:
                    self._frozen[(camera.camera_id, width, height)] = frozen
            return frozen
        with self._lock:
            for key in [key for key in self._frozen if key[0] == camera.camera_id]:
                del self._frozen[key]
        return self._apply_optics(faults.has(Fault.DARK), faults.has(Fault.BLURRED),
                                  self._live_frame(camera, width, height, now))

    @staticmethod
    def _apply_optics(dark: bool, blurred: bool, frame: Frame) -> Frame:
        if blurred:
            frame = cv2.GaussianBlur(frame, (0, 0), sigmaX=max(frame.shape[1] / 80.0, 4.0))
        if dark:
            frame = cv2.convertScaleAbs(frame, alpha=0.12, beta=2)
        return frame

    def jpeg(self, camera: Camera, quality: int = 80) -> bytes:
        ok, encoded = cv2.imencode(".jpg", self.render(camera), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return encoded.tobytes()
