"""The checker end to end against recorded responses of real CMSs, served over real HTTP.

The corpus and where each response comes from: tests/fixtures/cms/SOURCES.md. The clock is set
relative to each recording's own dates.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from edge_agent.websites import WebsiteChecker, WebsiteFindings, WebsiteTarget
from shared.messages import Freshness, FreshnessSignal, Outcome, WebsiteAvailability
from tests.edge_agent.websites.conftest import run
from tests.edge_agent.websites.replay import CORPUS, Recorded, ReplaySite, serving

RSS = "application/rss+xml; charset=UTF-8"
XML = "application/xml; charset=UTF-8"
JSON = "application/json; charset=UTF-8"
HTML = "text/html; charset=UTF-8"


def check_at(state: Path, site: ReplaySite, moment: dt.datetime, **settings: object) -> WebsiteFindings:
    async def go() -> WebsiteFindings:
        async with WebsiteChecker(state, clock=lambda: moment) as checker:
            return await checker.check(WebsiteTarget(id="kominfo", url=site.base, timeout_s=3.0, **settings))

    return run(go())


def home(theme_day: str, **extra: str) -> Recorded:
    return Recorded.file(f"themes/colormag-id-{theme_day}.html", HTML, **extra)


def test_plain_permalink_wordpress_with_only_a_dated_header_is_never_fresh_by_its_date(tmp_path: Path) -> None:
    """The issue's site: REST API refused, feed gone, core sitemap at ?sitemap=index without lastmod."""
    site = ReplaySite({
        "/": home("2026-12-06"),
        "/?rest_route=/": Recorded(b'{"code":"rest_login_required"}', 401, {"Content-Type": JSON}),
        "/?rest_route=/wp/v2/posts": Recorded(b'{"code":"rest_login_required"}', 401, {"Content-Type": JSON}),
        "/?feed=rss2": Recorded(b"<h1>Not Found</h1>", 404),
        "/?sitemap=index": Recorded.file("wordpress/core-sitemap-index.xml", XML),
        "/?sitemap=posts": Recorded.file("wordpress/core-sitemap-posts.xml", XML),
    })
    state = tmp_path / "state.db"
    day6 = dt.datetime(2026, 12, 6, 2, 0, tzinfo=dt.UTC)
    with serving(site):
        first = check_at(state, site, day6)
        site.routes["/"] = home("2026-12-07")
        second = check_at(state, site, day6 + dt.timedelta(days=1))
        site.routes["/"] = home("2026-12-08-new-post")
        third = check_at(state, site, day6 + dt.timedelta(days=2))

    sitemap = first.check("freshness.sitemap")
    assert sitemap is not None and sitemap.reason == "no_lastmod", sitemap
    assert "?sitemap=" in str(sitemap.details["source"]) and "without a <lastmod>" in sitemap.message
    api = first.check("freshness.wordpress_api")
    assert api is not None and (api.outcome, api.reason) == (Outcome.WARN, "http_error")
    for findings in (first, second):
        # Date in words, counters, calendar, nonce changed between the days: not an update.
        assert (findings.availability, findings.reason, findings.freshness) == (
            WebsiteAvailability.UP, "freshness_unknown", Freshness.UNKNOWN), findings.message
        assert findings.check("freshness").reason == "freshness_unknown"  # type: ignore[union-attr]
    assert second.check("freshness.content_hash").reason == "unchanged_short"  # type: ignore[union-attr]
    # A new post is new text: fresh, and the finding says what it saw.
    assert (third.freshness, third.last_update_signal) == (Freshness.FRESH, FreshnessSignal.CONTENT_HASH)
    assert third.check("freshness").details["activity"] == "content_changed"  # type: ignore[union-attr]
    assert "new text on the home page" in third.message


