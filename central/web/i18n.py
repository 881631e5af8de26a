"""Bahasa Indonesia by default, English on request, and every time shown in the configured zone, named.

The zone is ``[web] timezone`` (Asia/Jakarta, so WIB, by default); times carry that zone's own
abbreviation at that instant (WIB, WITA, WIT, UTC...), never a hardcoded WIB.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime as babel_format_datetime
from flask import Flask, current_app, g, request, session
from flask_babel import Babel, get_locale, ngettext
from flask_babel import gettext as _

LOCALES = {"id": "Bahasa Indonesia", "en": "English"}
LOCALE_SESSION_KEY = "locale"


def select_locale() -> str:
    """?lang= wins (and is remembered in the session), then the session, then the configured default."""
    wanted = request.args.get("lang")
    if wanted in LOCALES:
        session[LOCALE_SESSION_KEY] = wanted
        return wanted
    remembered = session.get(LOCALE_SESSION_KEY)
    if remembered in LOCALES:
        return str(remembered)
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def local_zone() -> ZoneInfo:
    zone = g.get("_scc_zone")
    if zone is None:
        zone = g._scc_zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return zone


def as_utc(value: datetime) -> datetime:
    """Naive datetimes from the database are UTC (SQLite drops the zone)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def zone_abbreviation(value: datetime | None = None) -> str:
    """The configured zone's own short name at that instant (now by default): 'WIB', 'WITA', 'UTC'."""
    zone = local_zone()
    return as_utc(value or datetime.now(UTC)).astimezone(zone).tzname() or zone.key


def format_time(value: datetime | None, pattern: str = "d MMM yyyy HH:mm") -> str:
    """A timestamp in the configured zone with the zone named, e.g. '5 Mar 2026 14:02 WIB'."""
    if value is None:
        return "—"
    local = as_utc(value).astimezone(local_zone())
    abbreviation = local.tzname() or local_zone().key
    return f"{babel_format_datetime(local, pattern, locale=str(get_locale()))} {abbreviation}"


def format_clock(value: datetime | None) -> str:
    return format_time(value, "HH:mm:ss")


def format_ago(value: datetime | None, now: datetime | None = None) -> str:
    """'3 min ago' style, in the current language; coarse on purpose so it reads at a glance."""
    if value is None:
        return _("never")
    seconds = int(((now or datetime.now(UTC)) - as_utc(value)).total_seconds())
    if seconds < 60:
        return _("just now")
    minutes = seconds // 60
    if minutes < 60:
        return ngettext("%(num)d min ago", "%(num)d min ago", minutes)
    hours = minutes // 60
    if hours < 48:
        return ngettext("%(num)d hour ago", "%(num)d hours ago", hours)
    return ngettext("%(num)d day ago", "%(num)d days ago", hours // 24)


def init_app(app: Flask, default_locale: str, timezone: str) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", default_locale if default_locale in LOCALES else "id")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", timezone)
    Babel(app, locale_selector=select_locale)
    # The filter keeps its old name for the templates; it names whichever zone is configured.
    app.jinja_env.filters["wib"] = format_time
    app.jinja_env.filters["clock"] = format_clock
    app.jinja_env.filters["ago"] = format_ago
    app.jinja_env.globals["LOCALES"] = LOCALES
    app.jinja_env.globals["current_locale"] = lambda: str(get_locale())
    app.jinja_env.globals["zone_abbreviation"] = zone_abbreviation
    app.jinja_env.globals["zone_key"] = lambda: local_zone().key
