"""The result of checking one website: the WebsiteStatus message, a JSON form and a technician's table."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.messages import (
    CheckOutcome,
    Freshness,
    FreshnessSignal,
    WebsiteAvailability,
    WebsiteStatus,
    clip_text,
)


@dataclass(frozen=True, slots=True)
class WebsiteFindings:
    """Everything one check learnt about one website; ``to_message`` adds the envelope."""

    website_id: str
    url: str
    opd: str
    checked_at: dt.datetime
    availability: WebsiteAvailability
    reason: str
    message: str
    freshness: Freshness
    stale_after_days: int
    http_status: int | None = None
    response_ms: float | None = None
    final_url: str | None = None
    tls_valid: bool | None = None
    tls_expires_at: dt.datetime | None = None
    tls_days_left: int | None = None
    last_update: dt.datetime | None = None
    last_update_signal: FreshnessSignal | None = None
    maintenance_until: dt.datetime | None = None
    checks: tuple[CheckOutcome, ...] = field(default_factory=tuple)

    def to_message(self, *, agent: str, seq: int, msg_id: str, ts: dt.datetime | None = None) -> WebsiteStatus:
        """The wire message; ``ts`` defaults to when the check ran."""
        return WebsiteStatus(
            agent=agent,
            seq=seq,
            msg_id=msg_id,
            ts=ts or self.checked_at,
            website_id=self.website_id,
            url=self.url,
            opd=clip_text(self.opd),
            availability=self.availability,
            reason=self.reason,
            message=clip_text(self.message, 2048),
            http_status=self.http_status if self.http_status and 100 <= self.http_status <= 599 else None,
            response_ms=self.response_ms,
            tls_valid=self.tls_valid,
            tls_expires_at=self.tls_expires_at,
            tls_days_left=self.tls_days_left,
            freshness=self.freshness,
            last_update=self.last_update,
            last_update_signal=self.last_update_signal,
            stale_after_days=self.stale_after_days,
            maintenance_until=self.maintenance_until,
            checks=list(self.checks[:64]),
        )

    def check(self, name: str) -> CheckOutcome | None:
        return next((outcome for outcome in self.checks if outcome.check == name), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: datetimes as ISO 8601 UTC, enums as their values."""
        return {
            "website_id": self.website_id,
            "url": self.url,
            "opd": self.opd,
            "checked_at": self.checked_at.isoformat(),
            "availability": self.availability.value,
            "reason": self.reason,
            "message": self.message,
            "http_status": self.http_status,
            "response_ms": None if self.response_ms is None else round(self.response_ms, 1),
            "final_url": self.final_url,
            "tls_valid": self.tls_valid,
            "tls_expires_at": self.tls_expires_at.isoformat() if self.tls_expires_at else None,
            "tls_days_left": self.tls_days_left,
            "freshness": self.freshness.value,
            "last_update": self.last_update.isoformat() if self.last_update else None,
            "last_update_signal": self.last_update_signal.value if self.last_update_signal else None,
            "stale_after_days": self.stale_after_days,
            "maintenance_until": self.maintenance_until.isoformat() if self.maintenance_until else None,
            "checks": [outcome.model_dump(mode="json") for outcome in self.checks],
        }


def findings_json(findings: Sequence[WebsiteFindings]) -> str:
    """The JSON form for ``scc-agent check --websites --json``."""
    return json.dumps([item.as_dict() for item in findings], indent=2, ensure_ascii=False)


def _age(moment: dt.datetime | None, now: dt.datetime) -> str:
    if moment is None:
        return "-"
    days = (now - moment).total_seconds() / 86400
    return f"{days:.0f}d" if days >= 1 else f"{days * 24:.0f}h"


def format_website_table(findings: Sequence[WebsiteFindings]) -> str:
    """A fixed-width table for a technician, one line per site, then the non-OK details per site."""
    headers = ("WEBSITE", "AVAIL", "REASON", "HTTP", "MS", "TLS DAYS", "FRESHNESS", "LAST UPDATE", "AGE", "SIGNAL")
    rows = []
    for item in findings:
        now = item.checked_at
        rows.append((
            item.website_id,
            item.availability.value,
            item.reason,
            str(item.http_status or "-"),
            "-" if item.response_ms is None else f"{item.response_ms:.0f}",
            "-" if item.tls_days_left is None else str(item.tls_days_left),
            item.freshness.value,
            item.last_update.strftime("%Y-%m-%d %H:%MZ") if item.last_update else "-",
            _age(item.last_update, now),
            item.last_update_signal.value if item.last_update_signal else "-",
        ))
    widths = [max(len(str(row[col])) for row in [headers, *rows]) for col in range(len(headers))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [headers, *rows]]
    for item in findings:
        problems = [outcome for outcome in item.checks if outcome.outcome.value in {"warn", "fail"}]
        notes = [outcome for outcome in item.checks if outcome.check == "freshness"]
        if not problems and item.freshness is Freshness.FRESH:
            continue
        lines.append("")
        lines.append(f"{item.website_id} ({item.url}): {item.message}")
        for outcome in [*problems, *[n for n in notes if n not in problems]]:
            lines.append(f"  {outcome.check:<24} {outcome.outcome.value:<5} {outcome.reason}: {outcome.message}")
    return "\n".join(lines)
