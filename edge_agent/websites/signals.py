"""Freshness signal parsers: page discovery, WordPress posts, feeds, sitemaps, Last-Modified, content hash."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from html.parser import HTMLParser
from urllib.parse import urljoin
from xml.etree.ElementTree import Element, ParseError

import feedparser
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

from edge_agent.websites.dates import (
    DEFAULT_ZONE,
    ParsedDate,
    SiteZone,
    is_future,
    parse_date,
    parse_http_date,
    parse_naive_utc,
    zone_from_wordpress,
)
from shared.messages import FreshnessSignal

# Discovery only needs the <head>; stop parsing there rather than walk a multi-megabyte page.
_DISCOVERY_BYTES = 512 * 1024
_FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/feed+json", "application/rdf+xml"}
WP_API_REL = "https://api.w.org/"


class Activity(StrEnum):
    """What kind of site activity a date stands for; findings say which one they saw."""

    PUBLISHED = "post_published"
    EDITED = "post_edited"
    PAGE_PUBLISHED = "page_published"
    PAGE_EDITED = "page_edited"
    MODIFIED = "content_modified"  # a sitemap's lastmod or a feed's updated: publication or edit
    FILE_MODIFIED = "file_modified"  # the home page's Last-Modified header
    CONTENT_CHANGED = "content_changed"  # new text on the home page, seen by the fingerprint


ACTIVITY_WORDS = {
    Activity.PUBLISHED: "a post published",
    Activity.EDITED: "a post edited",
    Activity.PAGE_PUBLISHED: "a page published",
    Activity.PAGE_EDITED: "a page edited",
    Activity.MODIFIED: "content published or edited",
    Activity.FILE_MODIFIED: "the home page file modified",
    Activity.CONTENT_CHANGED: "new text on the home page",
}
# An edit within this long after publication is the author's own correction, not maintenance.
_EDIT_AFTER = dt.timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Dated:
    """One dated activity read from a signal."""

    parsed: ParsedDate
    activity: Activity


def activity_of(published: ParsedDate | None, modified: ParsedDate | None, *, page: bool = False) -> Dated | None:
    """The freshness rule for one item: its newest of publication and edit, named by which it was."""
    if published is None and modified is None:
        return None
    if modified is None or (published is not None and modified.moment <= published.moment + _EDIT_AFTER):
        assert published is not None
        newest = published if modified is None or published.moment >= modified.moment else modified
        return Dated(newest, Activity.PAGE_PUBLISHED if page else Activity.PUBLISHED)
    if published is None and not page:
        return Dated(modified, Activity.MODIFIED)
    return Dated(modified, Activity.PAGE_EDITED if page else Activity.EDITED)


@dataclass(slots=True)
class SignalReading:
    """What one signal said: the newest usable activity, or why it said nothing."""

    signal: FreshnessSignal
    newest: dt.datetime | None = None
    # "found": gave a date; "absent": the site does not offer it; "invalid": offered but unusable.
    state: str = "absent"
    reason: str = "not_offered"
    notes: list[str] = field(default_factory=list)
    source: str = ""
    activity: Activity | None = None
    assumed_zone: str | None = None
    ignored_future: int = 0
    # Content hash only: the date is a bound ("unchanged since at least"), not a change time.
    lower_bound: bool = False
    # Whether this signal shows edits at all (a feed without <updated> shows publications only).
    sees_edits: bool = True

    def invalid(self, reason: str, note: str) -> SignalReading:
        self.state, self.reason = "invalid", reason
        self.notes.append(note)
        return self

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def newest_of(reading: SignalReading, items: Iterable[Dated | None], now: dt.datetime) -> SignalReading:
    """Pick the newest activity that is not in the future; count the ones skipped."""
    usable: list[Dated] = []
    for item in items:
        if item is None:
            continue
        if is_future(item.parsed.moment, now):
            reading.ignored_future += 1
        else:
            usable.append(item)
    if reading.ignored_future:
        reading.note(f"ignored {reading.ignored_future} date(s) in the future")
    if not usable:
        if reading.ignored_future:
            return reading.invalid("future_dates", "every date is in the future")
        return reading.invalid("no_dates", "no parseable dates")
    best = max(usable, key=lambda item: item.parsed.moment)
    reading.newest, reading.state, reading.reason = best.parsed.moment, "found", "ok"
    reading.activity = best.activity
    if best.parsed.assumed_zone:
        reading.assumed_zone = best.parsed.assumed_zone
        reading.note(f"date had no time zone; read in {best.parsed.assumed_zone}")
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


_WP_FIELDS = "date,date_gmt,modified,modified_gmt,link"


def _wordpress_route(api_root: str, route: str, query: str) -> str:
    """``route`` under the API root, in pretty (/wp-json/) or plain (?rest_route=) permalink form."""
    if "rest_route=" in api_root:
        return api_root.rstrip("/") + route + ("&" + query if query else "")
    root = api_root if api_root.endswith("/") else api_root + "/"
    return urljoin(root, route.lstrip("/")) + ("?" + query if query else "")


def wordpress_posts_url(api_root: str) -> str:
    """The five most recently modified posts (publication or edit, whichever is newer, is the activity)."""
    return _wordpress_route(api_root, "/wp/v2/posts", f"per_page=5&orderby=modified&order=desc&_fields={_WP_FIELDS}")


def wordpress_pages_url(api_root: str) -> str:
    """The most recently modified page ("Profil Dinas" edited today is maintenance too)."""
    return _wordpress_route(api_root, "/wp/v2/pages", f"per_page=1&orderby=modified&order=desc&_fields={_WP_FIELDS}")


def wordpress_root_url(api_root: str) -> str:
    """The REST root, asked only for the site's own time zone."""
    query = "_fields=timezone_string,gmt_offset"
    if "rest_route=" in api_root:
        return api_root + "&" + query
    return (api_root if api_root.endswith("/") else api_root + "/") + "?" + query


