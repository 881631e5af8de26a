"""The versioned message models of the wire contract: one pydantic model per message kind."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from shared.topics import IDENTIFIER_PATTERN, OWNER_CODE_PATTERN, REGENCY_CODE_PATTERN

SCHEMA_VERSION: Literal[1] = 1

Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
RegencyCode = Annotated[str, StringConstraints(pattern=REGENCY_CODE_PATTERN)]
# Whose a camera or website is: one of the 17 regencies ("16.71") or the province's own offices ("16").
OwnerCode = Annotated[str, StringConstraints(pattern=OWNER_CODE_PATTERN)]
# Text from cameras and websites is untrusted and may be huge; agents clip it (see clip_text).
ShortText = Annotated[str, StringConstraints(max_length=256)]
LongText = Annotated[str, StringConstraints(max_length=2048)]
ReasonCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
DetailValue = str | int | float | bool | None


def _exact_int(value: object) -> object:
    # Literal[1] alone would also take 1.0 and true; a contract version is an integer, nothing else.
    if type(value) is not int:
        raise ValueError("must be an integer")
    return value


SchemaVersion = Annotated[Literal[1], BeforeValidator(_exact_int)]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_message_id() -> str:
    """A time-ordered UUID (version 7, RFC 9562) in hex: 48 bits of Unix milliseconds, then 74 random bits.

    Central's dedupe index is keyed on it: ids that grow with time land at the B-tree's right edge,
    where random (version 4) ids dirtied a different page for nearly every report stored.
    """
    value = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | secrets.randbits(12) << 64 | 0b10 << 62
    return uuid.UUID(int=value | secrets.randbits(62)).hex


def clip_text(value: str | None, limit: int = 256) -> str:
    """Shorten untrusted text to ``limit`` characters, marking the cut with an ellipsis."""
    if value is None:
        return ""
    return value if len(value) <= limit else value[: limit - 1] + "…"


class Strict(BaseModel):
    """Base for every model in the contract: unknown fields are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Envelope(Strict):
    """Fields every agent message carries."""

    schema_version: SchemaVersion = Field(SCHEMA_VERSION, description="Contract version of this payload.")
    agent: Identifier = Field(description="Agent name; equals the CN of the agent's certificate.")
    seq: int = Field(ge=0, description="Per-agent sequence number, increasing by one per message.")
    msg_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] = Field(
        description="Unique message id: a UUID in hex, time-ordered (version 7) from current agents; central deduplicates on it."
    )
    ts: UtcDatetime = Field(description="When the source measured this, UTC, ISO 8601.")


# --- agent presence ---------------------------------------------------------------------------


class AgentBirth(Envelope):
    """Retained on the availability topic when the agent connects."""

    kind: Literal["agent_birth"] = "agent_birth"
    agent_version: ShortText
    hostname: ShortText
    started_at: UtcDatetime
    cameras_configured: int = Field(ge=0)
    websites_configured: int = Field(ge=0)


class AgentOffline(Envelope):
    """Retained on the availability topic: the broker's last will, or a clean shutdown."""

    kind: Literal["agent_offline"] = "agent_offline"
    reason: Literal["connection_lost", "shutdown"]


class HostMetrics(Envelope):
    """The agent box's health, sampled with psutil."""

    kind: Literal["host_metrics"] = "host_metrics"
    agent_version: ShortText
    cpu_percent: float = Field(ge=0)
    load_1m: float | None = Field(default=None, ge=0)
    memory_used_bytes: int = Field(ge=0)
    memory_total_bytes: int = Field(ge=0)
    disk_used_bytes: int = Field(ge=0)
    disk_total_bytes: int = Field(ge=0)
    temperatures_c: dict[ShortText, float] = Field(default_factory=dict)
    uptime_s: float = Field(ge=0)
    net_bytes_sent: int = Field(ge=0)
    net_bytes_recv: int = Field(ge=0)
    outbox_depth: int = Field(ge=0, description="Reports in the outbox: not sent yet, or sent and not yet confirmed "
                                                "stored by central.")
    outbox_bytes: int = Field(ge=0)
    outbox_dropped_total: int = Field(ge=0, description="Reports dropped because the outbox was full.")
    # Defaulted: agents released before this field keep validating.
    outbox_rejected_total: int = Field(
        0, ge=0,
        description="Reports the broker refused (e.g. not authorised, 0x87, or too large) and the agent gave up on.",
    )


# --- cameras ----------------------------------------------------------------------------------


