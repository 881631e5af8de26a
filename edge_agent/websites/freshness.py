"""Content freshness: read the signals a site offers, best first, and judge them by one rule.

The rule (docs/websites.md): a site is fresh when its newest *activity* is no older than
``stale_after_days``, where activity is a post published, a post edited or a page edited (an edit
within an hour of publication is part of publishing). Every signal is read the same way: the REST
API's ``date_gmt``/``modified_gmt`` of posts and pages, a feed entry's publication or ``updated``,
a sitemap's ``lastmod``, the home page's ``Last-Modified``, and, last, a change of the home page's
text that brought new content (``fingerprint``). The finding names the activity it saw.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from edge_agent.websites import signals
from edge_agent.websites.config import WebsiteTarget
from edge_agent.websites.dates import DEFAULT_ZONE, SiteZone
from edge_agent.websites.fetch import FetchResult, fetch
from edge_agent.websites.fingerprint import content_fingerprint
from edge_agent.websites.outcomes import outcome
from edge_agent.websites.signals import ACTIVITY_WORDS, Activity, SignalReading
from edge_agent.websites.state import FingerprintStore
from shared.messages import CheckOutcome, Freshness, FreshnessSignal, Outcome

# A site's zone rarely changes: asked of its REST root once a day.
_ZONE_TTL_S = 86400.0
_JSON = "application/json"
_FEEDS = "application/rss+xml,application/atom+xml,application/xml;q=0.9"
_XML = "application/xml,text/xml;q=0.9"
# Where sitemaps live when robots.txt names none: the common path; on WordPress also core's (pretty
# and plain permalinks) and the SEO plugins' index (Yoast, Rank Math, SEOPress), whose query form
# ?sitemap=1 answers where the server has no rewrite rules for it.
_SITEMAP_PATHS = ("sitemap.xml",)
_WORDPRESS_SITEMAP_PATHS = ("sitemap.xml", "wp-sitemap.xml", "?sitemap=index", "sitemap_index.xml", "?sitemap=1")
_MAX_SITEMAP_FETCHES = 8
_CONTENT_SIGNALS = (FreshnessSignal.WORDPRESS_API, FreshnessSignal.FEED, FreshnessSignal.SITEMAP)
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


class Budget:
    """The time left for the optional freshness requests of one check."""

    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self._deadline - time.monotonic()


@dataclass(frozen=True, slots=True)
class Verdict:
    freshness: Freshness
    check: CheckOutcome
    chosen: SignalReading | None


class FreshnessReader:
    """Reads one site's freshness signals through a shared client; remembers zones and fingerprints."""

    def __init__(self, store: FingerprintStore, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._zones: dict[str, tuple[float, SiteZone | None]] = {}

    async def read(self, target: WebsiteTarget, home: FetchResult, client: httpx.AsyncClient,
                   now: dt.datetime) -> list[SignalReading]:
        """Every signal's reading, best first; the lesser ones skipped once one has found a date."""
        budget = Budget(target.timeout_s * 3)
        session = _Session(client, target, budget)
        discovery = signals.discover(home.body, home.final_url, home.headers.get("link", ""))
        zone = DEFAULT_ZONE
        readings: list[SignalReading] = []

        wordpress = SignalReading(FreshnessSignal.WORDPRESS_API)
        if discovery.wordpress_api:
            zone = await self._zone(discovery.wordpress_api, session)
            wordpress = await self._wordpress(discovery.wordpress_api, session, now, zone)
        readings.append(wordpress)

        def found() -> bool:
            return any(reading.state == "found" for reading in readings)

        def edits_unseen() -> bool:
            """A stale verdict from a feed that shows no edits: the sitemap may show one since."""
            best = next((reading for reading in readings if reading.state == "found"), None)
            return best is not None and not best.sees_edits and best.newest is not None and \
                now - best.newest > dt.timedelta(days=target.stale_after_days)

        feed = SignalReading(FreshnessSignal.FEED)
        if discovery.feeds and found():
            feed.state, feed.reason = "skipped", "not_needed"
        for feed_url in discovery.feeds[:2] if not found() else []:
            response = await session.get(feed_url, _FEEDS)
            feed = _unusable(SignalReading(FreshnessSignal.FEED), response, "feed") or \
                signals.read_feed(response.body if response else b"", now, zone)
            feed.source = feed_url
            if feed.state == "found":
                break
        readings.append(feed)

        wordpress_site = discovery.wordpress_api is not None
        readings.append(await self._sitemap(target, session, now, zone, wordpress_site)
                        if not found() or edits_unseen() else
                        SignalReading(FreshnessSignal.SITEMAP, state="skipped", reason="not_needed"))
        readings.append(signals.read_last_modified(home.headers.get("last-modified"), now))
        readings.append(self._content_hash(target, home, now))
        return readings

    async def _zone(self, api_root: str, session: _Session) -> SiteZone:
        cached = self._zones.get(api_root)
        if cached is None or self._clock() - cached[0] > _ZONE_TTL_S:
            response = await session.get(signals.wordpress_root_url(api_root), _JSON)
            zone = signals.read_wordpress_zone(response.body) if response and response.status == 200 \
                and not response.error and not response.truncated else None
            cached = (self._clock(), zone)
            self._zones[api_root] = cached
        return cached[1] or DEFAULT_ZONE

    async def _wordpress(self, api_root: str, session: _Session, now: dt.datetime,
                         zone: SiteZone) -> SignalReading:
        source = signals.wordpress_posts_url(api_root)
        response = await session.get(source, _JSON)
        unusable = _unusable(SignalReading(FreshnessSignal.WORDPRESS_API), response, "WordPress REST API")
        if unusable is not None:
            unusable.source = source
            return unusable
        assert response is not None
        pages = await session.get(signals.wordpress_pages_url(api_root), _JSON)
        pages_body = pages.body if pages and not pages.error and pages.status == 200 and not pages.truncated \
            else None
        reading = signals.read_wordpress(response.body, pages_body, now, zone)
        reading.source = source
        return reading

    async def _sitemap(self, target: WebsiteTarget, session: _Session, now: dt.datetime, zone: SiteZone,
                       wordpress_site: bool) -> SignalReading:
        reading = SignalReading(FreshnessSignal.SITEMAP)
        robots = await session.get(urljoin(target.url, "/robots.txt"), "text/plain")
        named: list[str] = []
        if robots and not robots.error and robots.status == 200 and not robots.truncated:
            named = signals.sitemaps_from_robots(robots.body.decode("utf-8", errors="replace"), target.url)
        paths = _WORDPRESS_SITEMAP_PATHS if wordpress_site else _SITEMAP_PATHS
        guesses = [urljoin(_site_root(target.url), path) for path in paths]
        queue = named[:2] if named else guesses
        from_robots = bool(named)
        fetched = 0
        found: list[SignalReading] = []
        # An index's own lastmods may be missing or wrong, so the newest of a few children is taken.
        while queue and fetched < _MAX_SITEMAP_FETCHES:
            url = queue.pop(0)
            fetched += 1
            response = await session.get(url, _XML)
            current = SignalReading(FreshnessSignal.SITEMAP, source=url)
            unusable = _unusable(current, response, "sitemap")
            if unusable is not None:
                reading = unusable if (unusable.state == "invalid" or from_robots) else reading
                continue
            assert response is not None
            if response.content_type == "text/html" and not from_robots:
                reading.note(f"{url} answers an HTML page, not a sitemap")
                continue  # a CMS's catch-all page, i.e. no sitemap there
            content = signals.read_sitemap(response.body, now, zone)
            content.reading.source = url
            if content.children:
                queue = content.children[:3]  # this is the sitemap: no more guessing
                continue
            if content.reading.state == "found":
                found.append(content.reading)
                if not from_robots:
                    queue = [item for item in queue if item not in guesses]
            else:
                reading = content.reading
                if not from_robots:
                    queue = [item for item in queue if item not in guesses]
        if found:
            best = max(found, key=lambda item: item.newest or dt.datetime.min.replace(tzinfo=dt.UTC))
            for item in found:
                for note in item.notes:
                    best.note(note)
            best.ignored_future = sum(item.ignored_future for item in found)
            return best
        return reading

    def _content_hash(self, target: WebsiteTarget, home: FetchResult, now: dt.datetime) -> SignalReading:
        reading = SignalReading(FreshnessSignal.CONTENT_HASH, source=home.final_url)
        history = self._store.observe(target.id, target.url, content_fingerprint(home.body), now)
        if history.cosmetic:
            reading.note("the page changed only in parts that change by themselves (dates, counters, "
                         "rotating items): not counted as an update")
        if history.changed_at is not None:
            reading.newest, reading.state, reading.reason = history.changed_at, "found", "ok"
            reading.activity = Activity.CONTENT_CHANGED
            reading.note(f"new content last seen at the check of {history.changed_at:%Y-%m-%d %H:%M}Z")
        elif history.new:
            reading.reason = "first_seen"
            reading.note("first fingerprint of this page; changes are tracked from now")
        elif now - history.first_seen >= dt.timedelta(days=target.stale_after_days):
            reading.newest, reading.state, reading.reason = history.first_seen, "found", "ok"
            reading.lower_bound = True
            reading.note(f"content unchanged since at least {history.first_seen:%Y-%m-%d %H:%M}Z")
        else:
            reading.reason = "unchanged_short"
            days = (now - history.first_seen).total_seconds() / 86400
            reading.note(f"unchanged for {days:.1f} days since first seen; too short to judge")
        return reading


class _Session:
    """The freshness requests of one check: one client, one time budget, the target's caps."""

    def __init__(self, client: httpx.AsyncClient, target: WebsiteTarget, budget: Budget) -> None:
        self._client, self._target, self._budget = client, target, budget

    async def get(self, url: str, accept: str) -> FetchResult | None:
        left = min(self._target.timeout_s, self._budget.left())
        if left <= 0.05:
            return None
        return await fetch(self._client, url, max_bytes=self._target.max_bytes,
                           max_redirects=self._target.max_redirects, timeout_s=left, accept=accept)


def _site_root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def _unusable(reading: SignalReading, response: FetchResult | None, what: str) -> SignalReading | None:
    """The reading to report when a signal's response cannot be parsed at all, else None."""
    if response is None:
        return reading.invalid("out_of_time", f"no time left to read the {what}")
    if response.error:
        return reading.invalid(response.error, f"{what}: {response.error_message}")
    if response.status != 200:
        if response.status in {404, 410}:
            reading.reason = "not_offered"
            reading.note(f"{what}: HTTP {response.status}")
            return reading
        return reading.invalid("http_error", f"{what}: HTTP {response.status}")
    if response.truncated:
        return reading.invalid("too_large", f"{what} {response.too_large(len(response.body))}")
    return None


def signal_outcome(reading: SignalReading) -> CheckOutcome:
    state = {"found": Outcome.OK, "invalid": Outcome.WARN}.get(reading.state, Outcome.SKIPPED)
    message = "; ".join(reading.notes) or {"absent": "not offered by the site",
                                            "skipped": "not needed: a better signal answered"}.get(reading.state, "")
    if reading.newest is not None:
        message = f"newest {reading.newest:%Y-%m-%d %H:%M}Z" + (f"; {message}" if message else "")
    return outcome(
        f"freshness.{reading.signal.value}", state, reading.reason, message,
        newest=reading.newest.isoformat() if reading.newest else None, source=reading.source or None,
        activity=reading.activity.value if reading.activity else None,
        assumed_zone=reading.assumed_zone, ignored_future=reading.ignored_future or None,
    )


def judge(target: WebsiteTarget, readings: list[SignalReading], now: dt.datetime) -> Verdict:
    """Fresh, stale or unknown from the best signal that found a date, by the one rule above."""
    if not readings:
        return Verdict(Freshness.UNKNOWN, outcome("freshness", Outcome.SKIPPED, "not_reached",
                                                  "no page to judge freshness from"), None)
    # The newest activity any content signal saw: they all read by the same rule, so the one that
    # sees more (edits, pages) decides. Last-Modified and the fingerprint speak only without them.
    content = [reading for reading in readings if reading.state == "found" and reading.signal in _CONTENT_SIGNALS]
    chosen = max(content, key=lambda reading: reading.newest or _EPOCH) if content else \
        next((reading for reading in readings if reading.state == "found"), None)
    # Notes worth repeating in the verdict: skipped dates and assumed zones, each said once.
    notes = list(dict.fromkeys(note for reading in readings if reading.state != "skipped"
                               for note in reading.notes if "future" in note or "time zone" in note
                               or "by themselves" in note))
    if chosen is None or chosen.newest is None:
        tried = [f"{reading.signal.value}: {reading.reason}" for reading in readings if reading.state != "skipped"]
        message = "no signal gave a usable date (" + ", ".join(tried) + ")"
        if notes:
            message += "; " + "; ".join(notes)
        return Verdict(Freshness.UNKNOWN, outcome("freshness", Outcome.WARN, "freshness_unknown", message), None)
    age_days = (now - chosen.newest).total_seconds() / 86400
    fresh = age_days <= target.stale_after_days
    bound = "at least " if chosen.lower_bound else ""
    activity = ACTIVITY_WORDS[chosen.activity] if chosen.activity else "an update"
    message = (f"last activity {activity}, {chosen.newest:%Y-%m-%d %H:%M}Z ({bound}{age_days:.1f} days ago) "
               f"from {chosen.signal.value}; stale after {target.stale_after_days} days")
    if notes:
        message += "; " + "; ".join(notes)
    details: dict[str, Any] = {"age_days": round(age_days, 2), "signal": chosen.signal.value,
               "activity": chosen.activity.value if chosen.activity else None}
    if fresh:
        return Verdict(Freshness.FRESH, outcome("freshness", Outcome.OK, "fresh", message, **details), chosen)
    return Verdict(Freshness.STALE, outcome("freshness", Outcome.WARN, "stale", message, **details), chosen)
