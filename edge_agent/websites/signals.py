"""Freshness signal parsers: page discovery, WordPress posts, feeds, sitemaps, Last-Modified, content hash."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin
from xml.etree.ElementTree import Element, ParseError

import feedparser
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

from edge_agent.websites.dates import ParsedDate, is_future, parse_date, parse_http_date, parse_naive_utc
from shared.messages import FreshnessSignal

# Discovery only needs the <head>; stop parsing there rather than walk a multi-megabyte page.
_DISCOVERY_BYTES = 512 * 1024
_FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/feed+json", "application/rdf+xml"}
WP_API_REL = "https://api.w.org/"


@dataclass(slots=True)
class SignalReading:
    """What one signal said: the newest usable date, or why it said nothing."""

    signal: FreshnessSignal
    newest: dt.datetime | None = None
    # "found": gave a date; "absent": the site does not offer it; "invalid": offered but unusable.
    state: str = "absent"
    reason: str = "not_offered"
    notes: list[str] = field(default_factory=list)
    source: str = ""
    assumed_wib: bool = False
    ignored_future: int = 0
    # Content hash only: the date is a bound ("unchanged since at least"), not a change time.
    lower_bound: bool = False

    def invalid(self, reason: str, note: str) -> SignalReading:
        self.state, self.reason = "invalid", reason
        self.notes.append(note)
        return self


def newest_of(reading: SignalReading, dates: Iterable[ParsedDate | None], now: dt.datetime) -> SignalReading:
    """Pick the newest date that is not in the future; count the ones skipped and assumed-WIB."""
    usable: list[ParsedDate] = []
    for parsed in dates:
        if parsed is None:
            continue
        if is_future(parsed.moment, now):
            reading.ignored_future += 1
        else:
            usable.append(parsed)
    if reading.ignored_future:
        reading.notes.append(f"ignored {reading.ignored_future} date(s) in the future")
    if not usable:
        if reading.ignored_future:
            return reading.invalid("future_dates", "every date is in the future")
        return reading.invalid("no_dates", "no parseable dates")
    best = max(usable, key=lambda parsed: parsed.moment)
    reading.newest, reading.state, reading.reason = best.moment, "found", "ok"
    if best.assumed_wib:
        reading.assumed_wib = True
        reading.notes.append("date had no time zone; assumed WIB (Asia/Jakarta)")
    return reading


# --- home page discovery -------------------------------------------------------------------------


@dataclass(slots=True)
class Discovery:
    """Signal endpoints a home page advertises."""

    wordpress_api: str | None = None
    feeds: list[str] = field(default_factory=list)


class _HeadLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str]] = []
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "link":
            self.links.append({name.lower(): value or "" for name, value in attrs})
        elif tag == "body":
            self.done = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.done = True


def discover(page: bytes, page_url: str, link_header: str = "") -> Discovery:
    """Find the WordPress API root (link rel or Link header) and feed links in a home page."""
    found = Discovery()
    if WP_API_REL in link_header:
        match = re.search(r"<([^>]+)>\s*;\s*rel=\"?" + re.escape(WP_API_REL), link_header)
        if match:
            found.wordpress_api = urljoin(page_url, match.group(1))
    parser = _HeadLinks()
    # html.parser gives up on some binary junk; discovery then just finds less.
    with contextlib.suppress(Exception):
        parser.feed(page[:_DISCOVERY_BYTES].decode("utf-8", errors="replace"))
    for link in parser.links:
        rel = link.get("rel", "").lower().split()
        href = link.get("href", "").strip()
        if not href or len(href) > 2048:
            continue
        if WP_API_REL in rel and found.wordpress_api is None:
            found.wordpress_api = urljoin(page_url, href)
        elif "alternate" in rel and link.get("type", "").lower().split(";")[0].strip() in _FEED_TYPES:
            absolute = urljoin(page_url, href)
            if absolute not in found.feeds and "comments" not in absolute:
                found.feeds.append(absolute)
    return found


def wordpress_posts_url(api_root: str) -> str:
    root = api_root if api_root.endswith("/") else api_root + "/"
    if "rest_route=" in root:
        return api_root.rstrip("/") + "/wp/v2/posts&per_page=1&_fields=date,date_gmt,modified,modified_gmt,link"
    return urljoin(root, "wp/v2/posts?per_page=1&orderby=date&order=desc&_fields=date,date_gmt,modified,modified_gmt,link")


# --- parsers -------------------------------------------------------------------------------------


def read_wordpress(body: bytes, now: dt.datetime) -> SignalReading:
    """The newest post's publication date from /wp/v2/posts (``date_gmt`` is UTC, ``date`` is WIB)."""
    reading = SignalReading(FreshnessSignal.WORDPRESS_API)
    try:
        posts = json.loads(body.decode("utf-8", errors="strict"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return reading.invalid("malformed", "the REST API did not answer JSON")
    if not isinstance(posts, list):
        return reading.invalid("malformed", "the REST API answered JSON that is not a list of posts")
    if not posts:
        return reading.invalid("no_posts", "the site has no published posts")
    dates: list[ParsedDate | None] = []
    for post in posts[:100]:
        if not isinstance(post, dict):
            continue
        gmt = post.get("date_gmt")
        dates.append(parse_naive_utc(gmt) if isinstance(gmt, str) else None)
        if dates[-1] is None and isinstance(post.get("date"), str):
            dates[-1] = parse_date(post["date"])  # site-local time, WIB unless the site says otherwise
    return newest_of(reading, dates, now)


def _xml_safety(body: bytes) -> str | None:
    """Why a document must not be parsed (entity tricks), or None; malformed XML is not refused here."""
    try:
        safe_fromstring(body)
    except DefusedXmlException as refused:
        return f"refused unsafe XML ({type(refused).__name__})"
    except (ParseError, ValueError, UnicodeError):
        return None
    return None


def read_feed(body: bytes, now: dt.datetime) -> SignalReading:
    """The newest entry of an RSS or Atom feed; zone-less dates are read as WIB, not feedparser's UTC."""
    reading = SignalReading(FreshnessSignal.FEED)
    if (unsafe := _xml_safety(body)) is not None:
        return reading.invalid("unsafe_xml", unsafe)
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    entries = parsed.get("entries") or []
    if parsed.get("bozo") and not entries:
        problem = parsed.get("bozo_exception")
        return reading.invalid("malformed", f"not a readable feed: {str(problem)[:160]}")
    if parsed.get("bozo"):
        reading.notes.append("feed is not well-formed; read leniently")
    if not entries:
        return reading.invalid("no_entries", "the feed has no entries")
    dates: list[ParsedDate | None] = []
    for entry in entries[:500]:
        for key in ("published", "updated", "created"):
            raw = entry.get(key)
            parsed_date = parse_date(raw) if isinstance(raw, str) else None
            struct = entry.get(f"{key}_parsed")
            if parsed_date is None and isinstance(struct, time.struct_time):
                # feedparser's own parse, already in UTC: it reads formats ours does not.
                parsed_date = ParsedDate(dt.datetime(*struct[:6]).replace(tzinfo=dt.UTC))
            if parsed_date is not None:
                dates.append(parsed_date)
                break
    newest_of(reading, dates, now)
    if parsed.get("bozo") and reading.state == "invalid":
        reading.reason = "malformed"  # the breakage is why there are no dates
    return reading


@dataclass(slots=True)
class SitemapContent:
    """A parsed sitemap: URL lastmods, or (for an index) the child sitemaps newest first."""

    reading: SignalReading
    children: list[str] = field(default_factory=list)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_sitemap(body: bytes, now: dt.datetime) -> SitemapContent:
    """A urlset's newest <lastmod>, or an index's children ordered by their lastmod."""
    reading = SignalReading(FreshnessSignal.SITEMAP)
    try:
        root: Element = safe_fromstring(body)
    except DefusedXmlException as refused:
        return SitemapContent(reading.invalid("unsafe_xml", f"refused unsafe XML ({type(refused).__name__})"))
    except (ParseError, ValueError, UnicodeError) as error:
        return SitemapContent(reading.invalid("malformed", f"sitemap is not well-formed XML: {str(error)[:120]}"))
    kind = _local(root.tag)
    if kind not in {"urlset", "sitemapindex"}:
        return SitemapContent(reading.invalid("malformed", f"not a sitemap (root element <{kind[:40]}>)"))
    rows: list[tuple[str, ParsedDate | None]] = []
    for item in list(root)[:50000]:
        loc = lastmod = ""
        for child in item:
            name = _local(child.tag)
            if name == "loc":
                loc = (child.text or "").strip()
            elif name == "lastmod":
                lastmod = (child.text or "").strip()
        rows.append((loc, parse_date(lastmod)))
    if kind == "sitemapindex":
        ranked = sorted(
            rows,
            key=lambda row: row[1].moment if row[1] and not is_future(row[1].moment, now) else dt.datetime.min.replace(tzinfo=dt.UTC),
            reverse=True,
        )
        return SitemapContent(reading, [loc for loc, _ in ranked if loc])
    return SitemapContent(newest_of(reading, (parsed for _, parsed in rows), now))


def sitemaps_from_robots(text: str, base: str) -> list[str]:
    urls = []
    for line in text.splitlines()[:2000]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "sitemap" and value.strip():
            urls.append(urljoin(base, value.strip()))
    return urls[:5]


def read_last_modified(header: str | None, now: dt.datetime) -> SignalReading:
    reading = SignalReading(FreshnessSignal.LAST_MODIFIED)
    if not header:
        return reading
    moment = parse_http_date(header)
    if moment is None:
        return reading.invalid("malformed", f"unparseable Last-Modified {header[:60]!r}")
    if is_future(moment, now):
        reading.ignored_future = 1
        return reading.invalid("future_dates", f"ignored Last-Modified in the future ({moment:%Y-%m-%d %H:%M}Z)")
    # Some servers send the time of the request for every dynamic page; that says nothing.
    if abs((now - moment).total_seconds()) < 5:
        return reading.invalid("dynamic", "Last-Modified is the request time (dynamic page)")
    reading.newest, reading.state, reading.reason = moment, "found", "ok"
    return reading


# --- content fingerprint -------------------------------------------------------------------------

_DROP_BLOCKS = re.compile(rb"<(script|style|noscript|template|svg)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENTS = re.compile(rb"<!--.*?-->", re.DOTALL)
_HIDDEN_INPUTS = re.compile(rb"<input\b[^>]*type=[\"']?hidden[^>]*>", re.IGNORECASE)
_TAGS = re.compile(rb"<[^>]*>")
# Counters, clocks and dates change on every request without anyone updating the site.
_DIGITS = re.compile(rb"\d+")
_SPACE = re.compile(rb"\s+")


def content_fingerprint(body: bytes) -> str:
    """sha256 of the page's visible text with scripts, comments, tokens, numbers and spacing removed."""
    text = _DROP_BLOCKS.sub(b" ", body)
    text = _COMMENTS.sub(b" ", text)
    text = _HIDDEN_INPUTS.sub(b" ", text)
    text = _TAGS.sub(b" ", text)
    text = _DIGITS.sub(b"", text)
    text = _SPACE.sub(b" ", text).strip().lower()
    return hashlib.sha256(text).hexdigest()