def test_a_post_removed_from_the_home_page_is_cosmetic(tmp_path: Path) -> None:
    page = (CORPUS / "themes/colormag-id-2026-12-06.html").read_bytes()
    start, end = page.index(b'<article id="post-9"'), page.index(b"</article>", page.index(b'<article id="post-9"'))
    site = ReplaySite({"/": Recorded(page, 200, {"Content-Type": HTML})})
    state = tmp_path / "state.db"
    day = dt.datetime(2026, 12, 6, 2, 0, tzinfo=dt.UTC)
    with serving(site):
        check_at(state, site, day)
        site.routes["/"] = Recorded(page[:start] + page[end + len(b"</article>"):], 200, {"Content-Type": HTML})
        later = check_at(state, site, day + dt.timedelta(hours=6))
    hashed = later.check("freshness.content_hash")
    assert later.freshness is Freshness.UNKNOWN and hashed is not None and hashed.reason == "unchanged_short"
    assert "change by themselves" in hashed.message


def _posts(published: dt.datetime, modified: dt.datetime, *, zone_less: bool = False) -> bytes:
    """The recorded WordPress 4.8 answer with its dates moved (and, for zone-less, its *_gmt nulled)."""
    posts = json.loads((CORPUS / "wordpress/rest-posts-4.8.json").read_bytes())
    local = dt.timezone(dt.timedelta(hours=0))
    for post in posts:
        post["date"] = published.astimezone(local).replace(tzinfo=None).isoformat(timespec="seconds")
        post["modified"] = modified.astimezone(local).replace(tzinfo=None).isoformat(timespec="seconds")
        post["date_gmt"] = None if zone_less else post["date"]
        post["modified_gmt"] = None if zone_less else post["modified"]
    return json.dumps(posts).encode()


def _wordpress_site(posts: bytes, pages: bytes = b"[]", root: str = "wordpress/rest-root-utc.json",
                    feed: Recorded | None = None, sitemap: Recorded | None = None) -> ReplaySite:
    routes = {
        "/": home("2026-12-06"),
        "/?rest_route=/": Recorded.file(root, JSON),
        "/?rest_route=/wp/v2/posts": Recorded(posts, 200, {"Content-Type": JSON}),
        "/?rest_route=/wp/v2/pages": Recorded(pages, 200, {"Content-Type": JSON}),
    }
    if feed is not None:
        routes["/?feed=rss2"] = feed
    if sitemap is not None:
        routes["/?sitemap=index"] = sitemap
    return ReplaySite(routes)


NOW = dt.datetime(2026, 12, 6, 5, 0, tzinfo=dt.UTC)


def test_an_old_post_edited_today_is_fresh_by_the_api_and_says_so(tmp_path: Path) -> None:
    site = _wordpress_site(_posts(NOW - dt.timedelta(days=120), NOW - dt.timedelta(hours=3)))
    with serving(site):
        findings = check_at(tmp_path / "s.db", site, NOW)
    assert (findings.freshness, findings.last_update_signal) == (Freshness.FRESH, FreshnessSignal.WORDPRESS_API)
    assert findings.last_update == NOW - dt.timedelta(hours=3)
    assert findings.check("freshness").details["activity"] == "post_edited"  # type: ignore[union-attr]
    assert any("orderby=modified" in request for request in site.requests)


