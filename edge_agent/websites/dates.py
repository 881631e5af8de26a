"""Parse the dates websites write (ISO 8601/W3C, RFC 822, HTTP), reading zone-less ones as WIB."""

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
class ParsedDate:
    """A moment in UTC, and whether its zone was assumed (WIB) rather than written."""

    moment: dt.datetime
    assumed_wib: bool = False


def parse_date(text: str | None) -> ParsedDate | None:
    """W3C/ISO 8601 or RFC 822 text -> ParsedDate; None when it is not a date."""
    if not text:
        return None
    value = text.strip()
    if not value or len(value) > 64:
        return None
    return _parse_iso(value) or _parse_rfc822(value)


def parse_naive_utc(text: str | None) -> ParsedDate | None:
    """WordPress's ``*_gmt`` fields: ISO 8601 without an offset that means UTC."""
    parsed = parse_date(text)
    if parsed is None:
        return None
    if not parsed.assumed_wib:
        return parsed
    local = parsed.moment.astimezone(WIB).replace(tzinfo=dt.UTC)
    return ParsedDate(local)


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


def _parse_iso(value: str) -> ParsedDate | None:
    if _YEAR_MONTH.match(value):
        value += "-01"
    candidate = value[:-1] + "+00:00" if value[-1:] in {"Z", "z"} else value
    try:
        parsed = dt.datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if _DATE_ONLY.match(value):
        parsed = dt.datetime.combine(parsed.date(), dt.time())
    return _aware(parsed)


def _parse_rfc822(value: str) -> ParsedDate | None:
    fields = parsedate_tz(value)
    if fields is None:
        return None
    try:
        naive = dt.datetime(*fields[:6])
    except ValueError:
        return None
    if not _RFC822_ZONE.search(value):
        return _aware(naive)
    return ParsedDate((naive - dt.timedelta(seconds=fields[9] or 0)).replace(tzinfo=dt.UTC))


def _aware(moment: dt.datetime) -> ParsedDate:
    if moment.tzinfo is None:
        return ParsedDate(moment.replace(tzinfo=WIB).astimezone(dt.UTC), assumed_wib=True)
    return ParsedDate(moment.astimezone(dt.UTC))


def is_future(moment: dt.datetime, now: dt.datetime) -> bool:
    return moment > now + FUTURE_TOLERANCE
