"""RTSP through OpenCV/ffmpeg, and every image fault measured on both snapshot and stream."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from simulator.descriptors import CameraDescriptor
from simulator.testing import FleetClient, start_fleet
from tests.simulator.rtsp_capture import StreamSample, capture, capture_many

IMAGE_FAULTS: dict[str, object] = {
    "cam0002": ["black"],
    "cam0003": ["dark"],
    "cam0004": ["frozen"],
    "cam0005": ["blurred"],
    "cam0006": ["covered"],
    "cam0007": {"wrong_resolution": "320x240"},
    "cam0008": {"low_fps": 3},
    "cam0009": ["rtsp_dead"],
    "cam0010": ["tampered"],
}
CAPTURE_SECONDS = 2.5


@pytest.fixture(scope="module")
def image_fleet() -> Iterator[FleetClient]:
    with start_fleet(10, faults=IMAGE_FAULTS, scenario={"defaults": {"fps": 20}}) as fleet:  # type: ignore[arg-type]
        yield fleet


def snapshot(descriptor: CameraDescriptor) -> np.ndarray:
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, descriptor.snapshot_url, descriptor.username, descriptor.password)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPDigestAuthHandler(manager))
    with opener.open(descriptor.snapshot_url, timeout=10) as response:
        image = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


@pytest.fixture(scope="module")
def streams(image_fleet: FleetClient) -> dict[str, StreamSample]:
    """All cameras captured in parallel, so the whole module pays for one stream start-up."""
    samples = capture_many([camera.rtsp_url_with_credentials for camera in image_fleet.cameras], CAPTURE_SECONDS)
    return {camera.id: sample for camera, sample in zip(image_fleet.cameras, samples, strict=True)}


def last_frame(sample: StreamSample) -> np.ndarray:
    assert sample.opened and sample.last is not None, "stream did not open"
    return sample.last


def gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(gray(image), cv2.CV_64F).var())


def test_healthy_stream_decodes_at_configured_resolution(image_fleet: FleetClient,
                                                         streams: dict[str, StreamSample]) -> None:
    descriptor = image_fleet.camera("cam0001")
    sample = streams["cam0001"]
    assert sample.frame_count >= 10
    assert sample.sizes == {descriptor.resolution}
    assert sample.first is not None
    assert np.abs(sample.first.astype(int) - last_frame(sample).astype(int)).mean() > 0.5, "live scene must move"
    assert gray(last_frame(sample)).std() > 20 and sharpness(last_frame(sample)) > 100


def test_the_sub_stream_is_half_the_size_each_way(image_fleet: FleetClient) -> None:
    descriptor = image_fleet.camera("cam0001")
    sample = capture(descriptor.rtsp_url_with_credentials + "/sub", seconds=1.0)
    width, height = descriptor.resolution
    assert sample.opened and sample.sizes == {(width // 2, height // 2)}


def test_stream_needs_the_cameras_credentials(image_fleet: FleetClient) -> None:
    descriptor = image_fleet.camera("cam0001")
    assert not capture(descriptor.rtsp_url, seconds=0.1).opened
    wrong = descriptor.rtsp_url_with_credentials.replace(descriptor.password, "wrong")
    assert not capture(wrong, seconds=0.1).opened


def test_rtsp_dead_camera_has_no_stream_but_a_snapshot(image_fleet: FleetClient,
                                                       streams: dict[str, StreamSample]) -> None:
    assert not streams["cam0009"].opened
    assert snapshot(image_fleet.camera("cam0009")).size


@pytest.mark.parametrize("source", ["snapshot", "stream"])
def test_image_faults_change_the_image_measurably(image_fleet: FleetClient, streams: dict[str, StreamSample],
                                                  source: str) -> None:
    def image(camera_id: str) -> np.ndarray:
        if source == "snapshot":
            return snapshot(image_fleet.camera(camera_id))
        return last_frame(streams[camera_id])

    healthy = image("cam0001")
    assert gray(image("cam0002")).mean() < 8, "black"
    dark = gray(image("cam0003"))
    assert dark.mean() < 0.3 * gray(healthy).mean() and dark.std() > 1, "dark but not black"
    assert sharpness(image("cam0005")) < 0.1 * sharpness(healthy), "blurred"
    for covered in ("cam0006", "cam0010"):
        assert gray(image(covered)).std() < 3 and sharpness(image(covered)) < 5, "covered: one colour"
    assert image("cam0007").shape[:2] == (240, 320), "wrong resolution"


def test_frozen_frames_are_identical(image_fleet: FleetClient, streams: dict[str, StreamSample]) -> None:
    first, second = snapshot(image_fleet.camera("cam0004")), snapshot(image_fleet.camera("cam0004"))
    assert np.array_equal(first, second)
    sample = streams["cam0004"]
    assert sample.frame_count >= 10 and sample.second_last is not None
    # Constant-quantizer H.264 of an unchanging picture decodes to the same pixels frame after frame.
    assert np.array_equal(sample.second_last, last_frame(sample))


def test_low_fps_delivers_few_frames(streams: dict[str, StreamSample]) -> None:
    assert streams["cam0008"].opened
    assert streams["cam0008"].frame_count <= 0.5 * streams["cam0001"].frame_count


def test_faults_set_at_run_time_change_the_stream() -> None:
    with start_fleet(1, scenario={"defaults": {"fps": 20}}) as fleet:
        descriptor = fleet.cameras[0]
        url = descriptor.rtsp_url_with_credentials
        assert gray(last_frame(capture(url, 0.5))).mean() > 30
        fleet.set_fault(descriptor.id, "black")
        assert gray(last_frame(capture(url, 0.5))).mean() < 8
        fleet.set_fault(descriptor.id, "wrong_credentials", "diganti")
        assert not capture(url, 0.1).opened
        assert capture(url.replace(descriptor.password, "diganti"), 0.1).opened
        fleet.set_fault(descriptor.id, "rtsp_dead")
        assert not capture(url.replace(descriptor.password, "diganti"), 0.1).opened
        assert fleet.clear(descriptor.id).faults == {}
        assert gray(last_frame(capture(url, 0.5))).mean() > 30
