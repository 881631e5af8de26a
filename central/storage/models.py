"""Central's database schema as SQLAlchemy 2 typed declarative models: one class per table.

Overview (all timestamps are timezone-aware UTC; ``Date`` columns are local days in the configured
timezone, Asia/Jakarta by default):

Reference and inventory
    ``Regency``        the 17 regencies, seeded from shared/regencies.csv by the first migration.
    ``Rollout``        one row per regency: targets, stage, dates and notes, edited by operators.
    ``Agent``          an edge agent, bound to its regency by the provisioning registry; presence
                       (online, since when, why offline) comes from birth and last-will messages.
    ``Camera``         identity from inventory reports, operator metadata (display name, owning OPD,
                       location, venue, tags) and the *current* status, updated by every report. A
                       camera counts (``Camera.in_service``) until an operator retires it, lost or not.
    ``Website``        an OPD website: identity, operator metadata and current status.

History (raw rows are deleted after ``database.retention_days``; status changes and dailies stay)
    ``CameraCheck``           every camera status report.
    ``CameraStatusChange``    one row per period in one status: start, end, duration, reason.
    ``CameraThumbnail``       the last few JPEGs per camera.
    ``WebsiteCheck`` / ``WebsiteStatusChange``  the same for websites.
    ``HostMetric``            the agent boxes' health samples.
    ``CameraDaily`` / ``WebsiteDaily`` / ``RegencyDaily``  seconds per state and checks per local day.

Operations
    ``CommandRecord``  a command sent to an agent and, once the agent answers, its result.
    ``Event``          the change feed: status changes, presence, inventory and command results, with
                       an increasing ``id`` the web's Server-Sent Events poll (``id > last_seen``).
    ``IngestedMessage`` the msg_id of every stored message: redeliveries are dropped against it.
    ``QuarantinedMessage`` a refused message with its reason; ``IngestCounter`` running totals.
    ``PublicState``    the retained public topics' latest payload and sequence (an outbox: a row whose
                       ``published_seq`` lags ``seq`` is (re)published by the ingest).

Foreign keys to surrogate ids are named ``*_pk`` (``camera_pk`` -> ``cameras.id``) so they never get
confused with the agents' own string ids (``Camera.camera_id``, ``Website.website_id``).
Other features add tables with their own Alembic migrations on top of ``Base.metadata``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from shared.messages import utc_now

# Stable constraint names, so Alembic migrations (ours and later features') can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not a BIGINT one.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# JSONB on PostgreSQL (indexable, compact); JSON text elsewhere.
Json = JSON().with_variant(postgresql.JSONB(), "postgresql")

IDENTIFIER_LENGTH = 64
SHORT_TEXT = 256
LONG_TEXT = 2048


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend; SQLite would otherwise hand back naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware UTC datetimes only")
        value = value.astimezone(dt.UTC)
        # SQLite keeps text; dropping the offset keeps the text sortable and comparable.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        # Ingest binds several datetimes per report: on SQLite, one step to the text SQLAlchemy's
        # DATETIME would store instead of two processors and a %-format. Checked against it once.
        composed = super().bind_processor(dialect)
        if dialect.name != "sqlite" or composed is None:
            return composed
        sample = dt.datetime(7, 2, 3, 4, 5, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=7)))
        if composed(sample) != _sqlite_text(sample) or composed(sample.replace(microsecond=0)) != _sqlite_text(
            sample.replace(microsecond=0)
        ):
            return composed  # a different storage format: keep SQLAlchemy's
        return _sqlite_text


def _sqlite_text(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not dt.UTC:
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware UTC datetimes only")
        value = value.astimezone(dt.UTC)
    # "YYYY-MM-DD HH:MM:SS.ffffff+00:00": the offset cut off, without building a naive copy first.
    return value.isoformat(" ", "microseconds")[:26]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UtcDateTime(), dict[str, Any]: Json, list[Any]: Json}


# --- value sets stored as short strings (portable; the wire enums live in shared.messages) ---------


class RolloutStage(StrEnum):
    """The rollout ladder: how far a regency's deployment has come; each step implies the ones before it.

    Operators record a stage by hand (``Rollout.stage``) for what live data cannot prove: a box
    installed before its agent reports, and a regency signed off as complete. The stage shown is
    derived from live data, floored at the recorded one (``central.rollout.derive_stage``).
    """

    PLANNED = "planned"
    BOX_INSTALLED = "box_installed"
    AGENT_ONLINE = "agent_online"
    CAMERAS_INTEGRATED = "cameras_integrated"
    WEBSITES_INTEGRATED = "websites_integrated"
    COMPLETE = "complete"

    @property
    def step(self) -> int:
        return list(RolloutStage).index(self)


class WebsiteState(StrEnum):
    """A website's one-word state for rollups: down wins, else its content freshness."""

    FRESH = "fresh"
    STALE = "stale"
    DOWN = "down"
    UNKNOWN = "unknown"
    # The agent reports a maintenance with an announced end not yet passed (one that outlasts it is down).
    MAINTENANCE = "maintenance"


