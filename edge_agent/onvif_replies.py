"""Reading what cameras answer: zeep objects in, plain values out, tolerant of what real firmware leaves out.

Firmware omits fields the schema calls required (a VideoEncoderConfiguration without Resolution or
Encoding, a profile without a token attribute, UTCDateTime missing with only LocalDateTime and a
POSIX TZ string), writes numbers as text ("25.000000") and MAC addresses in every notation. Nothing
here raises on such an answer: a missing field is unknown, not a failed check.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from shared.messages import clip_text

# POSIX TZ: a name (letters, or <+07> quoted) then the offset WEST of UTC, "WIB-7" is UTC+7.
_POSIX_TZ = re.compile(r"^\s*(?:[A-Za-z]{3,}|<[^>]+>)([+-]?)(\d{1,2})(?::(\d{2}))?")
_HEX = re.compile(r"[0-9a-f]")


@dataclass(slots=True)
class MediaProfile:
    token: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    encoding: str = ""
    stream_uri: str | None = None
    snapshot_uri: str | None = None


@dataclass(slots=True)
class DeviceInfo:
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    hardware_id: str = ""
    mac: str = ""


def text(obj: Any, name: str) -> str:
    value = getattr(obj, name, None) if obj is not None else None
    return "" if value is None else str(value).strip()


def number(obj: Any, name: str) -> float | None:
    """A numeric field, or None when missing, empty or not a number ("25.000000" counts)."""
    try:
        value = float(text(obj, name))
    except ValueError:
        return None
    return value if value == value and abs(value) < 1e9 else None  # not NaN, not absurd


def device_info(answer: Any, mac: str = "") -> DeviceInfo:
    """GetDeviceInformation's answer; fields a camera left out are empty."""
    return DeviceInfo(
        manufacturer=clip_text(text(answer, "Manufacturer")), model=clip_text(text(answer, "Model")),
        firmware=clip_text(text(answer, "FirmwareVersion")), serial=clip_text(text(answer, "SerialNumber")),
        hardware_id=clip_text(text(answer, "HardwareId")), mac=mac,
    )


def normalise_mac(value: str) -> str:
    """``aa:bb:cc:dd:ee:ff`` from any common notation (dashes, dots, none, upper case); "" if not a MAC.

    The same camera seen through ONVIF and through the ARP table must compare equal (duplicate detection
    in edge_agent.inventory), and all-zero placeholders some firmware sends are no identity.
    """
    digits = "".join(_HEX.findall(value.lower()))
    if len(digits) != 12 or len(value) > 32 or digits in ("000000000000", "ffffffffffff"):
        return ""
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def mac_from(interfaces: Any) -> str:
    """The first usable hardware address in GetNetworkInterfaces' answer."""
    for interface in interfaces or []:
        mac = normalise_mac(text(getattr(interface, "Info", None), "HwAddress"))
        if mac:
            return mac
    return ""


def _pixels(profile: Any) -> int:
    resolution = getattr(getattr(profile, "VideoEncoderConfiguration", None), "Resolution", None)
    return int((number(resolution, "Width") or 0) * (number(resolution, "Height") or 0))


def best_profile(profiles: list[Any]) -> Any | None:
    """The main stream: of the profiles with a token, the one whose encoder has the most pixels."""
    usable = [p for p in profiles or [] if text(p, "token")]
    return max(usable, key=_pixels) if usable else None


def _width(profile: Any) -> int:
    resolution = getattr(getattr(profile, "VideoEncoderConfiguration", None), "Resolution", None)
    return int(number(resolution, "Width") or 0)


def live_profile(profiles: list[Any], width: int) -> Any | None:
    """For live view at ``width`` pixels: the narrowest profile at least that wide, else the widest one
    narrower (a sub-stream costs the camera and the agent's decode less than scaling the main stream
    down); None when no profile with a token says its width (then live view uses the main stream)."""
    sized = [(w, p) for p in profiles or [] if text(p, "token") and (w := _width(p)) > 0]
    wide_enough = [item for item in sized if item[0] >= width]
    if wide_enough:
        return min(wide_enough, key=lambda item: item[0])[1]
    return max(sized, key=lambda item: item[0])[1] if sized else None


def media_profile(chosen: Any) -> MediaProfile:
    """What the checks need of a profile; an encoder without Resolution or rate leaves those unknown."""
    profile = MediaProfile(token=clip_text(text(chosen, "token"), 64))
    encoder = getattr(chosen, "VideoEncoderConfiguration", None)
    if encoder is None:
        return profile
    resolution = getattr(encoder, "Resolution", None)
    width, height = number(resolution, "Width"), number(resolution, "Height")
    if width and height and width > 0 and height > 0:
        profile.width, profile.height = int(width), int(height)
    fps = number(getattr(encoder, "RateControl", None), "FrameRateLimit")
    profile.fps = fps if fps and fps > 0 else None
    profile.encoding = clip_text(text(encoder, "Encoding"), 16)
    return profile


def media_uri(answer: Any) -> str | None:
    """The Uri of a GetStreamUri/GetSnapshotUri answer (MediaUri unwrapped by zeep, or not)."""
    uri = text(answer, "Uri") or text(getattr(answer, "MediaUri", None), "Uri")
    return uri[:1024] or None


def posix_tz_offset(tz: str) -> dt.timedelta | None:
    """The standard-time UTC offset a POSIX TZ string states ("WIB-7" is +7 h); None if unreadable.

    Daylight saving is ignored: the province's zones (WIB, WITA, WIT) have none, and an hour either way
    is far inside the clock-skew threshold.
    """
    match = _POSIX_TZ.match(tz or "")
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    offset = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
    if offset > dt.timedelta(hours=14):
        return None
    return offset if sign == "-" else -offset


def _datetime(value: Any) -> dt.datetime | None:
    date: Any = getattr(value, "Date", None)
    time: Any = getattr(value, "Time", None)
    try:
        return dt.datetime(int(date.Year), int(date.Month), int(date.Day),
                           int(time.Hour), int(time.Minute), int(time.Second), tzinfo=dt.UTC)
    except (AttributeError, TypeError, ValueError):
        return None


def camera_utc(answer: Any) -> dt.datetime | None:
    """The camera's UTC time from GetSystemDateAndTime: UTCDateTime, else LocalDateTime shifted by the
    POSIX TZ the camera states (as Home Assistant does); None when neither can be read."""
    utc = _datetime(getattr(answer, "UTCDateTime", None))
    if utc is not None:
        return utc
    local = _datetime(getattr(answer, "LocalDateTime", None))
    offset = posix_tz_offset(text(getattr(answer, "TimeZone", None), "TZ"))
    if local is None or offset is None:
        return None
    return local - offset


def http_date_offset(header: str | None, local_midpoint: dt.datetime) -> float | None:
    """Seconds a reply's HTTP ``Date`` header is ahead of the agent's clock; None when missing or unreadable."""
    if not header:
        return None
    try:
        stamped = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    if stamped.tzinfo is None:
        stamped = stamped.replace(tzinfo=dt.UTC)
    offset = (stamped - local_midpoint).total_seconds()
    return 0.0 if abs(offset) < 1.5 else offset


def clock_offset(answer: Any, local_midpoint: dt.datetime) -> float | None:
    """Seconds the camera's clock is ahead of the agent's (negative: behind); None when unknown."""
    camera_time = camera_utc(answer)
    if camera_time is None:
        return None
    offset = (camera_time - local_midpoint).total_seconds()
    # The camera reports whole seconds: do not call sub-second truncation a skew.
    return 0.0 if abs(offset) < 1.5 else offset
