"""Checks OPD websites: DNS, connect, TLS, HTTP, then content freshness from the best signal offered."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from edge_agent.websites import signals
from edge_agent.websites.config import WebsiteTarget
from edge_agent.websites.fetch import USER_AGENT, FetchResult, fetch
from edge_agent.websites.findings import WebsiteFindings
from edge_agent.websites.signals import SignalReading
from edge_agent.websites.state import FingerprintStore
from edge_agent.websites.tls import TlsInfo, inspecting_context, probe, resolve, verifying_context
from shared.messages import CheckOutcome, Freshness, FreshnessSignal, Outcome, WebsiteAvailability, clip_text

log = logging.getLogger(__name__)

ClientFactory = Callable[[ssl.SSLContext], httpx.AsyncClient]
_HTML_TYPES = {"text/html", "application/xhtml+xml", ""}
_DOWN_REASONS = ("dns_failed", "dns_timeout", "connect_refused", "connect_failed", "tls_handshake_failed",
                 "timeout", "redirect_loop", "too_many_redirects", "http_5xx", "http_4xx",
                 "http_protocol_error", "http_failed", "tls_invalid")
_DEGRADED_ORDER = ("tls_expired", "tls_invalid", "tls_expiring", "too_large", "not_html", "slow")
# Signals read from the network, in the order of trust the issue asks for.
_SIGNAL_ORDER = (FreshnessSignal.WORDPRESS_API, FreshnessSignal.FEED, FreshnessSignal.SITEMAP,
                 FreshnessSignal.LAST_MODIFIED, FreshnessSignal.CONTENT_HASH)


def default_client_factory(context: ssl.SSLContext) -> httpx.AsyncClient:
    # trust_env off: a proxy would answer for the site and make the DNS/connect checks meaningless.
    return httpx.AsyncClient(
        verify=context,
        timeout=httpx.Timeout(30.0),
        limits=httpx.Limits(max_connections=400, max_keepalive_connections=100, keepalive_expiry=5),
        headers={"User-Agent": USER_AGENT},
        trust_env=False,
    )


def _outcome(check: str, outcome: Outcome, reason: str, message: str = "", duration_ms: float = 0.0,
             **details: Any) -> CheckOutcome:
    clean = {key: (clip_text(value) if isinstance(value, str) else value)
             for key, value in details.items() if value is not None}
    return CheckOutcome(check=check, outcome=outcome, reason=reason, message=clip_text(message, 2048),
                        duration_ms=max(0.0, round(duration_ms, 2)), details=clean)


class _Budget:
    """The time left for the optional freshness requests of one check."""

    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self._deadline - time.monotonic()


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
        self._ca_file = ca_file
        self._client_factory = client_factory
        self._clock = clock
        self._clients: dict[tuple[Path | None, bool], httpx.AsyncClient] = {}

    async def __aenter__(self) -> WebsiteChecker:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        self._store.close()

    def _client(self, ca_file: Path | None, verified: bool) -> httpx.AsyncClient:
        key = (ca_file, verified)
        if key not in self._clients:
            context = verifying_context(ca_file) if verified else inspecting_context()
            self._clients[key] = self._client_factory(context)
        return self._clients[key]

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
            checks=(_outcome("website", Outcome.FAIL, reason, message),),
        )

    async def _check(self, target: WebsiteTarget, now: dt.datetime) -> WebsiteFindings:
        split = urlsplit(target.url)
        host = split.hostname or ""
        is_https = split.scheme == "https"
        port = split.port or (443 if is_https else 80)
        ca_file = target.ca_file or self._ca_file
        checks: list[CheckOutcome] = []

        resolved = await resolve(host, port, target.timeout_s)
        if resolved.error or resolved.address is None:
            checks.append(_outcome("dns", Outcome.FAIL, resolved.error or "dns_failed", resolved.message,
                                   resolved.elapsed_ms, host=host))
            return self._unreachable(target, now, resolved.error or "dns_failed", resolved.message, checks)
        checks.append(_outcome("dns", Outcome.OK, "ok", f"{host} -> {resolved.address}", resolved.elapsed_ms,
                               address=resolved.address))

        tls = await probe(resolved.address, port, host, tls=is_https, ca_file=ca_file, timeout_s=target.timeout_s)
        if tls.connect_error:
            checks.append(_outcome("connect", Outcome.FAIL, tls.connect_error, tls.connect_message, tls.connect_ms,
                                   port=port))
            return self._unreachable(target, now, tls.connect_error, tls.connect_message, checks)
        checks.append(_outcome("connect", Outcome.OK, "ok", f"TCP {resolved.address}:{port}", tls.connect_ms,
                               port=port))
        tls_outcome, tls_days_left = self._tls_outcome(target, tls, is_https, now)
        checks.append(tls_outcome)
        if is_https and tls.verified is None:
            return self._unreachable(target, now, "tls_handshake_failed", tls_outcome.message, checks,
                                     tls_valid=False)

        client = self._client(ca_file, tls.verified is not False)
        home = await fetch(client, target.url, max_bytes=target.max_bytes, max_redirects=target.max_redirects,
                           timeout_s=target.timeout_s)
        checks.append(self._http_outcome(target, home))

        readings = await self._freshness(target, home, client, now)
        chosen = next((reading for reading in readings if reading.state == "found"), None)
        freshness, freshness_check = self._freshness_verdict(target, home, chosen, readings, now)
        checks.append(freshness_check)
        checks.extend(self._signal_outcome(reading) for reading in readings)

        availability, reason = self._verdict(checks, freshness)
        findings_message = self._summary(availability, reason, home, tls, tls_days_left, freshness, chosen, checks)
        return WebsiteFindings(
            website_id=target.id, url=target.url, opd=target.opd, checked_at=now, availability=availability,
            reason=reason, message=findings_message, freshness=freshness, stale_after_days=target.stale_after_days,
            http_status=home.status, response_ms=round(home.elapsed_ms, 1) if home.status else None,
            final_url=home.final_url, tls_valid=tls.verified if is_https else None,
            tls_expires_at=tls.not_after if is_https else None, tls_days_left=tls_days_left,
            last_update=chosen.newest if chosen else None,
            last_update_signal=chosen.signal if chosen else None, checks=tuple(checks),
        )

    def _unreachable(self, target: WebsiteTarget, now: dt.datetime, reason: str, message: str,
                     checks: list[CheckOutcome], tls_valid: bool | None = None) -> WebsiteFindings:
        done = {outcome.check for outcome in checks}
        for name in ("dns", "connect", "tls", "http", "freshness"):
            if name not in done:
                checks.append(_outcome(name, Outcome.SKIPPED, "not_reached", f"not checked: {reason}"))
        return WebsiteFindings(
            website_id=target.id, url=target.url, opd=target.opd, checked_at=now,
            availability=WebsiteAvailability.DOWN, reason=reason, message=f"down: {message}",
            freshness=Freshness.UNKNOWN, stale_after_days=target.stale_after_days, tls_valid=tls_valid,
            checks=tuple(checks),
        )

    @staticmethod
    def _tls_outcome(target: WebsiteTarget, tls: TlsInfo, is_https: bool,
                     now: dt.datetime) -> tuple[CheckOutcome, int | None]:
        if not is_https:
            return _outcome("tls", Outcome.SKIPPED, "not_https", "plain HTTP: no certificate to check"), None
        if tls.verified is None:
            return _outcome("tls", Outcome.FAIL, "tls_handshake_failed", f"TLS handshake failed: {tls.handshake_error}",
                            tls.handshake_ms or 0.0), None
        days_left = math.floor((tls.not_after - now).total_seconds() / 86400) if tls.not_after else None
        details: dict[str, Any] = {
            "not_after": tls.not_after.isoformat() if tls.not_after else None,
            "days_left": days_left,
            "issuer": tls.issuer,
        }
        if not tls.verified:
            reason = "tls_expired" if tls.expired or (days_left is not None and days_left < 0) else "tls_invalid"
            return _outcome("tls", Outcome.FAIL, reason,
                            f"certificate rejected: {tls.verify_error}; browsers will show a security warning",
                            tls.handshake_ms or 0.0, verify_error=tls.verify_error, **details), days_left
        crossed = [limit for limit in target.tls_warn_days if days_left is not None and days_left <= limit]
        if crossed:
            level = min(crossed)
            return _outcome("tls", Outcome.WARN, "tls_expiring",
                            f"certificate expires in {days_left} days (warning at {level} days)",
                            tls.handshake_ms or 0.0, warn_level_days=level,
                            critical=level == min(target.tls_warn_days), **details), days_left
        return _outcome("tls", Outcome.OK, "ok", f"certificate valid for {days_left} more days",
                        tls.handshake_ms or 0.0, **details), days_left

    @staticmethod
    def _http_outcome(target: WebsiteTarget, home: FetchResult) -> CheckOutcome:
        details: dict[str, Any] = {"status": home.status, "final_url": home.final_url, "redirects": len(home.hops),
                                   "bytes": len(home.body), "content_type": home.content_type or None}
        if home.error:
            return _outcome("http", Outcome.FAIL, home.error, home.error_message, home.elapsed_ms, **details)
        status = home.status or 0
        if status >= 500:
            return _outcome("http", Outcome.FAIL, "http_5xx", f"server error HTTP {status}", home.elapsed_ms, **details)
        if status >= 400:
            return _outcome("http", Outcome.FAIL, "http_4xx", f"HTTP {status} for the home page", home.elapsed_ms,
                            **details)
        if home.truncated:
            return _outcome("http", Outcome.WARN, "too_large",
                            f"page larger than {target.max_bytes} bytes; read only that much", home.elapsed_ms,
                            **details)
        if home.content_type not in _HTML_TYPES:
            return _outcome("http", Outcome.WARN, "not_html", f"home page is {home.content_type}, not HTML",
                            home.elapsed_ms, **details)
        if home.elapsed_ms > target.slow_after_ms:
            return _outcome("http", Outcome.WARN, "slow",
                            f"took {home.elapsed_ms:.0f} ms (slow above {target.slow_after_ms:.0f} ms)",
                            home.elapsed_ms, **details)
        return _outcome("http", Outcome.OK, "ok", f"HTTP {status} in {home.elapsed_ms:.0f} ms", home.elapsed_ms,
                        **details)

    # --- freshness ----------------------------------------------------------------------------------

    async def _signal_fetch(self, client: httpx.AsyncClient, url: str, target: WebsiteTarget, budget: _Budget,
                            accept: str) -> FetchResult | None:
        left = min(target.timeout_s, budget.left())
        if left <= 0.05:
            return None
        return await fetch(client, url, max_bytes=target.max_bytes, max_redirects=target.max_redirects,
                           timeout_s=left, accept=accept)

    @staticmethod
    def _unusable_response(reading: SignalReading, response: FetchResult | None, what: str) -> SignalReading | None:
        """The reading to report when a signal's response cannot be parsed at all, else None."""
        if response is None:
            return reading.invalid("out_of_time", f"no time left to read the {what}")
        if response.error:
            return reading.invalid(response.error, f"{what}: {response.error_message}")
        if response.status != 200:
            if response.status in {404, 410}:
                reading.reason = "not_offered"
                reading.notes.append(f"{what}: HTTP {response.status}")
                return reading
            return reading.invalid("http_error", f"{what}: HTTP {response.status}")
        if response.truncated:
            return reading.invalid("too_large", f"{what} is larger than the {len(response.body)}-byte cap")
        return None

    async def _freshness(self, target: WebsiteTarget, home: FetchResult, client: httpx.AsyncClient,
                         now: dt.datetime) -> list[SignalReading]:
        if home.error or not home.status or home.status >= 400:
            return []
        budget = _Budget(target.timeout_s * 3)
        discovery = signals.discover(home.body, home.final_url, home.headers.get("link", ""))
        readings: list[SignalReading] = []

        def found() -> bool:
            return any(reading.state == "found" for reading in readings)

        wordpress = SignalReading(FreshnessSignal.WORDPRESS_API)
        if discovery.wordpress_api:
            wordpress.source = signals.wordpress_posts_url(discovery.wordpress_api)
            response = await self._signal_fetch(client, wordpress.source, target, budget, "application/json")
            wordpress = self._unusable_response(wordpress, response, "WordPress REST API") or \
                signals.read_wordpress(response.body if response else b"", now)
            wordpress.source = signals.wordpress_posts_url(discovery.wordpress_api)
        readings.append(wordpress)

        feed = SignalReading(FreshnessSignal.FEED)
        if discovery.feeds and found():
            feed.state, feed.reason = "skipped", "not_needed"
        for feed_url in discovery.feeds[:2] if not found() else []:
            response = await self._signal_fetch(client, feed_url, target, budget,
                                                "application/rss+xml,application/atom+xml,application/xml;q=0.9")
            feed = self._unusable_response(SignalReading(FreshnessSignal.FEED), response, "feed") or \
                signals.read_feed(response.body if response else b"", now)
            feed.source = feed_url
            if feed.state == "found":
                break
        readings.append(feed)

        readings.append(await self._sitemap(target, client, budget, now) if not found() else
                        SignalReading(FreshnessSignal.SITEMAP, state="skipped", reason="not_needed"))
        readings.append(signals.read_last_modified(home.headers.get("last-modified"), now))
        readings.append(self._content_hash(target, home, now))
        return readings

    async def _sitemap(self, target: WebsiteTarget, client: httpx.AsyncClient, budget: _Budget,
                       now: dt.datetime) -> SignalReading:
        reading = SignalReading(FreshnessSignal.SITEMAP)
        robots = await self._signal_fetch(client, urljoin(target.url, "/robots.txt"), target, budget, "text/plain")
        candidates: list[str] = []
        if robots and not robots.error and robots.status == 200 and not robots.truncated:
            candidates = signals.sitemaps_from_robots(robots.body.decode("utf-8", errors="replace"), target.url)
        from_robots = bool(candidates)
        if not candidates:
            candidates = [urljoin(target.url, "sitemap.xml")]
        queue = list(candidates[:2])
        fetched = 0
        found: list[SignalReading] = []
        # An index's own lastmods may be missing or wrong, so the newest of a few children is taken.
        while queue and fetched < 5:
            url = queue.pop(0)
            fetched += 1
            response = await self._signal_fetch(client, url, target, budget, "application/xml,text/xml;q=0.9")
            current = SignalReading(FreshnessSignal.SITEMAP, source=url)
            unusable = self._unusable_response(current, response, "sitemap")
            if unusable is not None:
                reading = unusable if (unusable.state == "invalid" or from_robots) else reading
                continue
            assert response is not None
            if response.content_type == "text/html" and not from_robots:
                reading.notes.append(f"{url} answers an HTML page, not a sitemap")
                continue  # a CMS's catch-all page, i.e. no sitemap
            content = signals.read_sitemap(response.body, now)
            content.reading.source = url
            if content.children:
                queue = content.children[:3] + queue
                continue
            if content.reading.state == "found":
                found.append(content.reading)
            else:
                reading = content.reading
        if found:
            best = max(found, key=lambda item: item.newest or dt.datetime.min.replace(tzinfo=dt.UTC))
            best.notes.extend(note for item in found if item is not best for note in item.notes
                              if note not in best.notes)
            best.ignored_future = sum(item.ignored_future for item in found)
            return best
        return reading

    def _content_hash(self, target: WebsiteTarget, home: FetchResult, now: dt.datetime) -> SignalReading:
        reading = SignalReading(FreshnessSignal.CONTENT_HASH, source=home.final_url)
        history = self._store.observe(target.id, target.url, signals.content_fingerprint(home.body[:2_000_000]), now)
        if history.changed_at is not None:
            reading.newest, reading.state, reading.reason = history.changed_at, "found", "ok"
            reading.notes.append(f"content last seen changing at the check of {history.changed_at:%Y-%m-%d %H:%M}Z")
        elif history.new:
            reading.reason = "first_seen"
            reading.notes.append("first fingerprint of this page; changes are tracked from now")
        elif now - history.first_seen >= dt.timedelta(days=target.stale_after_days):
            reading.newest, reading.state, reading.reason = history.first_seen, "found", "ok"
            reading.lower_bound = True
            reading.notes.append(f"content unchanged since at least {history.first_seen:%Y-%m-%d %H:%M}Z")
        else:
            reading.reason = "unchanged_short"
            days = (now - history.first_seen).total_seconds() / 86400
            reading.notes.append(f"unchanged for {days:.1f} days since first seen; too short to judge")
        return reading

    @staticmethod
    def _signal_outcome(reading: SignalReading) -> CheckOutcome:
        outcome = {"found": Outcome.OK, "invalid": Outcome.WARN}.get(reading.state, Outcome.SKIPPED)
        message = "; ".join(reading.notes) or {"absent": "not offered by the site",
                                                "skipped": "not needed: a better signal answered"}.get(reading.state, "")
        if reading.newest is not None:
            message = f"newest {reading.newest:%Y-%m-%d %H:%M}Z" + (f"; {message}" if message else "")
        return _outcome(
            f"freshness.{reading.signal.value}", outcome, reading.reason, message,
            newest=reading.newest.isoformat() if reading.newest else None, source=reading.source or None,
            assumed_wib=reading.assumed_wib or None, ignored_future=reading.ignored_future or None,
        )

    @staticmethod
    def _freshness_verdict(target: WebsiteTarget, home: FetchResult, chosen: SignalReading | None,
                           readings: list[SignalReading], now: dt.datetime) -> tuple[Freshness, CheckOutcome]:
        if not readings:
            return Freshness.UNKNOWN, _outcome("freshness", Outcome.SKIPPED, "not_reached",
                                               "no page to judge freshness from")
        notes = [note for reading in readings if reading.state != "skipped" for note in reading.notes
                 if "future" in note or "WIB" in note]
        if chosen is None or chosen.newest is None:
            return Freshness.UNKNOWN, _outcome("freshness", Outcome.WARN, "no_signal",
                                               "no signal gave a usable date" + (f"; {'; '.join(notes)}" if notes else ""))
        age_days = (now - chosen.newest).total_seconds() / 86400
        fresh = age_days <= target.stale_after_days
        bound = "at least " if chosen.lower_bound else ""
        message = (f"last update {chosen.newest:%Y-%m-%d %H:%M}Z ({bound}{age_days:.1f} days ago) "
                   f"from {chosen.signal.value}; stale after {target.stale_after_days} days")
        if chosen.assumed_wib:
            message += "; date had no time zone, assumed WIB (Asia/Jakarta)"
        extra = [note for note in notes if note not in message]
        if extra:
            message += "; " + "; ".join(dict.fromkeys(extra))
        return ((Freshness.FRESH, _outcome("freshness", Outcome.OK, "fresh", message,
                                           age_days=round(age_days, 2), signal=chosen.signal.value))
                if fresh else
                (Freshness.STALE, _outcome("freshness", Outcome.WARN, "stale", message,
                                           age_days=round(age_days, 2), signal=chosen.signal.value)))

    @staticmethod
    def _verdict(checks: list[CheckOutcome], freshness: Freshness) -> tuple[WebsiteAvailability, str]:
        main = [outcome for outcome in checks if outcome.check in {"dns", "connect", "tls", "http"}]
        for outcome in main:
            if outcome.outcome is Outcome.FAIL and outcome.reason in _DOWN_REASONS and outcome.check != "tls":
                return WebsiteAvailability.DOWN, outcome.reason
        reasons = {outcome.reason: outcome for outcome in main if outcome.outcome in {Outcome.FAIL, Outcome.WARN}}
        for reason in _DEGRADED_ORDER:
            found = reasons.get(reason)
            if found is None:
                continue
            if reason == "tls_expiring" and not found.details.get("critical"):
                continue
            return WebsiteAvailability.DEGRADED, reason
        if "tls_expiring" in reasons:
            return WebsiteAvailability.UP, "tls_expiring"
        if freshness is Freshness.STALE:
            return WebsiteAvailability.UP, "stale"
        return WebsiteAvailability.UP, "ok"

    @staticmethod
    def _summary(availability: WebsiteAvailability, reason: str, home: FetchResult, tls: TlsInfo,
                 tls_days_left: int | None, freshness: Freshness, chosen: SignalReading | None,
                 checks: list[CheckOutcome]) -> str:
        parts = [f"{availability.value} ({reason})"]
        if home.status:
            parts.append(f"HTTP {home.status} in {home.elapsed_ms:.0f} ms")
        problems = [outcome.message for outcome in checks
                    if outcome.check in {"tls", "http"} and outcome.outcome in {Outcome.FAIL, Outcome.WARN}]
        parts.extend(problems)
        if tls.verified and tls_days_left is not None and not any("expires" in p for p in problems):
            parts.append(f"TLS valid, {tls_days_left} days left")
        if chosen is not None and chosen.newest is not None:
            bound = "no later than " if chosen.lower_bound else ""
            parts.append(f"{freshness.value}: last update {bound}{chosen.newest:%Y-%m-%d}Z via {chosen.signal.value}")
            if chosen.assumed_wib:
                parts.append("a date had no time zone; assumed WIB (Asia/Jakarta)")
        else:
            parts.append(f"freshness {freshness.value}")
        return "; ".join(parts)