def test_a_page_edited_today_counts_while_the_posts_are_old(tmp_path: Path) -> None:
    old = NOW - dt.timedelta(days=120)
    page = json.dumps([{"date": "2021-03-01T09:00:00", "date_gmt": "2021-03-01T02:00:00",
                        "modified": "", "modified_gmt": (NOW - dt.timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S"),
                        "link": "{base}?page_id=2"}]).encode()
    site = _wordpress_site(_posts(old, old), pages=page)
    with serving(site):
        findings = check_at(tmp_path / "s.db", site, NOW)
    assert findings.freshness is Freshness.FRESH and findings.last_update == NOW - dt.timedelta(hours=5)
    assert findings.check("freshness").details["activity"] == "page_edited"  # type: ignore[union-attr]
    assert "a page edited" in findings.message


def test_zone_less_rest_dates_are_read_in_the_sites_own_zone_said_once(tmp_path: Path) -> None:
    published = NOW - dt.timedelta(days=2)
    site = _wordpress_site(_posts(published, published, zone_less=True))  # root says UTC (gmt_offset 0)
    with serving(site):
        findings = check_at(tmp_path / "s.db", site, NOW)
    assert findings.last_update == published  # not 7 hours early, as when read as WIB
    assert findings.message.count("UTC+0 (the site's own zone)") == 1, findings.message
    api = findings.check("freshness.wordpress_api")
    assert api is not None and api.details["assumed_zone"] == "UTC+0 (the site's own zone)"


def test_a_feed_without_edits_defers_to_the_sitemaps_lastmod(tmp_path: Path) -> None:
    """The same edit read by a different signal gives the same verdict: the sitemap's lastmod sees it."""
    edited = NOW - dt.timedelta(hours=4)
    feed = Recorded.file("wordpress/feed-6.8.2.xml", RSS)  # newest pubDate 2025-09-18: old
    urlset = (b'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
              b"<url><loc>{base}?p=1</loc><lastmod>" + edited.isoformat().encode() + b"</lastmod></url></urlset>")
    site = _wordpress_site(b"not json", feed=feed, sitemap=Recorded(urlset, 200, {"Content-Type": XML}))
    with serving(site):
        findings = check_at(tmp_path / "s.db", site, NOW)
    assert (findings.freshness, findings.last_update_signal) == (Freshness.FRESH, FreshnessSignal.SITEMAP)
    assert findings.last_update == edited
    feed_check = findings.check("freshness.feed")
    assert feed_check is not None and feed_check.reason == "ok"  # read, and older


def test_joomla_and_drupal_feeds(tmp_path: Path) -> None:
    joomla_home = b'<html><head><link rel="alternate" type="application/rss+xml" href="/?format=feed&amp;type=rss"></head><body><p>Latvijas Banka</p></body></html>'
    joomla = ReplaySite({"/": Recorded(joomla_home), "/?format=feed": Recorded.file("joomla/feed-bank-lv.xml", RSS)})
    drupal_home = b'<html><head><link rel="alternate" type="application/rss+xml" href="/rss.xml"></head><body><p>Drupal</p></body></html>'
    drupal = ReplaySite({"/": Recorded(drupal_home), "/rss.xml": Recorded.file("drupal/feed-drupal-org.xml", RSS)})
    moment = dt.datetime(2026, 2, 6, 12, 0, tzinfo=dt.UTC)
    with serving(joomla, drupal):
        fresh = check_at(tmp_path / "j.db", joomla, moment)
        undated = check_at(tmp_path / "d.db", drupal, moment)
    assert (fresh.freshness, fresh.last_update_signal) == (Freshness.FRESH, FreshnessSignal.FEED)
    assert fresh.last_update == dt.datetime(2026, 2, 3, 0, 0, tzinfo=dt.UTC)  # 02:00 +0200
    assert fresh.check("freshness").details["activity"] == "post_published"  # type: ignore[union-attr]
    feed = undated.check("freshness.feed")
    assert feed is not None and feed.reason == "no_dates" and undated.reason == "freshness_unknown"


def _primicia(name: str) -> Recorded:
    """A primicia.com.ve recording with its addresses pointing back at the replay server."""
    recorded = Recorded.file(name, XML)
    recorded.body = recorded.body.replace(b"https://primicia.com.ve/", b"{base}").replace(
        b"//primicia.com.ve/", b"{base}")
    return recorded


def test_yoast_without_rewrite_rules_is_found_at_its_query_form(tmp_path: Path) -> None:
    """Plain permalinks, REST API refused, no robots.txt: the SEO plugin's ?sitemap=1 still answers."""
    site = ReplaySite({
        "/": home("2026-12-06"),
        "/?rest_route=/wp/v2/posts": Recorded(b'{"code":"rest_forbidden"}', 403, {"Content-Type": JSON}),
        "/?sitemap=1": _primicia("yoast/sitemap-index-primicia.xml"),
        "/post-sitemap3.xml": _primicia("yoast/post-sitemap-primicia.xml"),
    })
    with serving(site):
        findings = check_at(tmp_path / "s.db", site, dt.datetime(2021, 6, 1, tzinfo=dt.UTC))
    assert (findings.freshness, findings.last_update_signal) == (Freshness.FRESH, FreshnessSignal.SITEMAP)
    assert "/?sitemap=1" in site.requests and "/robots.txt" in site.requests


def test_yoast_sitemap_index_found_through_robots(tmp_path: Path) -> None:
    rewritten = _primicia
    site = ReplaySite({
        "/": Recorded(b"<html><body><h1>Primicia</h1></body></html>"),
        "/robots.txt": Recorded(b"User-agent: *\nSitemap: {base}sitemap_index.xml\n", 200, {"Content-Type": "text/plain"}),
        "/sitemap_index.xml": rewritten("yoast/sitemap-index-primicia.xml"),
        "/post-sitemap3.xml": rewritten("yoast/post-sitemap-primicia.xml"),
    })
    with serving(site):
        findings = check_at(tmp_path / "s.db", site, dt.datetime(2021, 8, 1, tzinfo=dt.UTC))
    assert (findings.freshness, findings.last_update_signal) == (Freshness.STALE, FreshnessSignal.SITEMAP)
    assert findings.last_update == dt.datetime(2021, 5, 21, 22, 15, 27, tzinfo=dt.UTC)
    assert findings.check("freshness").details["activity"] == "content_modified"  # type: ignore[union-attr]


def _corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def test_each_recorded_response_parses_to_what_it_says() -> None:
    from edge_agent.websites.signals import read_feed, read_sitemap, read_wordpress, read_wordpress_zone

    at = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    wordpress_feed = read_feed(_corpus("wordpress/feed-6.8.2.xml"), at)
    assert wordpress_feed.newest == dt.datetime(2025, 9, 18, 15, 30, tzinfo=dt.UTC)
    assert wordpress_feed.activity is not None and wordpress_feed.activity.value == "post_published"
    assert not wordpress_feed.sees_edits  # WordPress's RSS2 carries pubDate only
    assert read_feed(_corpus("joomla/feed-bank-lv.xml"), at).newest == dt.datetime(2026, 2, 3, tzinfo=dt.UTC)
    assert read_feed(_corpus("drupal/feed-drupal-org.xml"), at).reason == "no_dates"

    rest = read_wordpress(_corpus("wordpress/rest-posts-4.8.json"), b"[]", at)
    assert rest.newest == dt.datetime(2017, 9, 15, 17, 42, 48, tzinfo=dt.UTC) and rest.assumed_zone is None

    index = read_sitemap(_corpus("yoast/sitemap-index-primicia.xml"), at)
    assert index.children[:2] == ["https://primicia.com.ve/author-sitemap.xml",
                                  "https://primicia.com.ve/post-sitemap3.xml"]  # newest lastmod first
    assert read_sitemap(_corpus("yoast/sitemap-index-rankray.xml"), at).children[0] == \
        "https://rankray.com/post-sitemap.xml"
    posts = read_sitemap(_corpus("yoast/post-sitemap-primicia.xml"), at).reading
    assert posts.newest == dt.datetime(2021, 5, 21, 22, 15, 27, tzinfo=dt.UTC)
    core = read_sitemap(_corpus("wordpress/core-sitemap-index.xml").replace(b"{base}", b"http://x/"), at)
    assert len(core.children) == 4 and "sitemap-subtype=post" in core.children[0]
    assert read_sitemap(_corpus("wordpress/core-sitemap-posts.xml").replace(b"{base}", b"http://x/"),
                        at).reading.reason == "no_lastmod"

    utc = read_wordpress_zone(_corpus("wordpress/rest-root-utc.json"))
    jakarta = read_wordpress_zone(_corpus("wordpress/rest-root-jakarta.json"))
    assert utc is not None and utc.label == "UTC+0 (the site's own zone)"
    assert jakarta is not None and jakarta.label == "Asia/Jakarta (the site's own zone)"
