"""The API's response models: handlers build these, and the OpenAPI document is generated from them."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from central.storage.models import RolloutStage


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Links(Out):
    self: str
    next: str | None = None
    prev: str | None = None


class PageMeta(Out):
    total: int = Field(ge=0, description="Items matching the filters, over all pages.")
    limit: int = Field(ge=1)
    offset: int = Field(ge=0)
    links: Links


class CameraCounts(Out):
    ok: int = Field(ge=0)
    degraded: int = Field(ge=0)
    offline: int = Field(ge=0)
    unknown: int = Field(ge=0)
    total: int = Field(ge=0)


class WebsiteCounts(Out):
    fresh: int = Field(ge=0)
    stale: int = Field(ge=0)
    down: int = Field(ge=0)
    unknown: int = Field(ge=0)
    total: int = Field(ge=0)


RegencyHealth = Literal["ok", "warn", "critical", "inactive"]
CameraStatus = Literal["ok", "degraded", "offline", "unknown"]


class RegencyOut(Out):
    """One owner's rollup: a regency (code 16.xx), or the province's own offices (code 16, kind "")."""

    code: str = Field(pattern=r"^16(\.\d{2})?$", examples=["16.71"])
    name: str
    kind: str
    display_name: str
    stage: RolloutStage
    health: RegencyHealth
    cameras: CameraCounts
    websites: WebsiteCounts
    agents_online: int = Field(ge=0)
    agents_total: int = Field(ge=0)
    last_seen_at: dt.datetime | None


class RegencyPage(PageMeta):
    items: list[RegencyOut]
    province: ProvinceTotals | None = Field(description="Null for a caller limited to some regencies.")
    offices: RegencyOut | None = Field(
        None,
        description="The province's own offices (Pemprov, code 16) in a regency's shape: what central.toml "
        "[province] agents report, counted here and in the province totals, not under the regency on their "
        "certificate. Null when none are configured, and for a caller limited to some regencies.",
    )


class ProvinceTotals(Out):
    regencies_total: int
    regencies_integrated: int
    cameras_total: int
    cameras_live: int
    websites_total: int
    websites_fresh: int


# A camera's or website's two regencies, described once for both.
OWNER_REGENCY = (
    "Whose it is, as in the public MQTT feed and the regency counts: a regency's code, or 16 for the "
    "province's own offices (central.toml [province] agents report for them, whatever regency their "
    "certificate names)."
)
AGENT_REGENCY = (
    "The regency on the certificate of the agent reporting it (where that agent runs); the same as regency "
    "except for the province's own offices."
)


class CameraOut(Out):
    id: int
    camera_id: str
    agent: str
    regency: str = Field(description=OWNER_REGENCY)
    agent_regency: str = Field(description=AGENT_REGENCY)
    name: str = Field(description="What to show: operator's display name, else the camera's, else its id.")
    opd: str
    group: str
    status: CameraStatus | str
    reason: str
    reason_text: str = Field(description="The reason in words, in the request's language.")
    status_since: dt.datetime | None
    last_check_at: dt.datetime | None
    thumbnail_url: str


class CameraPage(PageMeta):
    items: list[CameraOut]


class CheckOut(Out):
    check: str
    outcome: str
    reason: str
    message: str = ""
    duration_ms: float = 0.0


INTERNAL = "Null unless the token has the 'internal' scope (web sessions always have it)."


class CameraDetailOut(CameraOut):
    host: str | None = Field(description=INTERNAL)
    port: int | None = Field(description=INTERNAL)
    reported_name: str
    manufacturer: str
    model: str
    firmware: str
    serial: str | None = Field(description=INTERNAL)
    mac: str | None = Field(description=INTERNAL)
    location: str
    latitude: float | None
    longitude: float | None
    tags: list[str]
    notes: str | None = Field(description=INTERNAL)
    message: str
    consecutive_failures: int
    first_seen_at: dt.datetime | None
    retired_at: dt.datetime | None = Field(
        None, description="Set when an operator retired it: out of every total, alert and report since."
    )
    uptime: dict[Literal["24h", "7d", "30d"], float | None]
    checks: list[CheckOut]


class StatusPeriodOut(Out):
    status: str
    reason: str
    message: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    duration_s: float | None


class StatusPeriodPage(PageMeta):
    items: list[StatusPeriodOut]


class WebsiteOut(Out):
    id: int
    website_id: str
    agent: str
    regency: str = Field(description=OWNER_REGENCY)
    agent_regency: str = Field(description=AGENT_REGENCY)
    url: str
    opd: str
    state: Literal["fresh", "stale", "down", "maintenance", "unknown"] | str
    availability: str
    freshness: str
    reason: str
    http_status: int | None
    response_ms: float | None
    last_update: dt.datetime | None
    last_update_signal: str
    days_stale: int | None
    stale_after_days: int | None
    tls_valid: bool | None
    tls_expires_at: dt.datetime | None
    tls_days_left: int | None
    last_check_at: dt.datetime | None


class WebsitePage(PageMeta):
    items: list[WebsiteOut]


class RolloutOut(Out):
    regency: str
    name: str
    stage: RolloutStage
    recorded_stage: RolloutStage
    cameras_integrated: int
    target_cameras: int
    websites_integrated: int
    target_websites: int
    planned_start: dt.date | None
    started_on: dt.date | None
    target_date: dt.date | None
    completed_on: dt.date | None
    notes: str


class RolloutPage(PageMeta):
    items: list[RolloutOut]


class EventOut(Out):
    id: int
    ts: dt.datetime
    kind: str
    regency: str | None = Field(
        description="Whose subject it is, as on /cameras and /websites: a regency's code, 16 for the province's "
        "own offices (what their agents report, their alerts too), or null for a province-level event."
    )
    agent: str | None
    camera: int | None
    website: int | None
    subject: str
    old_state: str
    new_state: str
    reason: str
    message: str


class EventPage(Out):
    items: list[EventOut]
    limit: int
    links: Links


class Problem(Out):
    error: str
    status: int
    detail: str | None = None


class HealthOut(Out):
    status: Literal["ok", "error"]
    database: str


RegencyPage.model_rebuild()


class AlertOut(Out):
    """A firing or past alert (``/alerts``); ``members`` are the subjects a regency-wide alert groups."""

    alert_id: str
    rule: str
    state: str
    severity: str
    subject_kind: str
    subject_id: str
    subject: str
    regency: str | None = Field(
        description="Whose subject it is: a regency's code, or 16 for the province's own offices "
        "(central.toml [province] agents report for them, whatever regency their certificate names)."
    )
    message: str
    started_at: dt.datetime
    fired_at: dt.datetime
    resolved_at: dt.datetime | None
    silenced_by: str | None
    acknowledged_at: dt.datetime | None
    acknowledged_by: str
    members: list[str]


class AlertPage(Out):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


# --- /quarantine (administrators' sessions) ---------------------------------------------------------


class RefusalCountOut(Out):
    agent: str | None
    category: str
    messages: int
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


class RefusedMessageOut(Out):
    agent: str | None
    category: str
    reason: str
    topic: str
    times_seen: int
    payload_size: int
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


class QuarantineOut(Out):
    counts: list[RefusalCountOut]
    recent: list[RefusedMessageOut]