def read_wordpress_zone(body: bytes) -> SiteZone | None:
    """The site's zone from the REST root's ``timezone_string``/``gmt_offset``; None when it does not say."""
    try:
        root = json.loads(body.decode("utf-8", errors="strict"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(root, dict):
        return None
    return zone_from_wordpress(root.get("timezone_string"), root.get("gmt_offset"))


def _wordpress_items(body: bytes, what: str, reading: SignalReading) -> list[dict[str, object]] | None:
    try:
        items = json.loads(body.decode("utf-8", errors="strict"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        reading.invalid("malformed", f"the REST API did not answer JSON for {what}")
        return None
    if not isinstance(items, list):
        reading.invalid("malformed", f"the REST API answered JSON that is not a list of {what}")
        return None
    return [item for item in items[:100] if isinstance(item, dict)]


def _wordpress_date(item: dict[str, object], key: str, zone: SiteZone) -> ParsedDate | None:
    gmt = item.get(f"{key}_gmt")
    parsed = parse_naive_utc(gmt) if isinstance(gmt, str) else None
    local = item.get(key)
    if parsed is None and isinstance(local, str):
        parsed = parse_date(local, zone)  # site-local time: the site's own zone when it published one
    return parsed


def read_wordpress(posts: bytes, pages: bytes | None, now: dt.datetime,
                   zone: SiteZone = DEFAULT_ZONE) -> SignalReading:
    """The newest activity among posts and pages: publication (``date_gmt``) or edit (``modified_gmt``)."""
    reading = SignalReading(FreshnessSignal.WORDPRESS_API)
    post_items = _wordpress_items(posts, "posts", reading)
    if post_items is None:
        return reading
    page_items = _wordpress_items(pages, "pages", SignalReading(FreshnessSignal.WORDPRESS_API)) \
        if pages is not None else None
    if not post_items and not page_items:
        return reading.invalid("no_posts", "the site has no published posts or pages")
    dated = [activity_of(_wordpress_date(item, "date", zone), _wordpress_date(item, "modified", zone))
             for item in post_items]
    dated += [activity_of(_wordpress_date(item, "date", zone), _wordpress_date(item, "modified", zone), page=True)
              for item in page_items or ()]
    return newest_of(reading, dated, now)


def _xml_safety(body: bytes) -> str | None:
    """Why a document must not be parsed (entity tricks), or None; malformed XML is not refused here."""
    try:
        safe_fromstring(body)
    except DefusedXmlException as refused:
        return f"refused unsafe XML ({type(refused).__name__})"
    except (ParseError, ValueError, UnicodeError):
        return None
    return None


def _feed_date(entry: dict[str, object], key: str, zone: SiteZone) -> ParsedDate | None:
    # dict.get, not the entry's own: feedparser answers "updated" with "published" when it has no
    # updated, and an edit must not be read into a feed that does not give one.
    raw = dict.get(entry, key)
    parsed = parse_date(raw, zone) if isinstance(raw, str) else None
    struct = dict.get(entry, f"{key}_parsed")
    if parsed is None and isinstance(struct, time.struct_time):
        # feedparser's own parse, already in UTC: it reads formats ours does not.
        parsed = ParsedDate(dt.datetime(*struct[:6]).replace(tzinfo=dt.UTC))
    return parsed


def read_feed(body: bytes, now: dt.datetime, zone: SiteZone = DEFAULT_ZONE) -> SignalReading:
    """The newest activity of an RSS or Atom feed: an entry's publication or its ``updated`` edit.

    Zone-less dates are read in the site's zone (WIB unless it says otherwise), not feedparser's UTC.
    """
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
    dated = [activity_of(_feed_date(entry, "published", zone) or _feed_date(entry, "created", zone),
                         _feed_date(entry, "updated", zone))
             for entry in entries[:500]]
    reading.sees_edits = any(dict.get(entry, "updated") for entry in entries[:500])
    newest_of(reading, dated, now)
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


def read_sitemap(body: bytes, now: dt.datetime, zone: SiteZone = DEFAULT_ZONE) -> SitemapContent:
    """A urlset's newest <lastmod> (a modification: publication or edit), or an index's children."""
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
        rows.append((loc, parse_date(lastmod, zone)))
    if kind == "sitemapindex":
        ranked = sorted(
            rows,
            key=lambda row: row[1].moment if row[1] and not is_future(row[1].moment, now) else dt.datetime.min.replace(tzinfo=dt.UTC),
            reverse=True,
        )
        return SitemapContent(reading, [loc for loc, _ in ranked if loc])
    if rows and all(parsed is None for _, parsed in rows):
        reading.reason = "no_lastmod"
        reading.note(f"the sitemap lists {len(rows)} address(es) without a <lastmod> date")
        return SitemapContent(reading)
    return SitemapContent(newest_of(reading, (Dated(parsed, Activity.MODIFIED) if parsed else None
                                              for _, parsed in rows), now))


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
    reading.activity = Activity.FILE_MODIFIED
    return reading
