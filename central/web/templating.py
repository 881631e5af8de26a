"""What every template can use: status words, stage names, number formats, the navigation menu."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, request, url_for
from flask_babel import format_decimal, format_percent, gettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from central.storage.models import RolloutStage
from central.web import reasons
from central.web.severity import Assessment
from shared.regencies import PROVINCE_CODE, regency_label


class Words(Mapping[Any, str]):
    """A table of translated words resolved once per request: lazy strings cost a lookup per use."""

    def __init__(self, name: str, lazy: Mapping[Any, Any]) -> None:
        self.name = name
        self.lazy = lazy

    def _resolved(self) -> dict[Any, str]:
        cache: dict[str, dict[Any, str]] = g.setdefault("_scc_words", {})
        table = cache.get(self.name)
        if table is None:
            table = cache[self.name] = {key: str(value) for key, value in self.lazy.items()}
        return table

    def __getitem__(self, key: Any) -> str:
        return self._resolved()[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.lazy)

    def __len__(self) -> int:
        return len(self.lazy)


CAMERA_STATUS_WORDS = {
    "ok": _l("OK"),
    "degraded": _l("degraded"),
    "offline": _l("offline"),
    "unknown": _l("unknown"),
}
WEBSITE_STATE_WORDS = {
    "fresh": _l("fresh"),
    "stale": _l("stale"),
    "down": _l("down"),
    "maintenance": _l("in maintenance"),
    "unknown": _l("unknown"),
}
AVAILABILITY_WORDS = {"up": _l("up"), "degraded": _l("degraded"), "down": _l("down"),
                      "maintenance": _l("in maintenance"), "": _l("unknown")}
HEALTH_WORDS = {
    "ok": _l("all well"),
    "warn": _l("needs attention"),
    "critical": _l("critical"),
    "inactive": _l("not integrated"),
}
# Why a regency is amber or red: one phrase per rule of central.web.severity.RULES.
SEVERITY_REASON_WORDS = {
    "not_integrated": _l("no agent reporting"),
    "agent_offline": _l("agent offline"),
    "cameras_offline_many": _l("a fifth or more of the cameras offline"),
    "websites_down_many": _l("half or more of the websites down"),
    "cameras_offline": _l("cameras offline"),
    "cameras_troubled": _l("a quarter or more of the cameras in trouble"),
    "websites_down": _l("websites down"),
    "websites_stale": _l("a third or more of the websites stale"),
}
STAGE_WORDS = {
    RolloutStage.PLANNED: _l("Planned"),
    RolloutStage.BOX_INSTALLED: _l("Box installed"),
    RolloutStage.AGENT_ONLINE: _l("Agent online"),
    RolloutStage.CAMERAS_INTEGRATED: _l("Cameras integrated"),
    RolloutStage.WEBSITES_INTEGRATED: _l("Websites integrated"),
    RolloutStage.COMPLETE: _l("Complete"),
}
SIGNAL_WORDS = {
    "wordpress_api": _l("WordPress API"),
    "feed": _l("RSS/Atom feed"),
    "sitemap": _l("sitemap"),
    "last_modified": _l("Last-Modified header"),
    "content_hash": _l("page content changed"),
    "": _l("no signal"),
}
COMMAND_STATE_WORDS = {
    "pending": _l("waiting"),
    "sent": _l("sent, waiting for the agent"),
    "succeeded": _l("done"),
    "failed": _l("failed"),
    "publish_failed": _l("not sent"),
}
EVENT_KIND_WORDS = {
    "camera_status": _l("status"),
    "website_status": _l("website status"),
    "agent_online": _l("agent online"),
    "agent_offline": _l("agent offline"),
    "camera_found": _l("camera found"),
    "camera_lost": _l("camera lost"),
    "camera_retired": _l("camera retired"),
    "command_result": _l("command result"),
    "alert": _l("alert"),
}
ROLES = {"viewer": _l("viewer"), "operator": _l("operator"), "admin": _l("admin")}


@dataclass(frozen=True, slots=True)
class NavItem:
    endpoint: str
    label: Any  # a lazy string
    role: str = "viewer"
    province: bool = False  # a province-wide page: not offered to regency-scoped accounts (scope.py)


# The main menu. Feature blueprints add their entry with ``add_nav_item`` from their module.
NAV_ITEMS: list[NavItem] = [
    NavItem("pages.overview", _l("Overview")),
    NavItem("pages.websites", _l("Websites")),
    NavItem("pages.rollout", _l("Rollout"), province=True),
    NavItem("wall.wall", _l("Video wall")),
]


def add_nav_item(endpoint: str, label: Any, role: str = "viewer", *, province: bool = False) -> None:
    if all(item.endpoint != endpoint for item in NAV_ITEMS):
        NAV_ITEMS.append(NavItem(endpoint, label, role, province))


def nav_items() -> list[tuple[str, str, bool]]:
    from central.web import scope
    from central.web.auth import can

    items = []
    province_wide = scope.province_wide()
    for item in NAV_ITEMS:
        try:
            url = url_for(item.endpoint)
        except Exception:  # a feature's blueprint not registered in this app
            continue
        if can(item.role) and (province_wide or not item.province):
            items.append((url, str(item.label), request.endpoint == item.endpoint))
    return items


def lang_url(code: str) -> str:
    """This page in another language, keeping its filters."""
    args: dict[str, Any] = {**(request.view_args or {}), **request.args.to_dict(), "lang": code}
    if request.endpoint is None:
        return f"?lang={code}"
    return url_for(request.endpoint, **args)


def number(value: float | int | None) -> str:
    return "—" if value is None else format_decimal(value)


def percent(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return format_percent(value, format="#,##0." + "0" * digits + "%" if digits else "#,##0%")


def share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def data_json(value: object) -> Markup:
    """JSON for a double-quoted HTML attribute: nothing in the data can end the attribute or open a tag."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("'", "\\u0027")):
        text = text.replace(char, escape)
    return Markup(text.replace('"', "&#34;"))


