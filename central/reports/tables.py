"""The reports' table on storage's Base: one row per scheduled report and period, so each goes out once."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.storage.models import Base, BigId


class DispatchStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class ReportDispatch(Base):
    """One scheduled report for one period: sent once, retried on failure, never twice."""

    __tablename__ = "report_dispatches"
    __table_args__ = (UniqueConstraint("kind", "period_start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "monthly" (the province) or "monthly:16.71" (a regency)
    period_start: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=DispatchStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[dt.datetime | None]
    recipients: Mapped[int] = mapped_column(BigInteger, default=0)