class DiscoveryMethod(StrEnum):
    MULTICAST = "multicast"
    UNICAST = "unicast"
    STATIC = "static"


class CameraIdentity(Strict):
    """What the agent knows of one camera: from discovery, ONVIF device information and config."""

    camera_id: Identifier
    host: ShortText
    port: int = Field(ge=1, le=65535)
    name: ShortText = ""
    manufacturer: ShortText = ""
    model: ShortText = ""
    firmware: ShortText = ""
    serial: ShortText = ""
    mac: ShortText = ""
    endpoint_ref: ShortText = ""
    discovered_by: DiscoveryMethod
    opd: ShortText = Field("", description="Owning office, from the agent's configuration.")


class CameraInventory(Envelope):
    """The cameras an agent knows, with those found and lost since the previous inventory."""

    kind: Literal["camera_inventory"] = "camera_inventory"
    cameras: list[CameraIdentity] = Field(max_length=5000)
    found: list[Identifier] = Field(default_factory=list, max_length=5000)
    lost: list[Identifier] = Field(default_factory=list, max_length=5000)


class Outcome(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"


class CheckOutcome(Strict):
    """One check's result: a machine-readable reason code and a human message."""

    check: Identifier
    outcome: Outcome
    reason: ReasonCode = Field(description="Machine-readable cause, e.g. 'ok', 'frozen', 'auth_failed'.")
    message: LongText = ""
    duration_ms: float = Field(0.0, ge=0)
    details: dict[Identifier, DetailValue] = Field(default_factory=dict, max_length=64)


class CameraState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class CameraStatus(Envelope):
    """One check cycle's result for one camera."""

    kind: Literal["camera_status"] = "camera_status"
    camera_id: Identifier
    status: CameraState
    reason: ReasonCode = Field(description="The reason code that decided the status.")
    message: LongText = ""
    consecutive_failures: int = Field(0, ge=0)
    checks: list[CheckOutcome] = Field(max_length=64)


class CameraThumbnail(Envelope):
    """Metadata of a JPEG thumbnail; the JPEG bytes travel after it in the same payload (see codec)."""

    kind: Literal["camera_thumbnail"] = "camera_thumbnail"
    camera_id: Identifier
    content_type: Literal["image/jpeg"] = "image/jpeg"
    width: int = Field(ge=1, le=4096)
    height: int = Field(ge=1, le=4096)
    size_bytes: int = Field(ge=1)
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    captured_at: UtcDatetime


class LiveState(StrEnum):
    """Where a live stream stands: a frame, or why there is none (the last message of a stream)."""

    FRAME = "frame"
    ENDED = "ended"  # every lease ended or expired, or the maximum duration passed
    FAILED = "failed"  # the stream could not start or broke; ``reason`` says why


class StreamProfile(StrEnum):
    """Which of the camera's streams a live view or still reads (recorded in central's viewing record)."""

    MAIN = "main"  # the ONVIF profile the checks use (the most pixels)
    SUB = "sub"  # the ONVIF profile chosen for live view: the one nearest the agent's [live] max_width
    RTSP_URL = "rtsp_url"  # the camera's configured rtsp_url: the operator's choice, main or sub unknown


class LiveFrame(Envelope):
    """Agent -> central, QoS 0, never retained: one JPEG frame of a camera's live view, or its end.

    ``seq`` counts this stream's frames from 1 (live frames are not outbox reports). A ``frame`` carries
    ``size_bytes`` of JPEG after the header (see codec); ``ended`` and ``failed`` carry none.
    """

    kind: Literal["live_frame"] = "live_frame"
    camera_id: Identifier
    state: LiveState
    reason: ReasonCode = Field(default="ok", description="failed: the camera's reason code (shared/reasons.py).")
    message: ShortText = ""
    width: int = Field(default=0, ge=0, le=4096)
    height: int = Field(default=0, ge=0, le=4096)
    size_bytes: int = Field(default=0, ge=0)
    fps: float = Field(default=0, ge=0, le=60, description="The rate the agent currently sends at (budget-bound).")
    still: bool = Field(default=False, description="The answer to snapshot_now (one full-resolution picture, or "
                        "why there is none), not part of a live stream: it neither continues nor ends one.")
    profile: StreamProfile | None = Field(
        default=None,
        description="A frame's: the camera stream the agent reads (main, sub, or the configured rtsp_url); "
        "none from older agents and on a stream's end. Central records it in the live viewing record.",
    )


# --- websites ---------------------------------------------------------------------------------


class WebsiteAvailability(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    # The site says it is in maintenance (HTTP 503 with Retry-After, or a maintenance page) and its
    # announced end has not passed; a maintenance that outlasts it is reported as down.
    MAINTENANCE = "maintenance"


class Freshness(StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    UNKNOWN = "unknown"


class FreshnessSignal(StrEnum):
    WORDPRESS_API = "wordpress_api"
    FEED = "feed"
    SITEMAP = "sitemap"
    LAST_MODIFIED = "last_modified"
    CONTENT_HASH = "content_hash"


class WebsiteStatus(Envelope):
    """One check of one OPD website: availability, TLS and content freshness."""

    kind: Literal["website_status"] = "website_status"
    website_id: Identifier
    url: Annotated[str, StringConstraints(max_length=2048)]
    opd: ShortText = ""
    availability: WebsiteAvailability
    reason: ReasonCode
    message: LongText = ""
    http_status: int | None = Field(default=None, ge=100, le=599)
    response_ms: float | None = Field(default=None, ge=0)
    tls_valid: bool | None = None
    tls_expires_at: UtcDatetime | None = None
    tls_days_left: int | None = None
    freshness: Freshness
    last_update: UtcDatetime | None = Field(default=None, description="Estimated time of the newest content.")
    last_update_signal: FreshnessSignal | None = None
    stale_after_days: int = Field(ge=1)
    maintenance_until: UtcDatetime | None = Field(
        default=None, description="While in maintenance (or overrunning it): the end the site announced."
    )
    checks: list[CheckOutcome] = Field(max_length=64)


# --- commands ---------------------------------------------------------------------------------


class CommandName(StrEnum):
    CHECK_NOW = "check_now"
    REDISCOVER = "rediscover"
    THUMBNAIL_NOW = "thumbnail_now"
    # Live view (docs/live-view.md): start or renew one viewer lease on a camera's live frames, end it.
    LIVE_START = "live_start"
    LIVE_STOP = "live_stop"
    # One full-resolution still of a camera, now: answered on the live topic by a live_frame with still=true.
    SNAPSHOT_NOW = "snapshot_now"


class Command(Envelope):
    """Central -> agent; ``agent`` is the target, ``seq`` central's own counter for that agent."""

    kind: Literal["command"] = "command"
    command_id: Identifier
    name: CommandName
    camera_id: Identifier | None = Field(default=None, description="One camera, or all when absent.")
    requested_by: ShortText = ""
    lease_s: int | None = Field(
        default=None, ge=1, le=300,
        description="live_start only: the lease lasts this long unless renewed by another live_start with the "
        "same command_id (the viewer lease's id); live_stop with that id ends it at once.",
    )
    max_kbps: int | None = Field(
        default=None, ge=64, le=1_000_000,
        description="live_start only: central's bandwidth budget for all of this agent's live streams together, "
        "kilobits per second ([live_view] in central.toml); the agent keeps to the lower of it and its own "
        "[live] max_kbps.",
    )


class CommandResult(Envelope):
    """Agent -> central: how a command went."""

    kind: Literal["command_result"] = "command_result"
    command_id: Identifier
    name: CommandName
    ok: bool
    message: LongText = ""
    details: dict[Identifier, DetailValue] = Field(default_factory=dict, max_length=64)


# Most ids one confirmation carries: a batch of 2,000 reports from one agent fits in one message.
MAX_CONFIRMED_IDS = 5000
MessageId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class ReportsStored(Strict):
    """Central -> one agent: these of its reports are committed (or were already); the outbox may forget them.

    Sent after every ingest commit, for new reports, redeliveries already stored and reports central
    will never store (quarantined: refusing them again would not change that). Not retained.
    """

    schema_version: SchemaVersion = SCHEMA_VERSION
    kind: Literal["reports_stored"] = "reports_stored"
    msg_id: MessageId = Field(description="This confirmation's own id.")
    agent: Identifier = Field(description="The agent whose reports these are (the topic's agent).")
    ts: UtcDatetime = Field(description="When central committed them.")
    msg_ids: list[MessageId] = Field(min_length=1, max_length=MAX_CONFIRMED_IDS,
                                     description="The msg_id of every report confirmed.")


# --- public topics (central -> third parties) ---------------------------------------------


class PublicEnvelope(Strict):
    """Fields every public message carries; ``seq`` is central's counter for the topic."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    seq: int = Field(ge=0)
    msg_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    ts: UtcDatetime


class RegencySummary(PublicEnvelope):
    """Retained per-regency rollup."""

    kind: Literal["regency_summary"] = "regency_summary"
    regency: OwnerCode = Field(
        description="The regency's code (e.g. '16.71'), or '16': the province's own offices (Pemprov, configured "
        "on central), counted apart from the regency their agents' certificates name."
    )
    name: ShortText
    stage: ShortText
    agents_online: int = Field(ge=0)
    agents_total: int = Field(ge=0)
    cameras_ok: int = Field(ge=0)
    cameras_degraded: int = Field(ge=0)
    cameras_offline: int = Field(ge=0)
    cameras_unknown: int = Field(ge=0)
    cameras_total: int = Field(ge=0)
    websites_fresh: int = Field(ge=0)
    websites_stale: int = Field(ge=0)
    websites_down: int = Field(ge=0)
    websites_total: int = Field(ge=0)


class PublicCameraStatus(PublicEnvelope):
    """Retained current status of one camera: curated, so never its network address or an agent's own words."""

    kind: Literal["public_camera_status"] = "public_camera_status"
    regency: OwnerCode = Field(
        description="Whose it is: a regency's code (e.g. '16.71'), or '16' for the province's own offices "
        "(Pemprov, configured on central), whatever regency their agent's certificate names; the topic's too."
    )
    agent: Identifier
    camera_id: Identifier
    name: ShortText = Field("", description="The operator's name for the camera, else the one it reports.")
    opd: ShortText = Field("", description="The office (OPD) that owns the camera.")
    status: CameraState
    reason: ReasonCode = Field(description="Why, as a reason code (e.g. unreachable, frozen, lost, no_report).")
    since: UtcDatetime | None = Field(None, description="When the camera entered this status.")


class PublicWebsiteStatus(PublicEnvelope):
    """Retained current status of one OPD website (its public URL, never an error text)."""

    kind: Literal["public_website_status"] = "public_website_status"
    regency: OwnerCode = Field(
        description="Whose it is: a regency's code (e.g. '16.71'), or '16' for the province's own offices "
        "(Pemprov, configured on central), whatever regency their agent's certificate names; the topic's too."
    )
    agent: Identifier
    website_id: Identifier
    url: Annotated[str, StringConstraints(max_length=2048)]
    opd: ShortText = ""
    availability: WebsiteAvailability
    freshness: Freshness
    last_update: UtcDatetime | None = None
    reason: ReasonCode


class AlertSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertEvent(PublicEnvelope):
    """An alert raised or resolved by central's rules; not retained. Subject and message are Indonesian,
    written by central (reason codes, counts), never an agent's or a device's own words."""

    kind: Literal["alert"] = "alert"
    alert_id: Identifier
    rule: Identifier
    state: Literal["firing", "resolved"]
    severity: AlertSeverity
    regency: OwnerCode | None = Field(
        None,
        description="Whose subject it is: a regency's code (e.g. '16.71'), or '16' for the province's own "
        "offices (Pemprov, configured on central), whatever regency their agent's certificate names.",
    )
    subject: ShortText = Field(description="What the alert is about, e.g. 'kamera Gerbang (palembang-01/cam-07)'.")
    message: LongText = Field(description="Central's Indonesian wording, e.g. 'alasan: unreachable'.")
    started_at: UtcDatetime
    resolved_at: UtcDatetime | None = None


AgentMessage = Annotated[
    AgentBirth
    | AgentOffline
    | HostMetrics
    | CameraInventory
    | CameraStatus
    | CameraThumbnail
    | WebsiteStatus
    | Command
    | CommandResult,
    Field(discriminator="kind"),
]
PublicMessage = Annotated[
    RegencySummary | PublicCameraStatus | PublicWebsiteStatus | AlertEvent, Field(discriminator="kind")
]
Message = (
    AgentBirth
    | AgentOffline
    | HostMetrics
    | CameraInventory
    | CameraStatus
    | CameraThumbnail
    | WebsiteStatus
    | Command
    | CommandResult
    | LiveFrame
    | ReportsStored
    | RegencySummary
    | PublicCameraStatus
    | PublicWebsiteStatus
    | AlertEvent
)

ALL_MODELS: tuple[type[Strict], ...] = (
    AgentBirth,
    AgentOffline,
    HostMetrics,
    CameraInventory,
    CameraStatus,
    CameraThumbnail,
    WebsiteStatus,
    Command,
    CommandResult,
    LiveFrame,
    ReportsStored,
    RegencySummary,
    PublicCameraStatus,
    PublicWebsiteStatus,
    AlertEvent,
)
