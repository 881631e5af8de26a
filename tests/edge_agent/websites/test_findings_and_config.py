"""The wire message, table and JSON forms of findings; target configuration; parsers on hostile input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge_agent.websites import (
    WebsiteChecker,
    WebsiteConfigError,
    WebsiteFindings,
    WebsiteTarget,
    findings_json,
    format_website_table,
    load_website_targets,
    provincial_targets,
)
from edge_agent.websites.dates import parse_date
from edge_agent.websites.fingerprint import content_fingerprint
from edge_agent.websites.signals import discover, read_feed, read_sitemap, read_wordpress
from shared import codec
from shared.messages import WebsiteStatus
from simulator.websites import WebsiteFleet
from tests.edge_agent.websites.conftest import run, target_for

NOW = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)


def test_findings_round_trip_the_wire_contract(fleet: WebsiteFleet, tmp_path: Path) -> None:
    async def go() -> list[WebsiteFindings]:
        async with WebsiteChecker(tmp_path / "s.db", ca_file=fleet.ca_file) as checker:
            return await checker.check_all([target_for(site) for site in fleet.sites[:6]])

    findings = run(go())
    for number, item in enumerate(findings):
        message = item.to_message(agent="palembang-01", seq=number, msg_id=f"{number:032x}")
        decoded = codec.decode(codec.topic_for(message), codec.encode(message))
        assert not isinstance(decoded, codec.DecodeError), decoded
        assert isinstance(decoded.message, WebsiteStatus) and decoded.message == message
    table = format_website_table(findings)
    assert all(item.website_id in table for item in findings) and "FRESHNESS" in table.splitlines()[0]
    rows = json.loads(findings_json(findings))
    assert rows[0]["availability"] == "up" and rows[0]["checks"][0]["check"] == "dns"


def test_target_defaults_and_strictness() -> None:
    target = WebsiteTarget(id="dinkes-plg", url="https://dinkes.palembang.go.id/")
    assert (target.stale_after_days, target.tls_warn_days) == (30, (21, 14, 7))
    with pytest.raises(ValidationError, match="extra"):
        WebsiteTarget(id="x", url="https://x.go.id/", colour="blue")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="http"):
        WebsiteTarget(id="x", url="ftp://x.go.id/")
    with pytest.raises(ValidationError):
        WebsiteTarget(id="bad id/", url="https://x.go.id/")


def test_targets_file_with_defaults_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "websites.toml"
    path.write_text('[defaults]\nstale_after_days = 14\n[[websites]]\nid = "a"\nurl = "https://a.go.id/"\n'
                    '[[websites]]\nid = "b"\nurl = "http://b.go.id/"\nstale_after_days = 60\n')
    assert [t.stale_after_days for t in load_website_targets(path)] == [14, 60]
    path.write_text('[[websites]]\nid = "a"\nurl = "https://a.go.id/"\nstale_days = 3\n')
    with pytest.raises(WebsiteConfigError, match=r"websites\.0\.stale_days: unknown key"):
        load_website_targets(path)
    assert len(provincial_targets()) >= 10


@pytest.mark.parametrize(
    "body",
    [b"", b"\x00\xff" * 100, b"<rss><channel><item><pubDate>2999-01-01</pubDate></item></channel></rss>",
     b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><rss>&b;</rss>',
     b"<html><body>not a feed</body></html>"],
)
def test_feed_parser_never_raises(body: bytes) -> None:
    reading = read_feed(body, NOW)
    assert reading.state == "invalid" and reading.newest is None


@pytest.mark.parametrize(
    "body", [b"", b"[]", b"{}", b"[1, 2]", b'[{"date": "kemarin"}]', b"[" * 100000, b"\xff\xfe"],
)
def test_wordpress_parser_never_raises(body: bytes) -> None:
    assert read_wordpress(body, None, NOW).state == "invalid"
    assert read_wordpress(body, body, NOW).state == "invalid"


def test_sitemap_parser_on_odd_input() -> None:
    assert read_sitemap(b"<html/>", NOW).reading.reason == "malformed"
    urlset = (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>a</loc>'
              b"<lastmod>2026-11-01</lastmod></url><url><loc>b</loc><lastmod>2031-01-01</lastmod></url></urlset>")
    reading = read_sitemap(urlset, NOW).reading
    assert reading.newest == dt.datetime(2026, 10, 31, 17, 0, tzinfo=dt.UTC)  # midnight WIB
    assert reading.assumed_zone == "WIB (Asia/Jakarta)" and reading.ignored_future == 1


def test_dates() -> None:
    assert parse_date("2026-11-20T10:00:00+07:00") == parse_date("2026-11-20T03:00:00Z")
    naive = parse_date("Fri, 20 Nov 2026 10:00:00")
    assert naive is not None and naive.assumed_zone and naive.moment.hour == 3
    assert parse_date("besok pagi") is None and parse_date("9" * 500) is None


def test_discovery_and_fingerprint() -> None:
    page = (b'<html><head><link rel="https://api.w.org/" href="/wp-json/">'
            b'<link rel="alternate" type="application/rss+xml" href="/feed/"></head><body>x</body></html>')
    found = discover(page, "https://opd.go.id/beranda/")
    assert found.wordpress_api == "https://opd.go.id/wp-json/" and found.feeds == ["https://opd.go.id/feed/"]
    one = b"<p>Berita</p><p>Pengunjung: 10</p><script>var t=1</script><input type='hidden' value='abc'>"
    two = b"<p>Berita</p><p>Pengunjung: 11</p><script>var t=2</script><input type='hidden' value='xyz'>"
    assert content_fingerprint(one) == content_fingerprint(two)
    assert content_fingerprint(one) != content_fingerprint(b"<p>Berita baru</p>")