# Reason codes central itself gives (agents give the rest; all are worded in shared/reasons.py).
NO_REPORT_REASON = "no_report"  # nothing heard from the camera or website for too long
LOST_REASON = "lost"  # the agent no longer discovers the camera: offline until found again or retired


class CommandState(StrEnum):
    PENDING = "pending"  # row written, not yet handed to the broker
    SENT = "sent"  # the broker acknowledged the publish
    SUCCEEDED = "succeeded"  # the agent answered ok
    FAILED = "failed"  # the agent answered not ok
    PUBLISH_FAILED = "publish_failed"  # the broker could not be reached


class EventKind(StrEnum):
    """What an Event row records; ``subject`` and ``old_state``/``new_state`` depend on the kind."""

    CAMERA_STATUS = "camera_status"  # subject camera_id; states are CameraState values
    WEBSITE_STATUS = "website_status"  # subject website_id; states are WebsiteState values
    AGENT_ONLINE = "agent_online"  # subject agent name
    AGENT_OFFLINE = "agent_offline"  # subject agent name; reason connection_lost, shutdown or no_report
    CAMERA_FOUND = "camera_found"  # subject camera_id
    CAMERA_LOST = "camera_lost"  # subject camera_id
    CAMERA_RETIRED = "camera_retired"  # subject camera_id; message: who retired it
    COMMAND_RESULT = "command_result"  # subject command_id; new_state succeeded/failed
    ALERT = "alert"  # subject alert_id; new_state firing, resolved or acknowledged (central.alerts.feed)


# --- reference ------------------------------------------------------------------------------------


class Regency(Base):
    __tablename__ = "regencies"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)  # Kemendagri code, e.g. "16.71"
    bps_code: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))  # "Kabupaten" or "Kota"
    name: Mapped[str] = mapped_column(String(SHORT_TEXT))
    slug: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH), unique=True)

    rollout: Mapped[Rollout | None] = relationship(back_populates="regency", uselist=False)

    @property
    def display_name(self) -> str:
        return f"{self.kind} {self.name}"


class Rollout(Base):
    __tablename__ = "rollouts"

    regency_code: Mapped[str] = mapped_column(ForeignKey("regencies.code"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), default=RolloutStage.PLANNED.value)
    target_cameras: Mapped[int] = mapped_column(Integer, default=0)
    target_websites: Mapped[int] = mapped_column(Integer, default=0)
    planned_start: Mapped[dt.date | None] = mapped_column(Date)
    started_on: Mapped[dt.date | None] = mapped_column(Date)
    target_date: Mapped[dt.date | None] = mapped_column(Date)
    completed_on: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime | None]
    updated_by: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")

    regency: Mapped[Regency] = relationship(back_populates="rollout")


# --- agents, cameras, websites ----------------------------------------------------------------


class Agent(Base):
    __tablename__ = "agents"

    name: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH), primary_key=True)  # certificate CN
    regency_code: Mapped[str] = mapped_column(ForeignKey("regencies.code"), index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    presence_since: Mapped[dt.datetime | None]  # when `online` last flipped
    offline_reason: Mapped[str] = mapped_column(String(32), default="")  # connection_lost / shutdown / no_report
    agent_version: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    hostname: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    started_at: Mapped[dt.datetime | None]
    cameras_configured: Mapped[int] = mapped_column(Integer, default=0)
    websites_configured: Mapped[int] = mapped_column(Integer, default=0)
    last_seen_at: Mapped[dt.datetime | None]  # newest message of any kind (measurement time)
    # When central last received any message from it (central's clock): its silence (apply/presence.py).
    heard_at: Mapped[dt.datetime | None]
    presence_ts: Mapped[dt.datetime | None]  # ts of the birth/offline message applied, to ignore older ones
    # When its link died (last will), while the grace period runs: still online until it ends without a birth.
    link_lost_at: Mapped[dt.datetime | None]
    command_seq: Mapped[int] = mapped_column(BigInteger, default=0)  # central's Command.seq counter
    # How far ahead of central's clock the agent stamped its newest batch of messages (seconds; 0 when
    # not ahead), and since when it has been ahead beyond ingest.clock_flag_s (None: it is not).
    clock_ahead_s: Mapped[float] = mapped_column(Float, default=0.0)
    clock_off_since: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)

    regency: Mapped[Regency] = relationship()


