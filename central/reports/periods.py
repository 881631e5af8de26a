"""Report periods: local calendar weeks (ISO, Monday first) and months, as UTC instants."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from central.storage.maintenance import day_bounds, local_day

MONTHS_ID = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
)  # fmt: skip
MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Period:
    """[first_day, end_day) in local days; ``start``/``end`` are the same bounds as UTC instants."""

    kind: str  # "weekly" or "monthly"
    first_day: date
    end_day: date
    timezone: str

    @property
    def start(self) -> datetime:
        return day_bounds(self.first_day, ZoneInfo(self.timezone))[0]

    @property
    def end(self) -> datetime:
        return day_bounds(self.end_day, ZoneInfo(self.timezone))[0]

    @property
    def slug(self) -> str:
        if self.kind == "monthly":
            return f"{self.first_day:%Y-%m}"
        year, week, _ = self.first_day.isocalendar()
        return f"{year}-W{week:02d}"

    def label(self, language: str = "id") -> str:
        months = MONTHS_ID if language == "id" else MONTHS_EN
        if self.kind == "monthly":
            return f"{months[self.first_day.month - 1]} {self.first_day.year}"
        last = self.end_day - timedelta(days=1)
        week = self.first_day.isocalendar()[1]
        word = "Minggu" if language == "id" else "Week"
        return (
            f"{word} {week}: {self.first_day.day} {months[self.first_day.month - 1]} - "
            f"{last.day} {months[last.month - 1]} {last.year}"
        )


def month(year: int, month_number: int, timezone: str) -> Period:
    first = date(year, month_number, 1)
    end = date(year + (month_number == 12), month_number % 12 + 1, 1)
    return Period("monthly", first, end, timezone)


def iso_week(year: int, week: int, timezone: str) -> Period:
    first = date.fromisocalendar(year, week, 1)
    return Period("weekly", first, first + timedelta(days=7), timezone)


def current_month(now: datetime, timezone: str) -> Period:
    """The month ``now`` is in (figures count up to ``now``): what a fresh install has data for."""
    today = local_day(now, ZoneInfo(timezone))
    return month(today.year, today.month, timezone)


def previous_month(now: datetime, timezone: str) -> Period:
    today = local_day(now, ZoneInfo(timezone))
    last_of_previous = today.replace(day=1) - timedelta(days=1)
    return month(last_of_previous.year, last_of_previous.month, timezone)


def previous_week(now: datetime, timezone: str) -> Period:
    today = local_day(now, ZoneInfo(timezone))
    monday = today - timedelta(days=today.weekday() + 7)
    return Period("weekly", monday, monday + timedelta(days=7), timezone)


FIRST_YEAR, LAST_YEAR = 2000, 2100


def parse_period(text: str, timezone: str) -> Period:
    """'2025-03' (a month) or '2025-W10' (an ISO week); ValueError otherwise."""
    match = re.fullmatch(r"(\d{4})-(W?)(\d{2})", text)
    if match is None:
        raise ValueError(f"period {text!r}: use YYYY-MM for a month or YYYY-Www for a week")
    year, weekly, number = int(match[1]), bool(match[2]), int(match[3])
    if not FIRST_YEAR <= year <= LAST_YEAR:  # year 1 or 9999 overflow on the way to UTC
        raise ValueError(f"period {text!r}: the year must be between {FIRST_YEAR} and {LAST_YEAR}")
    try:
        return iso_week(year, number, timezone) if weekly else month(year, number, timezone)
    except ValueError:
        raise ValueError(f"period {text!r}: no such {'week' if weekly else 'month'}") from None
