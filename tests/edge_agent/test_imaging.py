"""Image verdicts on synthetic frames: black, covered, dark, blurred and frozen, at their thresholds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.checks.snapshot import analyse
from edge_agent.config import ThresholdSection
from edge_agent.imaging import (
    ANALYSIS_WIDTH,
    FrameStats,
    analysis_gray,
    decode_jpeg,
    difference,
    frame_stats,
    identical,
    is_jpeg,
    jpeg_size,
    judge,
    signature,
    thumbnail,
)

LIMITS = ThresholdSection()


def scene(width: int = 640, height: int = 360, seed: int = 1) -> np.ndarray:
    """A street-like BGR scene: gradient sky, blocks with edges, some sensor noise."""
    rng = np.random.default_rng(seed)
    frame = np.zeros((height, width, 3), np.uint8)
    frame[:] = np.linspace(60, 200, width, dtype=np.uint8)[None, :, None]
    for _ in range(40):
        x, y = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        w, h = int(rng.integers(10, width // 6)), int(rng.integers(10, height // 4))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(frame, (x, y), (x + w, y + h), colour, -1)
    noise = rng.normal(0, 4, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def stats_of(frame: np.ndarray) -> FrameStats:
    gray = analysis_gray(frame)
    return frame_stats(gray, (frame.shape[1], frame.shape[0]))


def verdict(frame: np.ndarray, previous: np.ndarray | None = None, limits: ThresholdSection = LIMITS) -> str:
    change = None
    if previous is not None:
        change = difference(signature(analysis_gray(previous)), signature(analysis_gray(frame)))
    result = judge(stats_of(frame), change, limits)
    return result.reason if result else "ok"


def with_mean(frame: np.ndarray, mean: float) -> np.ndarray:
    """The same scene scaled to a given mean luma (a night scene, a weak IR illuminator)."""
    gray_mean = float(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).mean())
    return np.clip(frame.astype(np.float64) * (mean / gray_mean), 0, 255).astype(np.uint8)


def test_a_healthy_scene_passes_and_a_changing_one_is_not_frozen() -> None:
    first, second = scene(seed=1), scene(seed=2)
    stats = stats_of(first)
    assert stats.mean > LIMITS.dark_mean and stats.std > LIMITS.covered_std
    assert stats.laplacian_var > LIMITS.blur_laplacian
    assert verdict(first) == "ok"
    assert verdict(second, previous=first) == "ok"


def test_frozen_means_the_same_picture_not_a_quiet_scene() -> None:
    still = scene(seed=3)
    assert verdict(still, previous=still) == "frozen"
    # A stuck frame re-encoded by the camera or a recorder (JPEG quality 85) is still the same picture.
    ok, encoded = cv2.imencode(".jpg", still, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    reencoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    assert reencoded is not None
    assert verdict(np.asarray(reencoded, np.uint8), previous=still) == "frozen"
    # An empty car park at night is a live picture: sensor noise alone must not raise "frozen".
    rng = np.random.default_rng(9)
    live = np.clip(still + rng.normal(0, 1.0, still.shape), 0, 255).astype(np.uint8)
    assert verdict(live, previous=still) == "ok"
    # A person walking through a corner of the picture is a change.
    moved = still.copy()
    cv2.rectangle(moved, (20, 40), (160, 300), (20, 20, 220), -1)
    assert verdict(moved, previous=still) == "ok"


def night_scene() -> np.ndarray:
    """A dark street with sharp detail (lamp posts), so only the darkness is at fault."""
    night = with_mean(scene(), 26)
    for x in range(0, night.shape[1], 16):
        cv2.line(night, (x, 0), (x, night.shape[0] - 1), (110, 110, 110), 1)
    return night


@pytest.mark.parametrize(("name", "make", "expected"), [
    ("all zero", lambda: np.zeros((360, 640, 3), np.uint8), "black"),
    ("black with sensor noise", lambda: np.clip(np.random.default_rng(1).normal(4, 1.5, (360, 640, 3)), 0, 255)
     .astype(np.uint8), "black"),
    ("lens cap on a lit sensor", lambda: np.full((360, 640, 3), 128, np.uint8), "covered"),
    ("hand over the lens", lambda: np.clip(np.random.default_rng(2).normal(90, 1.0, (360, 640, 3)), 0, 255)
     .astype(np.uint8), "covered"),
    ("night without IR", night_scene, "dark"),
    ("night without IR, soft", lambda: with_mean(scene(), 30), "dark"),
    ("out of focus", lambda: cv2.GaussianBlur(scene(), (0, 0), 6), "blurred"),
    ("dirty dome", lambda: cv2.GaussianBlur(with_mean(scene(), 120), (0, 0), 4), "blurred"),
])
def test_image_faults_on_synthetic_frames(name: str, make: object, expected: str) -> None:
    frame = make()  # type: ignore[operator]
    assert verdict(frame) == expected, f"{name}: {stats_of(frame)}"


def test_resolution_does_not_change_the_verdict() -> None:
    # Statistics are taken at ANALYSIS_WIDTH, so a 1080p camera is judged like a CIF one.
    small = scene(320, 180, seed=4)
    large = cv2.resize(small, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    assert analysis_gray(large).shape[1] == ANALYSIS_WIDTH
    assert verdict(small) == verdict(large) == "ok"
    blurred_large = cv2.GaussianBlur(large, (0, 0), 30)
    assert verdict(blurred_large) == "blurred"


def stats(mean: float, std: float, laplacian: float) -> FrameStats:
    return FrameStats(width=640, height=360, mean=mean, std=std, laplacian_var=laplacian)


@pytest.mark.parametrize(("frame_stats_", "change", "expected"), [
    # black: mean at or below black_mean (10) while nearly uniform
    (stats(10.0, 3.0, 0.0), None, "black"),
    (stats(10.1, 3.0, 0.0), None, "covered"),  # just above black: uniform but not black
    (stats(10.0, 4.0, 0.0), None, "black"),  # sensor noise up to std 4 is still black
    (stats(10.0, 4.1, 500.0), None, "dark"),  # a dark scene with detail is dark, not black
    # covered: std at or below covered_std (3) whatever the brightness
    (stats(200.0, 3.0, 0.0), None, "covered"),
    (stats(200.0, 3.1, 500.0), None, "ok"),
    # dark: mean at or below dark_mean (45)
    (stats(45.0, 20.0, 500.0), None, "dark"),
    (stats(45.1, 20.0, 500.0), None, "ok"),
    # blurred: Laplacian variance at or below blur_laplacian (40)
    (stats(120.0, 20.0, 40.0), None, "blurred"),
    (stats(120.0, 20.0, 40.1), None, "ok"),
    # frozen: change at or below frozen_diff (0.35); unknown change (first frame) is not frozen
    (stats(120.0, 20.0, 500.0), 0.35, "frozen"),
    (stats(120.0, 20.0, 500.0), 0.36, "ok"),
    (stats(120.0, 20.0, 500.0), None, "ok"),
    # the cause an operator acts on wins: black over covered, dark, blurred and frozen
    (stats(2.0, 0.5, 0.0), 0.0, "black"),
    (stats(120.0, 1.0, 0.0), 0.0, "covered"),
    (stats(30.0, 20.0, 5.0), 0.0, "dark"),
    (stats(120.0, 20.0, 5.0), 0.0, "blurred"),
])
def test_thresholds_are_inclusive_and_ordered(frame_stats_: FrameStats, change: float | None, expected: str) -> None:
    result = judge(frame_stats_, change, LIMITS)
    assert (result.reason if result else "ok") == expected
    if result is not None:
        assert result.message  # an operator-readable sentence, never empty


def test_configured_thresholds_are_used() -> None:
    night = night_scene()
    assert verdict(night) == "dark"
    assert verdict(night, limits=ThresholdSection(dark_mean=20.0)) == "ok"
    soft = cv2.GaussianBlur(scene(), (0, 0), 2)
    laplacian = stats_of(soft).laplacian_var
    assert verdict(soft, limits=ThresholdSection(blur_laplacian=laplacian - 1)) == "ok"
    assert verdict(soft, limits=ThresholdSection(blur_laplacian=laplacian)) == "blurred"


def test_jpeg_path_from_bytes_to_verdict_and_thumbnail() -> None:
    frame = cv2.resize(scene(seed=5), (1920, 1080))
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    data = encoded.tobytes()
    assert is_jpeg(data) and jpeg_size(data) == (1920, 1080)
    decoded = decode_jpeg(data)
    assert decoded is not None
    small, size = decoded
    assert size == (1920, 1080) and ANALYSIS_WIDTH <= small.shape[1] < 1920  # reduced decode
    first = analyse(data, None)
    assert first is not None and first.change is None and first.stats.width == 1920
    again = analyse(data, first.signature)
    assert again is not None and again.change == 0.0
    assert judge(again.stats, again.change, LIMITS).reason == "frozen"  # type: ignore[union-attr]
    jpeg, width, height = thumbnail(frame)
    assert (width, height) == (320, 180) and is_jpeg(jpeg) and len(jpeg) < 30_000
    assert decode_jpeg(b"not a jpeg") is None and decode_jpeg(b"\xff\xd8\xff" + b"\0" * 100) is None


def _jpeg(frame: np.ndarray, quality: int = 80) -> bytes:
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return encoded.tobytes()


def _second_look(first: bytes, second: bytes) -> bool:
    a, b = analyse(first, None), analyse(second, None)
    assert a is not None and b is not None
    return identical(a.jpeg, b.jpeg, a.gray, b.gray)


def test_second_look_calls_the_very_same_picture_identical_and_nothing_else() -> None:
    still = cv2.resize(scene(seed=4), (1920, 1080))
    stuck = _jpeg(still)
    # A stuck encoder sends the same bytes again, or re-encodes the one frame it holds: the same pixels.
    assert _second_look(stuck, stuck)
    assert _second_look(stuck, _jpeg(still)) and _jpeg(still) is not stuck
    # A live sensor a few seconds later: faint noise (0.5 grey level per pixel, strong noise reduction)
    # on the very same scene, no OSD clock, no motion: still not identical.
    rng = np.random.default_rng(11)
    faint = np.clip(np.rint(still + rng.normal(0, 0.5, still.shape)), 0, 255).astype(np.uint8)
    assert not _second_look(stuck, _jpeg(faint))
    # One OSD digit changing (a 1080p camera's small clock) is enough.
    ticked = still.copy()
    cv2.putText(ticked, "7", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    assert not _second_look(stuck, _jpeg(ticked))
    # Not comparable (no grey, or another size): not identical.
    assert not identical(b"a", b"b", None, None)
    assert not identical(b"a", b"b", np.zeros((2, 2), np.uint8), np.zeros((3, 3), np.uint8))


@pytest.mark.parametrize(("change", "motion", "still_for", "expected"), [
    (None, False, None, "ok"),         # first check, no second look
    (None, False, 2.0, "frozen"),      # first check, second look identical
    (9.0, True, 2.0, "frozen"),        # froze since the previous check: found at this one
    (9.0, True, None, "ok"),           # live
    (0.0, False, None, "frozen"),      # across checks
])
def test_judge_takes_frozen_from_either_comparison(change: float | None, motion: bool, still_for: float | None,
                                                   expected: str) -> None:
    result = judge(stats_of(scene()), change, LIMITS, motion=motion, still_for=still_for)
    assert (result.reason if result else "ok") == expected
    if expected == "frozen" and still_for is not None and change != 0.0:
        assert "2.0 s apart" in result.message  # type: ignore[union-attr]


def test_second_look_never_hides_the_cause_an_operator_acts_on() -> None:
    black = judge(stats_of(np.zeros((360, 640, 3), np.uint8)), None, LIMITS, still_for=2.0)
    assert black is not None and black.reason == "black"


def test_the_analysed_snapshot_keeps_only_its_thumbnail_s_picture_and_the_same_thumbnail() -> None:
    # The Analysed snapshot lives through the second look's wait, for every camera waiting at once:
    # it keeps the picture at the thumbnail's width, and the thumbnail comes out byte for byte the same.
    data = _jpeg(cv2.resize(scene(seed=7), (1920, 1080)), quality=85)
    decoded = decode_jpeg(data)
    analysed = analyse(data, None)
    assert decoded is not None and analysed is not None
    assert analysed.frame.shape[:2] == (180, 320) and decoded[0].shape[1] > 320
    assert thumbnail(analysed.frame) == thumbnail(decoded[0])
