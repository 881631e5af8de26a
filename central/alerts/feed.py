"""Alerts on the change feed: a firing, resolved or acknowledged alert is an ``alert`` event.

Every open screen follows the change feed (one poller per web process, one stream per browser), so an
event here reaches every wall within a second or two: a new critical alert starts the alarm on each
screen, and an acknowledgement from any screen or desk stops it everywhere and names who took it,
instead of waiting for each wall's periodic refresh.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from central.alerts.tables import AlertRecord
from central.storage.models import EventKind
from central.storage.transitions import event_row, write_events
from shared.regencies import is_regency_code


def alert_changed(session: Session, alert: AlertRecord, state: str, now: datetime) -> None:
    """Write the alert's new ``state`` to the change feed in the caller's transaction.

    The event names the alert and its state only (no subject text, no user name): the change feed is
    also ``/api/v1/events``. An alert of the province's own offices ("16") is a province-level event
    (no regency): it reaches province-wide screens, as the alert itself does.
    """
    regency = alert.regency_code if alert.regency_code and is_regency_code(alert.regency_code) else None
    write_events(
        session.connection(),
        [event_row(EventKind.ALERT, now, regency, alert.agent_name, alert.alert_id, new=state, created_at=now)],
    )