class OwnedByOpd:
    """The one rule for who owns a camera or website: the operator's OPD wins over the agent's."""

    if TYPE_CHECKING:
        owner_opd: Mapped[str]
        reported_opd: Mapped[str]

    @hybrid_property
    def opd(self) -> str:
        return self.owner_opd or self.reported_opd

    @opd.inplace.expression
    @classmethod
    def _opd_expression(cls) -> ColumnElement[str]:
        return func.coalesce(func.nullif(cls.owner_opd, ""), cls.reported_opd)


class Camera(OwnedByOpd, Base):
    __tablename__ = "cameras"
    __table_args__ = (
        UniqueConstraint("agent_name", "camera_id"),
        Index("ix_cameras_regency_status", "regency_code", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_name: Mapped[str] = mapped_column(ForeignKey("agents.name"))
    camera_id: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH))  # the agent's id for it
    regency_code: Mapped[str] = mapped_column(ForeignKey("regencies.code"))

    # Identity, from inventory reports (agent-reported, untrusted text already clipped to 256).
    host: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    port: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    manufacturer: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    model: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    firmware: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    serial: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    mac: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    endpoint_ref: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    discovered_by: Mapped[str] = mapped_column(String(16), default="")
    reported_opd: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    in_inventory: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    inventory_at: Mapped[dt.datetime | None]
    lost_at: Mapped[dt.datetime | None]  # when its agent stopped listing it; cleared when found again
    # Set by an operator: from then on the camera is out of every total, alert and report (history stays).
    retired_at: Mapped[dt.datetime | None]
    retired_by: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")

    # Operator metadata, edited in the web app; never touched by the ingest.
    display_name: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    owner_opd: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    location: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    venue: Mapped[str] = mapped_column(String(SHORT_TEXT), default="", index=True)  # the group
    tags: Mapped[list[Any]] = mapped_column(default=list)  # list[str]
    notes: Mapped[str] = mapped_column(Text, default="")

    # Current status, from the newest report (by measurement time).
    status: Mapped[str] = mapped_column(String(16), default="unknown")  # shared CameraState
    reason: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH), default=NO_REPORT_REASON)
    message: Mapped[str] = mapped_column(String(LONG_TEXT), default="")
    status_since: Mapped[dt.datetime | None]
    last_check_at: Mapped[dt.datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utc_now)  # not indexed: rewritten by every report

    agent: Mapped[Agent] = relationship()

    @property
    def label(self) -> str:
        """What to show a person: the operator's name, the camera's own, or its id."""
        return self.display_name or self.name or self.camera_id

    @property
    def full_id(self) -> str:
        """``agent/camera_id``: unique across agents, how alerts, silences and reports name a camera."""
        return f"{self.agent_name}/{self.camera_id}"

    @hybrid_property
    def in_service(self) -> bool:
        """Whether the camera counts: in every total, alert and report until an operator retires it.

        A camera its agent no longer discovers (lost) still counts, as offline: a camera stolen off its
        pole is a problem to chase, not a disappearance.
        """
        return self.retired_at is None

    @in_service.inplace.expression
    @classmethod
    def _in_service_expression(cls) -> ColumnElement[bool]:
        return cls.retired_at.is_(None)

    @hybrid_property
    def lost(self) -> bool:
        """Its agent no longer lists it in the inventory."""
        return self.lost_at is not None

    @lost.inplace.expression
    @classmethod
    def _lost_expression(cls) -> ColumnElement[bool]:
        return cls.lost_at.is_not(None)


