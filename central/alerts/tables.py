"""The alerting tables on storage's Base: alerts, the delivery outbox, channels (silences: storage.models.Silence)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from central.storage.models import IDENTIFIER_LENGTH, LONG_TEXT, SHORT_TEXT, Base, BigId
from shared.messages import utc_now


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class DeliveryEvent(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    TEST = "test"


class AlertRecord(Base):
    """One alert from firing to resolution; the firing rows are the evaluator's persisted state."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_status_key", "status", "key"),
        Index("ix_alerts_regency_fired", "regency_code", "fired_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH), unique=True)
    key: Mapped[str] = mapped_column(String(SHORT_TEXT))  # rule:subject_id
    rule: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH), index=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(SHORT_TEXT))
    subject_label: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    regency_code: Mapped[str | None] = mapped_column(String(8))
    agent_name: Mapped[str | None] = mapped_column(String(IDENTIFIER_LENGTH))
    opd: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    severity: Mapped[str] = mapped_column(String(16))  # shared AlertSeverity
    message: Mapped[str] = mapped_column(String(LONG_TEXT), default="")
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.FIRING.value)
    started_at: Mapped[dt.datetime]  # when the problem began (start of the bad run)
    fired_at: Mapped[dt.datetime]  # when the threshold was crossed
    resolved_at: Mapped[dt.datetime | None]
    good_since: Mapped[dt.datetime | None]
    notified: Mapped[bool] = mapped_column(Boolean, default=False)  # firing notice queued
    suppressed_by: Mapped[str | None] = mapped_column(String(SHORT_TEXT))
    members: Mapped[list[Any]] = mapped_column(default=list)  # camera ids of a regency outage
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utc_now)


class AlertDelivery(Base):
    """The outbox: one notification for one channel, retried with backoff until sent or given up."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)  # also the public topic's seq
    alert_pk: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH))
    event: Mapped[str] = mapped_column(String(16))  # DeliveryEvent
    msg_id: Mapped[str] = mapped_column(String(32), unique=True)  # same on every retry: receivers dedupe
    payload: Mapped[dict[str, Any]] = mapped_column()  # AlertEvent fields except seq/msg_id/ts
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    last_error: Mapped[str] = mapped_column(String(LONG_TEXT), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    sent_at: Mapped[dt.datetime | None]


class AlertChannelConfig(Base):
    """A channel added in the admin pages (central.toml's channels are read-only there)."""

    __tablename__ = "alert_channels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(IDENTIFIER_LENGTH), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # webhook / email / apprise
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the WebhookChannel/EmailChannel fields
    updated_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    updated_by: Mapped[str] = mapped_column(String(SHORT_TEXT), default="")
