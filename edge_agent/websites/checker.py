"""Checks OPD websites: DNS, connect, TLS, HTTP, then content freshness from the best signal offered."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from edge_agent.websites.config import WebsiteTarget
from edge_agent.websites.fetch import USER_AGENT, FetchResult, fetch
from edge_agent.websites.findings import WebsiteFindings
from edge_agent.websites.freshness import FreshnessReader, Verdict, judge, signal_outcome
from edge_agent.websites.outcomes import http_outcome, maintenance_notice, outcome, tls_outcome
from edge_agent.websites.signals import ACTIVITY_WORDS
from edge_agent.websites.state import FingerprintStore, MaintenanceWindow
from edge_agent.websites.tls import TlsInfo, inspecting_context, probe, resolve
from shared.messages import CheckOutcome, Freshness, Outcome, WebsiteAvailability

log = logging.getLogger(__name__)

ClientFactory = Callable[[ssl.SSLContext], httpx.AsyncClient]
# Reasons of the home page's own request that mean visitors get nothing.
_DOWN_REASONS = ("dns_failed", "dns_timeout", "connect_refused", "connect_failed", "tls_handshake_failed",
                 "timeout", "redirect_loop", "too_many_redirects", "http_5xx", "http_4xx",
                 "http_protocol_error", "http_failed", "tls_invalid")
_TLS_REASONS = ("tls_handshake_failed", "tls_invalid")
_DEGRADED_ORDER = ("tls_expired", "tls_invalid", "tls_handshake_failed", "connect_refused", "connect_failed",
                   "timeout", "tls_expiring", "too_large", "bad_encoding", "not_html", "slow")
# A maintenance is an outage once it outlasts its announced end by this much.
MAINTENANCE_GRACE = dt.timedelta(minutes=5)


def default_client_factory(context: ssl.SSLContext) -> httpx.AsyncClient:
    # trust_env off: a proxy would answer for the site and make the DNS/connect checks meaningless.
    return httpx.AsyncClient(
        verify=context,
        timeout=httpx.Timeout(30.0),
        limits=httpx.Limits(max_connections=400, max_keepalive_connections=100, keepalive_expiry=5),
        headers={"User-Agent": USER_AGENT},
        trust_env=False,
    )


class WebsiteChecker:
    """Checks website targets with one shared HTTP pool; ``state_path`` is an SQLite file it owns."""

    def __init__(
        self,
        state_path: Path,
        *,
        ca_file: Path | None = None,
        client_factory: ClientFactory = default_client_factory,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._store = FingerprintStore(state_path)
        self._freshness = FreshnessReader(self._store)
        self._ca_file = ca_file
        self._client_factory = client_factory
        self._clock = clock
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> WebsiteChecker:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self._store.close()

    def _client(self) -> httpx.AsyncClient:
        """The one pool for every page read; it does not verify certificates on purpose.

        Certificates are judged by the TLS probes of every HTTPS endpoint the site leads to (the
        configured one and each redirect hop); a bad certificate is a finding there, and the page
        behind it is still read so its freshness is known.
        """
        if self._http is None:
            self._http = self._client_factory(inspecting_context())
        return self._http

    async def check_all(self, targets: Sequence[WebsiteTarget], concurrency: int = 50) -> list[WebsiteFindings]:
        """Check every target, at most ``concurrency`` at once; results in the targets' order."""
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(target: WebsiteTarget) -> WebsiteFindings:
            async with gate:
                return await self.check(target)

        return list(await asyncio.gather(*(one(target) for target in targets)))

    async def check(self, target: WebsiteTarget) -> WebsiteFindings:
        """Check one website; every failure, including a bug here, becomes a finding."""
        now = self._clock()
        try:
            async with asyncio.timeout(target.timeout_s * 8 + 5):
                return await self._check(target, now)
        except TimeoutError:
            return self._failed(target, now, WebsiteAvailability.DOWN, "timeout",
                                f"the whole check took longer than {target.timeout_s * 8 + 5:.0f} s")
        except Exception as error:
            log.exception("website check of %s failed inside the checker", target.id)
            return self._failed(target, now, WebsiteAvailability.DEGRADED, "checker_error",
                                f"the checker failed, not necessarily the site: {type(error).__name__}: {error}")

    def _failed(self, target: WebsiteTarget, now: dt.datetime, availability: WebsiteAvailability,
                reason: str, message: str) -> WebsiteFindings:
        return WebsiteFindings(
            website_id=target.id, url=target.url, opd=target.opd, checked_at=now, availability=availability,
            reason=reason, message=message, freshness=Freshness.UNKNOWN, stale_after_days=target.stale_after_days,
            checks=(outcome("website", Outcome.FAIL, reason, message),),
        )

    async def _check(self, target: WebsiteTarget, now: dt.datetime) -> WebsiteFindings:
        split = urlsplit(target.url)
        host = split.hostname or ""
        is_https = split.scheme == "https"
        port = split.port or (443 if is_https else 80)
        checks: list[CheckOutcome] = []

        resolved = await resolve(host, port, target.timeout_s)
        if resolved.error or resolved.address is None:
            checks.append(outcome("dns", Outcome.FAIL, resolved.error or "dns_failed", resolved.message,
                                  resolved.elapsed_ms, host=host))
            return self._unreachable(target, now, resolved.error or "dns_failed", resolved.message, checks)
        checks.append(outcome("dns", Outcome.OK, "ok", f"{host} -> {resolved.address}", resolved.elapsed_ms,
                              address=resolved.address))

        tls = await probe(resolved.address, port, host, tls=is_https, ca_file=self._ca_for(target),
                          timeout_s=target.timeout_s)
        if tls.connect_error:
            checks.append(outcome("connect", Outcome.FAIL, tls.connect_error, tls.connect_message, tls.connect_ms,
                                  port=port))
            return self._unreachable(target, now, tls.connect_error, tls.connect_message, checks)
        checks.append(outcome("connect", Outcome.OK, "ok", f"TCP {resolved.address}:{port}", tls.connect_ms,
                              port=port))
        endpoints: list[tuple[CheckOutcome, int | None, TlsInfo]] = []
        if is_https:
            endpoints.append((*tls_outcome("tls", target, tls, f"{host}:{port}", now, after_redirect=False), tls))
            if tls.verified is None:
                checks.append(endpoints[0][0])
                return self._unreachable(target, now, "tls_handshake_failed", endpoints[0][0].message, checks,
                                         tls_valid=False)

        home = await fetch(self._client(), target.url, max_bytes=target.max_bytes,
                           max_redirects=target.max_redirects, timeout_s=target.timeout_s)
        endpoints += await self._redirect_endpoints(target, home, (host, port) if is_https else None, now)
        if endpoints:
            checks.extend(item[0] for item in endpoints)
        else:
            checks.append(outcome("tls", Outcome.SKIPPED, "not_https", "plain HTTP: no certificate to check"))
        checks.append(http_outcome(target, home))

        notice = maintenance_notice(home, now)
        if notice is None:
            self._store.maintenance_over(target.id)
            window = None
        else:
            window = self._store.maintenance(target.id, notice.announced_end, now, absolute=notice.absolute)
            checks.append(self._maintenance_outcome(window, notice.how, now))

        # A decompression bomb's page is junk: nothing to discover or fingerprint in it.
        readable = not home.error and home.status and home.status < 400 and not home.bomb
        readings = await self._freshness.read(target, home, self._client(), now) if readable else []
        verdict = judge(target, readings, now)
        checks.append(verdict.check)
        checks.extend(signal_outcome(reading) for reading in readings)

        availability, reason = self._verdict(checks, verdict.freshness, home)
        worst = self._worst_endpoint(endpoints)
        tls_days_left = worst[1] if worst else None
        chosen = verdict.chosen
        return WebsiteFindings(
            website_id=target.id, url=target.url, opd=target.opd, checked_at=now, availability=availability,
            reason=reason, message=self._summary(availability, reason, home, worst, verdict, checks),
            freshness=verdict.freshness, stale_after_days=target.stale_after_days,
            http_status=home.status, response_ms=round(home.elapsed_ms, 1) if home.status else None,
            final_url=home.final_url, tls_valid=(worst[2].verified is True) if worst else None,
            tls_expires_at=worst[2].not_after if worst else None, tls_days_left=tls_days_left,
            last_update=chosen.newest if chosen else None,
            last_update_signal=chosen.signal if chosen else None,
            maintenance_until=window.expected_end if window else None, checks=tuple(checks),
        )

    def _ca_for(self, target: WebsiteTarget) -> Path | None:
        return target.ca_file or self._ca_file

    async def _redirect_endpoints(self, target: WebsiteTarget, home: FetchResult, first: tuple[str, int] | None,
                                  now: dt.datetime) -> list[tuple[CheckOutcome, int | None, TlsInfo]]:
        """TLS findings for every HTTPS host:port the redirects led to, other than the configured one."""
        seen = {first} if first else set()
        found: list[tuple[CheckOutcome, int | None, TlsInfo]] = []
        for hop in home.hops:
            parts = urlsplit(hop)
            if parts.scheme != "https" or not parts.hostname:
                continue
            endpoint = (parts.hostname, parts.port or 443)
            if endpoint in seen:
                continue
            seen.add(endpoint)
            name = "tls" if not first and not found else f"tls.hop{len(found) + 1 + (1 if first else 0)}"
            resolved = await resolve(endpoint[0], endpoint[1], target.timeout_s)
            if resolved.address is None:
                info = TlsInfo(connect_error=resolved.error or "dns_failed", connect_message=resolved.message)
            else:
                info = await probe(resolved.address, endpoint[1], endpoint[0], tls=True, ca_file=self._ca_for(target),
                                   timeout_s=target.timeout_s)
            check, days = tls_outcome(name, target, info, f"{endpoint[0]}:{endpoint[1]}", now, after_redirect=True)
            found.append((check, days, info))
        return found

    @staticmethod
    def _worst_endpoint(endpoints: list[tuple[CheckOutcome, int | None, TlsInfo]]
                        ) -> tuple[CheckOutcome, int | None, TlsInfo] | None:
        """The endpoint a visitor is worst off with: failed before warned before fewest days left."""
        if not endpoints:
            return None
        rank = {Outcome.FAIL: 0, Outcome.WARN: 1, Outcome.OK: 2, Outcome.SKIPPED: 3}
        return min(endpoints, key=lambda item: (rank[item[0].outcome], item[1] if item[1] is not None else 10**6))

    @staticmethod
    def _maintenance_outcome(window: MaintenanceWindow, how: str, now: dt.datetime) -> CheckOutcome:
        over = now > window.expected_end + MAINTENANCE_GRACE
        details: dict[str, Any] = {"started_at": window.started_at.isoformat(),
                                   "expected_end": window.expected_end.isoformat()}
        if over:
            return outcome("maintenance", Outcome.FAIL, "maintenance_overrun",
                           f"in maintenance since {window.started_at:%Y-%m-%d %H:%M}Z ({how}), announced to end "
                           f"{window.expected_end:%Y-%m-%d %H:%M}Z and still not back", **details)
        return outcome("maintenance", Outcome.WARN, "maintenance",
                       f"in maintenance since {window.started_at:%Y-%m-%d %H:%M}Z ({how}); expected back by "
                       f"{window.expected_end:%Y-%m-%d %H:%M}Z", **details)

    def _unreachable(self, target: WebsiteTarget, now: dt.datetime, reason: str, message: str,
                     checks: list[CheckOutcome], tls_valid: bool | None = None) -> WebsiteFindings:
        done = {item.check for item in checks}
        for name in ("dns", "connect", "tls", "http", "freshness"):
            if name not in done:
                checks.append(outcome(name, Outcome.SKIPPED, "not_reached", f"not checked: {reason}"))
        return WebsiteFindings(
            website_id=target.id, url=target.url, opd=target.opd, checked_at=now,
            availability=WebsiteAvailability.DOWN, reason=reason, message=f"down: {message}",
            freshness=Freshness.UNKNOWN, stale_after_days=target.stale_after_days, tls_valid=tls_valid,
            checks=tuple(checks),
        )

    @staticmethod
    def _verdict(checks: list[CheckOutcome], freshness: Freshness,
                 home: FetchResult) -> tuple[WebsiteAvailability, str]:
        maintenance = next((item for item in checks if item.check == "maintenance"), None)
        if maintenance is not None:
            if maintenance.reason == "maintenance_overrun":
                return WebsiteAvailability.DOWN, "maintenance_overrun"
            return WebsiteAvailability.MAINTENANCE, "maintenance"
        http = next(item for item in checks if item.check == "http")
        # A redirect answered: the server is there. A TLS failure past it is the certificate's
        # finding (degraded), never "down", even when the page behind it could not be read.
        failed_after_redirect = bool(home.hops) and http.reason in _TLS_REASONS
        main = [item for item in checks if item.check in {"dns", "connect", "http"} or item.check.startswith("tls")]
        for item in main:
            if item.outcome is Outcome.FAIL and item.reason in _DOWN_REASONS and not item.check.startswith("tls") \
                    and not failed_after_redirect:
                return WebsiteAvailability.DOWN, item.reason
        reasons: dict[str, CheckOutcome] = {}
        for item in main:
            if item.outcome in {Outcome.FAIL, Outcome.WARN}:
                reasons.setdefault(item.reason, item)
        for reason in _DEGRADED_ORDER:
            found = reasons.get(reason)
            if found is None:
                continue
            if reason == "tls_expiring" and not any(item.details.get("critical") for item in main
                                                    if item.reason == "tls_expiring"):
                continue
            return WebsiteAvailability.DEGRADED, reason
        if "tls_expiring" in reasons:
            return WebsiteAvailability.UP, "tls_expiring"
        if freshness is Freshness.STALE:
            return WebsiteAvailability.UP, "stale"
        if freshness is Freshness.UNKNOWN:
            return WebsiteAvailability.UP, "freshness_unknown"
        return WebsiteAvailability.UP, "ok"

    @staticmethod
    def _summary(availability: WebsiteAvailability, reason: str, home: FetchResult,
                 worst: tuple[CheckOutcome, int | None, TlsInfo] | None, verdict: Verdict,
                 checks: list[CheckOutcome]) -> str:
        parts = [f"{availability.value} ({reason})"]
        if home.status:
            parts.append(f"HTTP {home.status} in {home.elapsed_ms:.0f} ms")
        parts.extend(item.message for item in checks
                     if (item.check in {"http", "maintenance"} or item.check.startswith("tls"))
                     and item.outcome in {Outcome.FAIL, Outcome.WARN})
        if worst is not None and worst[0].outcome is Outcome.OK and worst[1] is not None:
            parts.append(f"TLS valid, {worst[1]} days left")
        chosen = verdict.chosen
        if chosen is not None and chosen.newest is not None:
            bound = "no later than " if chosen.lower_bound else ""
            activity = f" ({ACTIVITY_WORDS[chosen.activity]})" if chosen.activity else ""
            parts.append(f"{verdict.freshness.value}: last update {bound}{chosen.newest:%Y-%m-%d}Z{activity} "
                         f"via {chosen.signal.value}")
            if chosen.assumed_zone:
                parts.append(f"a date had no time zone; read in {chosen.assumed_zone}")
        elif verdict.freshness is Freshness.UNKNOWN and verdict.check.reason == "freshness_unknown":
            parts.append(verdict.check.message)
        else:
            parts.append(f"freshness {verdict.freshness.value}")
        return "; ".join(dict.fromkeys(parts))