class Website(OwnedByOpd, Base):
    __tablename__ = "websites"
    __table_args__ = (
        UniqueConstraint("agent_name", "website_id"),
        Index("ix_websites_regency_state", "regency_code", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_name: Mapped[str] = mapped_column(ForeignKey("agents.name"))
    website_id: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH))
    regency_code: Mapped[str] = mapped_column(ForeignKey("regencies.code"))
    url: Mapped[str] = mapped_column(String(LONG_TEXT), default="")
    reported_opd: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utc_now)

    # Operator metadata.
    display_name: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    owner_opd: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    notes: Mapped[str] = mapped_column(Text, default="")

    # Current status.
    state: Mapped[str] = mapped_column(String(16), default=WebsiteState.UNKNOWN.value)  # WebsiteState
    availability: Mapped[str] = mapped_column(String(16), default="")  # shared WebsiteAvailability
    freshness: Mapped[str] = mapped_column(String(16), default="unknown")  # shared Freshness
    reason: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH), default=NO_REPORT_REASON)
    message: Mapped[str] = mapped_column(String(LONG_TEXT), default="")
    http_status: Mapped[int | None] = mapped_column(Integer)
    response_ms: Mapped[float | None] = mapped_column(Float)
    tls_valid: Mapped[bool | None] = mapped_column(Boolean)
    tls_expires_at: Mapped[dt.datetime | None]
    tls_days_left: Mapped[int | None] = mapped_column(Integer)
    last_update: Mapped[dt.datetime | None]  # newest content the checks found
    last_update_signal: Mapped[str] = mapped_column(String(32), default="")
    stale_after_days: Mapped[int | None] = mapped_column(Integer)
    status_since: Mapped[dt.datetime | None]
    last_check_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utc_now)  # not indexed: rewritten by every report

    agent: Mapped[Agent] = relationship()

    @property
    def label(self) -> str:
        return self.display_name or self.url or self.website_id

    @property
    def full_id(self) -> str:
        """``agent/website_id``: unique across agents, how alerts name a website."""
        return f"{self.agent_name}/{self.website_id}"


# --- history --------------------------------------------------------------------------------------


class CameraCheck(Base):
    """One camera status report (raw; pruned after the retention period)."""

    __tablename__ = "camera_checks"
    __table_args__ = (Index("ix_camera_checks_camera_ts", "camera_pk", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    camera_pk: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    ts: Mapped[dt.datetime]  # measured at (agent clock)
    received_at: Mapped[dt.datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH))
    message: Mapped[str] = mapped_column(String(LONG_TEXT), default="")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    checks: Mapped[list[Any]] = mapped_column(default=list)  # [CheckOutcome.model_dump()]


class CameraStatusChange(Base):
    """A period a camera spent in one status; the open one (ended_at NULL) is the current status."""

    __tablename__ = "camera_status_changes"
    __table_args__ = (
        Index("ix_camera_status_changes_camera_started", "camera_pk", "started_at"),
        # "Open, or ended after t" (the periods overlapping a day or a month: the daily rollups ask it every
        # minute) and "the camera's open one" (closed at each change) without reading the history kept.
        Index("ix_camera_status_changes_ended_camera", "ended_at", "camera_pk"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    camera_pk: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH))
    message: Mapped[str] = mapped_column(String(LONG_TEXT), default="")
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)  # set when the period ends


class CameraThumbnail(Base):
    """A recent JPEG of a camera; the ingest keeps the newest ``ingest.thumbnails_per_camera``."""

    __tablename__ = "camera_thumbnails"
    __table_args__ = (Index("ix_camera_thumbnails_camera_captured", "camera_pk", "captured_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    camera_pk: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    captured_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime]
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)


class WebsiteCheck(Base):
    """One website check report (raw; pruned after the retention period)."""

    __tablename__ = "website_checks"
    __table_args__ = (Index("ix_website_checks_website_ts", "website_pk", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    website_pk: Mapped[int] = mapped_column(ForeignKey("websites.id", ondelete="CASCADE"))
    ts: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(16))
    availability: Mapped[str] = mapped_column(String(16))
    freshness: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH))
    message: Mapped[str] = mapped_column(String(LONG_TEXT), default="")
    http_status: Mapped[int | None] = mapped_column(Integer)
    response_ms: Mapped[float | None] = mapped_column(Float)
    tls_days_left: Mapped[int | None] = mapped_column(Integer)
    last_update: Mapped[dt.datetime | None]
    checks: Mapped[list[Any]] = mapped_column(default=list)


