"""The check outcomes of one website check that are not about freshness: TLS per endpoint, HTTP, maintenance."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from edge_agent.websites.config import WebsiteTarget
from edge_agent.websites.dates import calendar_days_until, parse_http_date
from edge_agent.websites.fetch import FetchResult
from edge_agent.websites.tls import TlsInfo
from shared.messages import CheckOutcome, Outcome, clip_text

_HTML_TYPES = {"text/html", "application/xhtml+xml", ""}
# WordPress core's maintenance page (wp_maintenance(): 503, Retry-After: 600, this sentence) and the
# words maintenance plugins and Indonesian themes put on theirs.
_MAINTENANCE_TEXT = re.compile(
    rb"briefly unavailable for scheduled maintenance|maintenance mode|under maintenance|"
    rb"sedang dalam (?:masa )?(?:pemeliharaan|perbaikan|perawatan)|mode pemeliharaan|pemeliharaan terjadwal",
    re.IGNORECASE,
)
_WORDPRESS_CORE = re.compile(rb"briefly unavailable for scheduled maintenance", re.IGNORECASE)
# WordPress core ignores a .maintenance file older than 10 minutes: its own expected end.
WORDPRESS_MAINTENANCE = dt.timedelta(minutes=10)
# Without any announced end a maintenance page is given this long before it counts as an outage.
UNANNOUNCED_MAINTENANCE = dt.timedelta(hours=1)
# A Retry-After further away than this is not an announcement anyone should wait for.
_LONGEST_ANNOUNCEMENT = dt.timedelta(days=7)


def outcome(check: str, state: Outcome, reason: str, message: str = "", duration_ms: float = 0.0,
            **details: Any) -> CheckOutcome:
    clean = {key: (clip_text(value) if isinstance(value, str) else value)
             for key, value in details.items() if value is not None}
    return CheckOutcome(check=check, outcome=state, reason=reason, message=clip_text(message, 2048),
                        duration_ms=max(0.0, round(duration_ms, 2)), details=clean)


def tls_outcome(check: str, target: WebsiteTarget, tls: TlsInfo, endpoint: str, now: dt.datetime,
                *, after_redirect: bool) -> tuple[CheckOutcome, int | None]:
    """One HTTPS endpoint's certificate verdict and its days left, counted in calendar days (WIB)."""
    where = f" at {endpoint}" + (" (reached by redirect)" if after_redirect else "")
    if tls.connect_error:
        return outcome(check, Outcome.FAIL, tls.connect_error, f"cannot connect{where}: {tls.connect_message}",
                       tls.connect_ms, endpoint=endpoint), None
    if tls.verified is None:
        return outcome(check, Outcome.FAIL, "tls_handshake_failed",
                       f"TLS handshake failed{where}: {tls.handshake_error}", tls.handshake_ms or 0.0,
                       endpoint=endpoint), None
    days_left = calendar_days_until(tls.not_after, now) if tls.not_after else None
    details: dict[str, Any] = {
        "endpoint": endpoint,
        "not_after": tls.not_after.isoformat() if tls.not_after else None,
        "days_left": days_left,
        "issuer": tls.issuer,
    }
    if not tls.verified:
        expired = tls.expired or (tls.not_after is not None and tls.not_after <= now)
        reason = "tls_expired" if expired else "tls_invalid"
        return outcome(check, Outcome.FAIL, reason,
                       f"certificate rejected{where}: {tls.verify_error}; browsers will show a security warning",
                       tls.handshake_ms or 0.0, verify_error=tls.verify_error, **details), days_left
    crossed = [limit for limit in target.tls_warn_days if days_left is not None and days_left <= limit]
    if crossed:
        level = min(crossed)
        return outcome(check, Outcome.WARN, "tls_expiring",
                       f"certificate{where} expires in {days_left} days (warning at {level} days)",
                       tls.handshake_ms or 0.0, warn_level_days=level,
                       critical=level == min(target.tls_warn_days), **details), days_left
    return outcome(check, Outcome.OK, "ok", f"certificate{where} valid for {days_left} more days",
                   tls.handshake_ms or 0.0, **details), days_left


def http_outcome(target: WebsiteTarget, home: FetchResult) -> CheckOutcome:
    details: dict[str, Any] = {"status": home.status, "final_url": home.final_url, "redirects": len(home.hops),
                               "bytes": len(home.body), "content_type": home.content_type or None}
    if home.error:
        return outcome("http", Outcome.FAIL, home.error, home.error_message, home.elapsed_ms, **details)
    status = home.status or 0
    if status >= 500:
        return outcome("http", Outcome.FAIL, "http_5xx", f"server error HTTP {status}", home.elapsed_ms, **details)
    if status >= 400:
        return outcome("http", Outcome.FAIL, "http_4xx", f"HTTP {status} for the home page", home.elapsed_ms,
                       **details)
    if home.truncated:
        return outcome("http", Outcome.WARN, "too_large", f"the page {home.too_large(target.max_bytes)}",
                       home.elapsed_ms, **details)
    if home.content_type not in _HTML_TYPES:
        return outcome("http", Outcome.WARN, "not_html", f"home page is {home.content_type}, not HTML",
                       home.elapsed_ms, **details)
    if home.elapsed_ms > target.slow_after_ms:
        return outcome("http", Outcome.WARN, "slow",
                       f"took {home.elapsed_ms:.0f} ms (slow above {target.slow_after_ms:.0f} ms)",
                       home.elapsed_ms, **details)
    return outcome("http", Outcome.OK, "ok", f"HTTP {status} in {home.elapsed_ms:.0f} ms", home.elapsed_ms,
                   **details)


@dataclass(frozen=True, slots=True)
class MaintenanceNotice:
    """A site saying it is in maintenance, and the end it announced."""

    announced_end: dt.datetime
    absolute: bool  # an HTTP date (the site's word for the end) rather than "retry in N seconds"
    how: str  # what showed it, for the message


def maintenance_notice(home: FetchResult, now: dt.datetime) -> MaintenanceNotice | None:
    """A 503 with Retry-After, or a 503 maintenance page (WordPress core's or a plugin's); else None."""
    if home.status != 503 or home.error:
        return None
    retry_after = home.headers.get("retry-after", "").strip()
    text = home.body[:65536]
    if retry_after.isdigit():
        seconds = min(int(retry_after), int(_LONGEST_ANNOUNCEMENT.total_seconds()))
        return MaintenanceNotice(now + dt.timedelta(seconds=seconds), False, f"HTTP 503, Retry-After {retry_after} s")
    if retry_after and (moment := parse_http_date(retry_after)) is not None:
        return MaintenanceNotice(min(max(moment, now), now + _LONGEST_ANNOUNCEMENT), True,
                                 f"HTTP 503, Retry-After {retry_after}")
    if _WORDPRESS_CORE.search(text):
        return MaintenanceNotice(now + WORDPRESS_MAINTENANCE, False, "WordPress's maintenance page")
    if _MAINTENANCE_TEXT.search(text):
        return MaintenanceNotice(now + UNANNOUNCED_MAINTENANCE, False, "a maintenance page without an end")
    return None
