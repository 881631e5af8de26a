"""Parse the dates websites write (ISO 8601/W3C, RFC 822, HTTP); zone-less ones are read in the site's zone.

The site's zone is what WordPress publishes at its REST root, else WIB: OPD sites run in Sumatera
Selatan. Every reading that had to assume a zone says which one, so a wrong guess is visible.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from email.utils import parsedate_tz
from zoneinfo import ZoneInfo

# OPD sites run in Sumatera Selatan; a date without an offset was almost certainly written in WIB.
WIB = ZoneInfo("Asia/Jakarta")
# Clocks drift and servers round; only dates further ahead than this count as "in the future".
FUTURE_TOLERANCE = dt.timedelta(minutes=10)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YEAR_MONTH = re.compile(r"^\d{4}-\d{2}$")
# parsedate_tz reports a missing zone as +0000, so whether one was written is read from the text.
_RFC822_ZONE = re.compile(r"(?:[+-]\d{4}|\b(?:GMT|UTC?|[ECMP][SD]T|[A-IK-Z]))$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SiteZone:
    """The zone a site's zone-less dates are read in, and how a finding names it."""

    zone: dt.tzinfo
    label: str


DEFAULT_ZONE = SiteZone(WIB, "WIB (Asia/Jakarta)")


def zone_from_wordpress(timezone_string: object, gmt_offset: object) -> SiteZone | None:
    """The site's own zone from its REST root (``timezone_string``, else ``gmt_offset`` hours)."""
    if isinstance(timezone_string, str) and timezone_string.strip():
        name = timezone_string.strip()
        try:
            return SiteZone(ZoneInfo(name), f"{name} (the site's own zone)")
        except (ValueError, KeyError, OSError):
            pass  # "UTC+7" style names are not IANA zones; WordPress then also sends gmt_offset
    if isinstance(gmt_offset, int | float | str) and not isinstance(gmt_offset, bool):
        try:
            hours = float(gmt_offset)
        except ValueError:
            return None
        if -14 <= hours <= 14:
            sign = "+" if hours >= 0 else "-"
            whole, minutes = divmod(round(abs(hours) * 60), 60)
            label = f"UTC{sign}{whole}" + (f":{minutes:02d}" if minutes else "")
            return SiteZone(dt.timezone(dt.timedelta(hours=hours)), f"{label} (the site's own zone)")
    return None


@dataclass(frozen=True, slots=True)
class ParsedDate:
    """A moment in UTC, and the zone assumed for it when the text had none (else None)."""

    moment: dt.datetime
    assumed_zone: str | None = None


def parse_date(text: str | None, zone: SiteZone = DEFAULT_ZONE) -> ParsedDate | None:
    """W3C/ISO 8601 or RFC 822 text -> ParsedDate; None when it is not a date."""
    if not text:
        return None
    value = text.strip()
    if not value or len(value) > 64:
        return None
    return _parse_iso(value, zone) or _parse_rfc822(value, zone)


def parse_naive_utc(text: str | None) -> ParsedDate | None:
    """WordPress's ``*_gmt`` fields: ISO 8601 without an offset that means UTC."""
    parsed = parse_date(text, _UTC)
    if parsed is None:
        return None
    return ParsedDate(parsed.moment)


def parse_http_date(text: str | None) -> dt.datetime | None:
    """An HTTP header date (always GMT by RFC 9110); None when unparseable."""
    if not text or len(text) > 64:
        return None
    fields = parsedate_tz(text)
    if fields is None:
        return None
    try:
        naive = dt.datetime(*fields[:6])
    except ValueError:
        return None
    return (naive - dt.timedelta(seconds=fields[9] or 0)).replace(tzinfo=dt.UTC)


_UTC = SiteZone(dt.UTC, "UTC")


def calendar_days_until(moment: dt.datetime, now: dt.datetime, zone: dt.tzinfo = WIB) -> int:
    """Days from today to ``moment``'s day on the local calendar, as a person counts them.

    A certificate ending at 09:00 on the 12th, seen on the 7th, has 5 days left at any hour of the
    7th; one that ended on the 4th, seen on the 7th, is 3 days expired (-3).
    """
    return (moment.astimezone(zone).date() - now.astimezone(zone).date()).days


def _parse_iso(value: str, zone: SiteZone) -> ParsedDate | None:
    if _YEAR_MONTH.match(value):
        value += "-01"
    candidate = value[:-1] + "+00:00" if value[-1:] in {"Z", "z"} else value
    try:
        parsed = dt.datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if _DATE_ONLY.match(value):
        parsed = dt.datetime.combine(parsed.date(), dt.time())
    return _aware(parsed, zone)


def _parse_rfc822(value: str, zone: SiteZone) -> ParsedDate | None:
    fields = parsedate_tz(value)
    if fields is None:
        return None
    try:
        naive = dt.datetime(*fields[:6])
    except ValueError:
        return None
    if not _RFC822_ZONE.search(value):
        return _aware(naive, zone)
    return ParsedDate((naive - dt.timedelta(seconds=fields[9] or 0)).replace(tzinfo=dt.UTC))


def _aware(moment: dt.datetime, zone: SiteZone) -> ParsedDate:
    if moment.tzinfo is None:
        if zone is _UTC:
            return ParsedDate(moment.replace(tzinfo=dt.UTC))
        return ParsedDate(moment.replace(tzinfo=zone.zone).astimezone(dt.UTC), assumed_zone=zone.label)
    return ParsedDate(moment.astimezone(dt.UTC))


def is_future(moment: dt.datetime, now: dt.datetime) -> bool:
    return moment > now + FUTURE_TOLERANCE
