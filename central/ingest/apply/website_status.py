"""Website status reports: every report into the history, the newest into the website's row.

A report names its website, and a website never seen is created, up to ``max_websites_per_agent`` per
agent: past that its reports are quarantined (``website_cap``), so one agent cannot fill central.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, cast

from sqlalchemy import Table, bindparam, update

from central.ingest.apply.context import Batch
from central.ingest.apply.rows import WEBSITE_CAP, Key, newest, website_rows, websites
from central.ingest.batch import Accepted
from central.storage.models import EventKind, WebsiteCheck, WebsiteState
from central.storage.text import checks_json, clean_text
from central.storage.transitions import event_row
from shared.messages import WebsiteAvailability, WebsiteStatus

# Every column a website report sets, each bound as b_<column>: one executemany per batch.
_REPORT_COLUMNS = (
    "state", "availability", "freshness", "reason", "message", "url", "reported_opd", "http_status",
    "response_ms", "tls_valid", "tls_expires_at", "tls_days_left", "last_update", "last_update_signal",
    "stale_after_days", "status_since", "last_check_at", "updated_at",
)
_STATUS_UPDATE = (
    update(websites)
    .where(websites.c.id == bindparam("b_id"))
    .values({column: bindparam(f"b_{column}") for column in _REPORT_COLUMNS})
)
_CHECKS_INSERT = cast(Table, WebsiteCheck.__table__).insert()


def website_state(availability: str, freshness: str) -> str:
    """One word for a website: down wins, then an announced maintenance; otherwise how fresh its content is."""
    if availability == WebsiteAvailability.DOWN.value:
        return WebsiteState.DOWN.value
    if availability == WebsiteAvailability.MAINTENANCE.value:
        return WebsiteState.MAINTENANCE.value
    if freshness in (WebsiteState.FRESH.value, WebsiteState.STALE.value):
        return freshness
    return WebsiteState.UNKNOWN.value


def apply(batch: Batch, entries: list[Accepted[WebsiteStatus]]) -> None:
    wanted = {(e.message.agent, e.message.website_id): e.regency for e in entries}
    first_seen = {(e.message.agent, e.message.website_id): e.item.received_at for e in entries}
    rows, refused = website_rows(batch, wanted, first_seen)
    if refused:
        cap = batch.settings.max_websites_per_agent
        for entry in [e for e in entries if (e.message.agent, e.message.website_id) in refused]:
            batch.refuse(entry, WEBSITE_CAP, (
                f"website {entry.message.website_id!r} would give agent {entry.message.agent!r} more than the "
                f"{cap} websites allowed per agent (ingest.max_websites_per_agent)"))
        entries = [e for e in entries if (e.message.agent, e.message.website_id) not in refused]
    per_site: dict[Key, list[Accepted[WebsiteStatus]]] = defaultdict(list)
    for entry in entries:
        per_site[(entry.message.agent, entry.message.website_id)].append(entry)

    transitions = batch.transitions
    republish = transitions.republish
    checks: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, reports in per_site.items():
        row = rows[key]
        pk = row.id
        reports.sort(key=lambda e: e.ts)
        final: dict[str, Any] | None = None  # only the newest applied report reaches the row
        for entry in reports:
            report = entry.message
            availability, freshness = report.availability.value, report.freshness.value
            state = website_state(availability, freshness)
            message = clean_text(report.message)
            url, opd = clean_text(report.url), clean_text(report.opd)
            checks.append(
                {
                    "website_pk": pk, "ts": entry.ts, "received_at": entry.item.received_at, "state": state,
                    "availability": availability, "freshness": freshness,
                    "reason": report.reason, "message": message,
                    "http_status": report.http_status, "response_ms": report.response_ms,
                    "tls_days_left": report.tls_days_left, "last_update": report.last_update,
                    "checks": checks_json(report.checks),
                }
            )
            current_ts = newest(row.last_check_at, row.status_since)
            if current_ts is not None and entry.ts < current_ts:
                continue
            before = (row.state, row.availability, row.freshness, row.reason, row.url)
            if (state, availability, freshness) != (row.state, row.availability, row.freshness) \
                    or row.status_since is None:
                transitions.website(row, state, availability, freshness, report.reason, message, entry.ts)
                if state != row.state or row.status_since is None:
                    transitions.events.append(
                        event_row(EventKind.WEBSITE_STATUS, entry.ts, entry.regency, report.agent,
                                  report.website_id, old=row.state if row.status_since else "", new=state,
                                  reason=report.reason, message=report.message, website_pk=pk)
                    )
                row.status_since = entry.ts
            values = {
                "state": state,
                "availability": availability,
                "freshness": freshness,
                "reason": report.reason,
                "message": message,
                "url": url,
                "reported_opd": opd,
                "http_status": report.http_status,
                "response_ms": report.response_ms,
                "tls_valid": report.tls_valid,
                "tls_expires_at": report.tls_expires_at,
                "tls_days_left": report.tls_days_left,
                "last_update": report.last_update,
                "last_update_signal": report.last_update_signal.value if report.last_update_signal else "",
                "stale_after_days": report.stale_after_days,
                "status_since": row.status_since,
                "last_check_at": entry.ts,
                "updated_at": entry.item.received_at,
            }
            row.state, row.availability, row.freshness = state, availability, freshness
            row.reason, row.message, row.url, row.reported_opd = report.reason, message, url, opd
            row.last_check_at = entry.ts
            final = values
            if before != (row.state, row.availability, row.freshness, row.reason, row.url):
                republish.websites.add(pk)
                republish.regencies.add(row.regency_code)
        if final is not None:
            updates.append({"b_id": pk, **{f"b_{column}": final[column] for column in _REPORT_COLUMNS}})
    batch.conn.execute(_CHECKS_INSERT, checks)
    transitions.write_periods(batch.conn)
    if updates:
        updates.sort(key=lambda update: update["b_id"])  # id order, as for cameras
        batch.fast.executemany(batch.conn, _STATUS_UPDATE, updates)