class WebsiteStatusChange(Base):
    __tablename__ = "website_status_changes"
    __table_args__ = (
        Index("ix_website_status_changes_website_started", "website_pk", "started_at"),
        Index("ix_website_status_changes_ended_website", "ended_at", "website_pk"),  # as CameraStatusChange's
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    website_pk: Mapped[int] = mapped_column(ForeignKey("websites.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))  # WebsiteState
    availability: Mapped[str] = mapped_column(String(16))
    freshness: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH))
    message: Mapped[str] = mapped_column(String(LONG_TEXT), default="")
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)


class HostMetric(Base):
    """One health sample of an agent box (raw; pruned after the retention period)."""

    __tablename__ = "host_metrics"
    __table_args__ = (Index("ix_host_metrics_agent_ts", "agent_name", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_name: Mapped[str] = mapped_column(ForeignKey("agents.name", ondelete="CASCADE"))
    ts: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(index=True)
    agent_version: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    cpu_percent: Mapped[float] = mapped_column(Float)
    load_1m: Mapped[float | None] = mapped_column(Float)
    memory_used_bytes: Mapped[int] = mapped_column(BigInteger)
    memory_total_bytes: Mapped[int] = mapped_column(BigInteger)
    disk_used_bytes: Mapped[int] = mapped_column(BigInteger)
    disk_total_bytes: Mapped[int] = mapped_column(BigInteger)
    temperatures_c: Mapped[dict[str, Any]] = mapped_column(default=dict)
    uptime_s: Mapped[float] = mapped_column(Float)
    net_bytes_sent: Mapped[int] = mapped_column(BigInteger)
    net_bytes_recv: Mapped[int] = mapped_column(BigInteger)
    outbox_depth: Mapped[int] = mapped_column(Integer)
    outbox_bytes: Mapped[int] = mapped_column(BigInteger)
    outbox_dropped_total: Mapped[int] = mapped_column(BigInteger)
    # Older agents do not send it: 0, like the message's default.
    outbox_rejected_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class CameraDaily(Base):
    """Seconds a camera spent in each status on one local day, and its check counts."""

    __tablename__ = "camera_daily"

    camera_pk: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True, index=True)
    seconds_ok: Mapped[float] = mapped_column(Float, default=0.0)
    seconds_degraded: Mapped[float] = mapped_column(Float, default=0.0)
    seconds_offline: Mapped[float] = mapped_column(Float, default=0.0)
    seconds_unknown: Mapped[float] = mapped_column(Float, default=0.0)
    checks_total: Mapped[int] = mapped_column(Integer, default=0)
    checks_ok: Mapped[int] = mapped_column(Integer, default=0)


class WebsiteDaily(Base):
    """Seconds a website spent up/degraded/down (or unreported) on one local day, and its checks."""

    __tablename__ = "website_daily"

    website_pk: Mapped[int] = mapped_column(ForeignKey("websites.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True, index=True)
    seconds_up: Mapped[float] = mapped_column(Float, default=0.0)
    seconds_degraded: Mapped[float] = mapped_column(Float, default=0.0)
    seconds_down: Mapped[float] = mapped_column(Float, default=0.0)
    seconds_unknown: Mapped[float] = mapped_column(Float, default=0.0)
    seconds_fresh: Mapped[float] = mapped_column(Float, default=0.0)
    checks_total: Mapped[int] = mapped_column(Integer, default=0)
    checks_up: Mapped[int] = mapped_column(Integer, default=0)


class RegencyDaily(Base):
    """A regency's cameras' and websites' seconds per state summed over one local day."""

    __tablename__ = "regency_daily"

    regency_code: Mapped[str] = mapped_column(ForeignKey("regencies.code"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True, index=True)  # a day's rows are replaced at once
    cameras: Mapped[int] = mapped_column(Integer, default=0)
    camera_seconds_ok: Mapped[float] = mapped_column(Float, default=0.0)
    camera_seconds_degraded: Mapped[float] = mapped_column(Float, default=0.0)
    camera_seconds_offline: Mapped[float] = mapped_column(Float, default=0.0)
    camera_seconds_unknown: Mapped[float] = mapped_column(Float, default=0.0)
    websites: Mapped[int] = mapped_column(Integer, default=0)
    website_seconds_up: Mapped[float] = mapped_column(Float, default=0.0)
    website_seconds_degraded: Mapped[float] = mapped_column(Float, default=0.0)
    website_seconds_down: Mapped[float] = mapped_column(Float, default=0.0)
    website_seconds_unknown: Mapped[float] = mapped_column(Float, default=0.0)


# --- operations -----------------------------------------------------------------------------------


class CommandRecord(Base):
    """A command for an agent: written before publishing, completed by the agent's CommandResult."""

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_agent_requested", "agent_name", "requested_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    command_id: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH), unique=True)
    agent_name: Mapped[str] = mapped_column(ForeignKey("agents.name"))
    name: Mapped[str] = mapped_column(String(32))  # shared CommandName
    camera_id: Mapped[str | None] = mapped_column(String(IDENTIFIER_LENGTH))  # None: every camera
    requested_by: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    requested_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    seq: Mapped[int] = mapped_column(BigInteger)
    msg_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default=CommandState.PENDING.value)  # CommandState
    sent_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    result_ok: Mapped[bool | None] = mapped_column(Boolean)
    result_message: Mapped[str] = mapped_column(String(LONG_TEXT), default="")
    result_details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Event(Base):
    """The change feed: anything an operator would want pushed to their screen, in commit order."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_regency_id", "regency_code", "id"),
        Index("ix_events_kind_id", "kind", "id"),
        Index("ix_events_camera_id", "camera_pk", "id"),  # a camera's newest events (its page, the API)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(index=True)  # when it happened (agent clock)
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    kind: Mapped[str] = mapped_column(String(32))  # EventKind
    regency_code: Mapped[str | None] = mapped_column(ForeignKey("regencies.code"))
    agent_name: Mapped[str | None] = mapped_column(String(IDENTIFIER_LENGTH))
    camera_pk: Mapped[int | None] = mapped_column(BigInteger)  # no FK: events outlive deleted cameras
    website_pk: Mapped[int | None] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH), default="")
    old_state: Mapped[str] = mapped_column(String(32), default="")
    new_state: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH), default="")
    message: Mapped[str] = mapped_column(String(LONG_TEXT), default="")


class IngestedMessage(Base):
    """The (msg_id, agent) of every message stored: its unique key is what makes redelivery harmless.

    Per agent: one agent reusing another's msg_id must not get the other's message dropped. msg_id
    first, so the key (time-ordered ids) still grows at its right edge.
    """

    __tablename__ = "ingested_messages"

    msg_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    agent_name: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(index=True)


class QuarantinedMessage(Base):
    """A message the ingest refused, kept for a person to look at; identical ones are counted once."""

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_agent_last_seen", "agent_name", "last_seen_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of topic + payload
    topic: Mapped[str] = mapped_column(Text)
    agent_name: Mapped[str | None] = mapped_column(String(IDENTIFIER_LENGTH))  # from the topic, if any
    category: Mapped[str] = mapped_column(String(32), index=True)  # decode, unknown_agent, revoked_agent...
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # the first QUARANTINE_PAYLOAD_BYTES
    payload_size: Mapped[int] = mapped_column(Integer)
    first_seen_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime] = mapped_column(index=True)
    times_seen: Mapped[int] = mapped_column(Integer, default=1)


class IngestCounter(Base):
    """Running totals the ingest keeps (``stored``, ``duplicate``, ``quarantined.<category>``...)."""

    __tablename__ = "ingest_counters"

    name: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utc_now)


class IngestSight(Base):
    """Each ingest worker's sight (``ingest/sight.py``), so presence judges by central's as a whole
    (``ingest/central_sight.py``): since when it sees (None: blind), and its heartbeat."""

    __tablename__ = "ingest_sight"

    worker: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # --worker index
    since: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime]


class PublicState(Base):
    """The latest curated payload of one retained public topic, and how far it has been published."""

    __tablename__ = "public_state"

    topic: Mapped[str] = mapped_column(String(512), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    published_seq: Mapped[int] = mapped_column(BigInteger, default=-1, index=True)
    digest: Mapped[str] = mapped_column(String(64))  # of the content, ignoring seq/msg_id/ts
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime]


QUARANTINE_PAYLOAD_BYTES = 65_536


class SilenceRecord(Base):
    """A mute (until a time, or until lifted) or a planned maintenance window, per subject or regency.

    Alerts skip what is silenced; reports leave maintenance windows out of availability.
    """

    __tablename__ = "alert_silences"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # mute / maintenance
    target_kind: Mapped[str] = mapped_column(String(16))  # camera / agent / website / regency
    target: Mapped[str] = mapped_column(String(SHORT_TEXT))
    rule: Mapped[str | None] = mapped_column(String(IDENTIFIER_LENGTH))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    reason: Mapped[str] = mapped_column(String(LONG_TEXT), default="")
    created_by: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
