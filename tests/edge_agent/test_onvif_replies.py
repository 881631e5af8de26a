"""Reading replies as firmware writes them: MACs in any notation, profiles missing fields, clocks without UTC."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace as Obj

import pytest

from edge_agent.onvif_replies import (
    best_profile,
    camera_utc,
    clock_offset,
    http_date_offset,
    live_profile,
    mac_from,
    media_profile,
    media_uri,
    normalise_mac,
    posix_tz_offset,
)


@pytest.mark.parametrize(("raw", "mac"), [
    ("00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5e"),
    ("00-1A-2B-3C-4D-5E", "00:1a:2b:3c:4d:5e"),
    ("001A.2B3C.4D5E", "00:1a:2b:3c:4d:5e"),
    ("001a2b3c4d5e", "00:1a:2b:3c:4d:5e"),
    (" 00:1A:2B:3C:4D:5E\n", "00:1a:2b:3c:4d:5e"),
    ("00:00:00:00:00:00", ""),
    ("FF:FF:FF:FF:FF:FF", ""),
    ("00:1a:2b", ""),
    ("not a mac at all, really", ""),
    ("", ""),
])
def test_normalise_mac(raw: str, mac: str) -> None:
    assert normalise_mac(raw) == mac


def test_mac_from_skips_unusable_interfaces() -> None:
    interfaces = [Obj(Info=None), Obj(Info=Obj(HwAddress="00:00:00:00:00:00")), Obj(Info=Obj(HwAddress="A0-B1-C2-D3-E4-F5"))]
    assert mac_from(interfaces) == "a0:b1:c2:d3:e4:f5"
    assert mac_from(None) == ""


@pytest.mark.parametrize(("tz", "hours"), [
    ("WIB-7", 7), ("WITA-8", 8), ("CST-8", 8), ("GMT0", 0), ("EST5EDT", -5), ("<+07>-7", 7),
    ("AEST-10AEDT,M10.1.0,M4.1.0/3", 10), ("IST-5:30", 5.5),
])
def test_posix_tz_offset(tz: str, hours: float) -> None:
    assert posix_tz_offset(tz) == dt.timedelta(hours=hours)


@pytest.mark.parametrize("tz", ["", "Asia/Jakarta", "UTC+99", "7"])
def test_posix_tz_offset_unreadable(tz: str) -> None:
    assert posix_tz_offset(tz) is None


def _when(year: int, hour: int) -> Obj:
    return Obj(Date=Obj(Year=year, Month=12, Day=7), Time=Obj(Hour=hour, Minute=0, Second=0))


def test_camera_utc_prefers_utc_then_local_with_zone() -> None:
    utc = dt.datetime(2026, 12, 7, 5, tzinfo=dt.UTC)
    assert camera_utc(Obj(UTCDateTime=_when(2026, 5), LocalDateTime=_when(2026, 12))) == utc
    assert camera_utc(Obj(UTCDateTime=None, LocalDateTime=_when(2026, 12), TimeZone=Obj(TZ="WIB-7"))) == utc
    assert camera_utc(Obj(UTCDateTime=None, LocalDateTime=_when(2026, 12), TimeZone=None)) is None
    assert camera_utc(Obj(UTCDateTime=Obj(Date=None, Time=None))) is None


def test_clock_offset_ignores_sub_second_truncation() -> None:
    answer = Obj(UTCDateTime=_when(2026, 5))
    assert clock_offset(answer, dt.datetime(2026, 12, 7, 5, 0, 1, tzinfo=dt.UTC)) == 0.0
    assert clock_offset(answer, dt.datetime(2026, 12, 7, 3, tzinfo=dt.UTC)) == 7200.0


def _profile(token: str | None, width: object = None, height: object = None, **encoder: object) -> Obj:
    resolution = Obj(Width=width, Height=height) if width is not None else None
    return Obj(token=token, VideoEncoderConfiguration=Obj(Resolution=resolution, **encoder))


def test_best_profile_is_the_largest_with_a_token() -> None:
    small, large, tokenless = _profile("sub", 640, 360), _profile("main", 2560, 1440), _profile(None, 3840, 2160)
    assert best_profile([small, tokenless, large]) is large
    assert best_profile([tokenless]) is None
    assert best_profile([]) is None


def test_live_profile_is_the_narrowest_at_least_as_wide_as_live_view_else_the_widest_below() -> None:
    main, sub, third = _profile("main", 1920, 1080), _profile("sub", 640, 360), _profile("third", 352, 288)
    profiles = [main, sub, third]
    assert live_profile(profiles, 640) is sub
    assert live_profile(profiles, 320) is third
    assert live_profile(profiles, 800) is main
    assert live_profile([sub, third], 1280) is sub  # nothing wide enough: the widest there is
    # Sizes unknown (sparse firmware) or no token: no choice, live view takes the main stream.
    assert live_profile([_profile("main"), _profile(None, 640, 360)], 640) is None
    assert live_profile([], 640) is None


@pytest.mark.parametrize(("profile", "expected"), [
    (_profile("main", 1920, 1080, Encoding="H264", RateControl=Obj(FrameRateLimit=25)),
     ("main", 1920, 1080, 25.0, "H264")),
    (_profile("main", "1920", "1080", Encoding="H265", RateControl=Obj(FrameRateLimit="25.000000")),
     ("main", 1920, 1080, 25.0, "H265")),
    (_profile("main"), ("main", None, None, None, "")),
    (_profile("main", 0, 0, RateControl=Obj(FrameRateLimit=0)), ("main", None, None, None, "")),
    (_profile("main", "wide", "tall", RateControl=Obj(FrameRateLimit="fast")), ("main", None, None, None, "")),
    (Obj(token="main"), ("main", None, None, None, "")),
])
def test_media_profile_tolerates_missing_fields(profile: Obj, expected: tuple[object, ...]) -> None:
    got = media_profile(profile)
    assert (got.token, got.width, got.height, got.fps, got.encoding) == expected


def test_media_uri_with_or_without_the_media_uri_wrapper() -> None:
    assert media_uri(Obj(Uri="rtsp://a/1")) == "rtsp://a/1"
    assert media_uri(Obj(MediaUri=Obj(Uri=" http://a/snap.jpg "))) == "http://a/snap.jpg"
    assert media_uri(Obj(Uri=None)) is None
    assert media_uri(None) is None


def test_http_date_offset() -> None:
    now = dt.datetime(2026, 12, 7, 5, 0, 0, tzinfo=dt.UTC)
    assert http_date_offset("Mon, 07 Dec 2026 00:00:00 GMT", now) == -18000.0
    assert http_date_offset("Mon, 07 Dec 2026 05:00:01 GMT", now) == 0.0
    assert http_date_offset("Thu, 01 Jan 1970 00:00:10 GMT", now) is not None  # a clock reset to the epoch
    for unreadable in (None, "", "yesterday", "Mon, 99 Foo 2026 00:00:00 GMT"):
        assert http_date_offset(unreadable, now) is None