def bytes_human(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{format_decimal(round(size, 1))} {unit}"
        size /= 1024
    return str(value)


def duration_human(seconds: float | None) -> str:
    """'9 mnt', '4 jam 02 mnt', '3 hari 4 jam': coarse, in the page's language."""
    if seconds is None:
        return "—"
    minutes = max(int(seconds // 60), 0)
    if minutes < 60:
        return gettext("%(m)d min", m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return gettext("%(h)d h %(m)02d min", h=hours, m=minutes)
    return gettext("%(d)d d %(h)d h", d=hours // 24, h=hours % 24)


def owner_name(code: str) -> str:
    """A regency's name, or the province's own offices as central.toml [province] name calls them ("16")."""
    if code == PROVINCE_CODE and "SCC" in current_app.config:
        return str(current_app.config["SCC"].province.name)
    return regency_label(code)


def severity_reasons(assessment: Assessment) -> str:
    """The matched rules of a regency's severity as one phrase, worst first."""
    words = Words("severity", SEVERITY_REASON_WORDS)
    return ", ".join(words[code] for code in assessment.reasons)


def init_app(app: Flask) -> None:
    env = app.jinja_env
    env.globals.update(
        CAMERA_STATUS_WORDS=Words("camera", CAMERA_STATUS_WORDS),
        WEBSITE_STATE_WORDS=Words("website", WEBSITE_STATE_WORDS),
        AVAILABILITY_WORDS=Words("availability", AVAILABILITY_WORDS),
        HEALTH_WORDS=Words("health", HEALTH_WORDS),
        STAGE_WORDS=Words("stage", STAGE_WORDS),
        STAGES=list(RolloutStage),
        SIGNAL_WORDS=Words("signal", SIGNAL_WORDS),
        ROLES=Words("roles", ROLES),
        COMMAND_STATE_WORDS=Words("command", COMMAND_STATE_WORDS),
        EVENT_KIND_WORDS=Words("event", EVENT_KIND_WORDS),
        lang_url=lang_url,
        nav_items=nav_items,
        camera_reason=reasons.camera_reason,
        website_reason=reasons.website_reason,
        share=share,
        severity_reasons=severity_reasons,
        regency_name=owner_name,
    )
    env.filters.update(
        number=number, percent=percent, data_json=data_json, bytes=bytes_human, duration=duration_human
    )
