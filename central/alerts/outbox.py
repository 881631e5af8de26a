"""The delivery outbox: queue notifications per channel, send the due ones, retry with backoff."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from central.alerts.config import DeliveryConfig
from central.alerts.notices import to_event
from central.alerts.senders import DeliveryError, Sender
from central.alerts.tables import AlertDelivery, DeliveryStatus
from central.storage.db import Database
from central.storage.models import LONG_TEXT

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DispatchStats:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def backoff(attempts: int, policy: DeliveryConfig) -> timedelta:
    """Wait before attempt ``attempts + 1``: initial, doubling, capped."""
    seconds = policy.backoff_initial_s * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, policy.backoff_max_s))


def enqueue(
    session: Any,
    *,
    alert_pk: int | None,
    event: str,
    fields: dict[str, Any],
    channels: Iterable[str],
    now: datetime,
) -> list[AlertDelivery]:
    rows = [
        AlertDelivery(
            alert_pk=alert_pk,
            channel=channel,
            event=event,
            msg_id=uuid.uuid4().hex,
            payload=fields,
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for channel in channels
    ]
    session.add_all(rows)
    return rows


def dispatch_due(
    database: Database,
    senders: Mapping[str, Sender],
    policy: DeliveryConfig,
    clock: Callable[[], datetime],
) -> DispatchStats:
    """Send every due delivery once; a send happens outside any transaction so the ingest never waits."""
    stats = DispatchStats()
    now = clock()
    with database.session() as session:
        due = list(
            session.scalars(
                select(AlertDelivery)
                .where(
                    AlertDelivery.status == DeliveryStatus.PENDING.value, AlertDelivery.next_attempt_at <= now
                )
                .order_by(AlertDelivery.id)
                .limit(policy.batch_size)
            )
        )
    for delivery in due:
        error = _attempt(delivery, senders)
        finished = clock()
        with database.session(write=True) as session:
            row = session.get(AlertDelivery, delivery.id)
            if row is None or row.status != DeliveryStatus.PENDING.value:
                continue
            row.attempts += 1
            if error is None:
                row.status = DeliveryStatus.SENT.value
                row.sent_at = finished
                row.last_error = ""
                stats.sent += 1
            elif error.permanent or row.attempts >= policy.max_attempts:
                row.status = DeliveryStatus.FAILED.value
                row.last_error = str(error)[:LONG_TEXT]
                stats.failed += 1
                log.error(
                    "alert delivery %s to %s given up after %d attempt(s): %s",
                    row.id,
                    row.channel,
                    row.attempts,
                    error,
                )
            else:
                row.next_attempt_at = finished + backoff(row.attempts, policy)
                row.last_error = str(error)[:LONG_TEXT]
                stats.retrying += 1
                log.warning(
                    "alert delivery %s to %s failed (attempt %d), retry at %s: %s",
                    row.id,
                    row.channel,
                    row.attempts,
                    row.next_attempt_at.isoformat(),
                    error,
                )
    return stats


def _attempt(delivery: AlertDelivery, senders: Mapping[str, Sender]) -> DeliveryError | None:
    sender = senders.get(delivery.channel)
    if sender is None:
        return DeliveryError(f"channel {delivery.channel!r} is not configured (or disabled)", permanent=True)
    event = to_event(delivery.payload, seq=delivery.id, msg_id=delivery.msg_id, ts=delivery.created_at)
    try:
        sender.send(event)
    except DeliveryError as error:
        return error
    except Exception as error:  # a bug in one channel must not stop the others
        log.exception("channel %s raised unexpectedly", delivery.channel)
        return DeliveryError(f"{type(error).__name__}: {error}")
    return None
