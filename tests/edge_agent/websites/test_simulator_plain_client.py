"""Every simulated website fault is visible to a plain HTTP client, not just to SCC's checker."""

from __future__ import annotations

import datetime as dt
import ssl
import time

import httpx
import pytest
from cryptography import x509

from simulator.websites import WebsiteFaultError, WebsiteFleet, parse_fault_spec, start_websites
from simulator.websites_content import SignalProfile
from tests.edge_agent.websites.conftest import Sites


def client(fleet: WebsiteFleet, **kwargs: object) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(fleet.ca_file)), trust_env=False,
                        timeout=5, **kwargs)  # type: ignore[arg-type]


def peer_certificate(url: str) -> x509.Certificate:
    host, port = url.split("//")[1].rstrip("/").split(":")
    der = ssl.get_server_certificate((host, int(port)))
    return x509.load_pem_x509_certificate(der.encode())


def test_healthy_sites_offer_their_signals(fleet: WebsiteFleet, sites: Sites) -> None:
    with client(fleet, follow_redirects=True) as http:
        wordpress = sites.pick(SignalProfile.WORDPRESS, "https")
        posts = http.get(wordpress.url + "wp-json/wp/v2/posts?per_page=1").json()
        assert posts[0]["date_gmt"] and posts[0]["date"]
        assert 'rel="https://api.w.org/"' in http.get(wordpress.url).text
        assert "<rss" in http.get(sites.pick(SignalProfile.RSS).url + "feed/").text
        assert "<feed" in http.get(sites.pick(SignalProfile.ATOM).url + "atom.xml").text
        sitemap_site = sites.pick(SignalProfile.SITEMAP)
        assert "Sitemap:" in http.get(sitemap_site.url + "robots.txt").text
        assert "<sitemapindex" in http.get(sitemap_site.url + "sitemap.xml").text
        static = http.get(sites.pick(SignalProfile.LAST_MODIFIED).url)
        assert static.headers["last-modified"] and static.headers["etag"]
        bare = http.get(sites.pick(SignalProfile.NONE).url)
        assert "last-modified" not in bare.headers and "api.w.org" not in bare.text


def test_down_modes(fleet: WebsiteFleet, sites: Sites) -> None:
    site = sites.pick(SignalProfile.RSS)
    with client(fleet) as http:
        sites.fault(site, "down")
        assert http.get(site.url).status_code == 503
        sites.fault(site, "down", mode="4xx")
        assert http.get(site.url).status_code == 404
        sites.fault(site, "down", mode="refused")
        with pytest.raises(httpx.ConnectError):
            http.get(site.url)
        sites.fault(site, "down", mode="timeout")
        with pytest.raises(httpx.ReadTimeout):
            http.get(site.url, timeout=0.5)
        fleet.clear(site.id)
        assert http.get(site.url).status_code == 200


def test_certificate_faults(fleet: WebsiteFleet, sites: Sites) -> None:
    site = sites.pick(SignalProfile.ATOM, "https")
    sites.fault(site, "cert_expiring", days=5)
    days_left = (peer_certificate(site.url).not_valid_after_utc - dt.datetime.now(dt.UTC)).days
    assert days_left == 5
    with client(fleet) as http:
        assert http.get(site.url).status_code == 200
        sites.fault(site, "cert_expired", days=2)
        with pytest.raises(httpx.ConnectError, match="expired"):
            http.get(site.url)
        fleet.clear(site.id)
        sites.fault(site, "cert_untrusted")
        with pytest.raises(httpx.ConnectError, match=r"self-signed|verify failed"):
            http.get(site.url)


def test_redirect_loop_huge_slow_not_html(fleet: WebsiteFleet, sites: Sites) -> None:
    site = sites.pick(SignalProfile.NONE)
    with client(fleet, follow_redirects=True) as http:
        sites.fault(site, "redirect_loop")
        with pytest.raises(httpx.TooManyRedirects):
            http.get(site.url)
        fleet.clear(site.id)
        sites.fault(site, "huge", mb=3)
        assert len(http.get(site.url).content) == 3 * 1024 * 1024
        fleet.clear(site.id)
        sites.fault(site, "slow", seconds=0.6)
        started = time.perf_counter()
        http.get(site.url)
        assert time.perf_counter() - started >= 0.6
        fleet.clear(site.id)
        sites.fault(site, "not_html")
        assert http.get(site.url).headers["content-type"] == "application/pdf"


def test_content_faults(fleet: WebsiteFleet, sites: Sites) -> None:
    wordpress = sites.pick(SignalProfile.WORDPRESS)
    sitemap = sites.pick(SignalProfile.SITEMAP)
    with client(fleet) as http:
        sites.fault(wordpress, "stale", days=60)
        newest = http.get(wordpress.url + "wp-json/wp/v2/posts?per_page=1").json()[0]["date_gmt"]
        age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(newest).replace(tzinfo=dt.UTC)
        assert 59.9 < age.total_seconds() / 86400 < 60.1
        sites.fault(wordpress, "naive_dates")
        assert "date_gmt" not in http.get(wordpress.url + "wp-json/wp/v2/posts").json()[0]
        sites.fault(wordpress, "future_dates", days=30)
        newest = http.get(wordpress.url + "wp-json/wp/v2/posts?per_page=1").json()[0]["date"]
        assert dt.datetime.fromisoformat(newest) > dt.datetime.now()
        sites.fault(wordpress, "malformed_api")
        assert http.get(wordpress.url + "wp-json/wp/v2/posts").text.startswith("<html>")
        sites.fault(wordpress, "malformed_feed")
        assert "</titel>" in http.get(wordpress.url + "feed/").text
        sites.fault(wordpress, "huge_feed", mb=2)
        assert len(http.get(wordpress.url + "feed/").content) == 2 * 1024 * 1024
        sites.fault(sitemap, "malformed_sitemap", kind="bomb")
        assert "<!ENTITY" in http.get(sitemap.url + "sitemap.xml").text
        sites.fault(sitemap, "huge_sitemap", mb=1)
        assert len(http.get(sitemap.url + "sitemap.xml").content) == 1024 * 1024


def test_publish_changes_the_page_but_noise_alone_does_not_matter(fleet: WebsiteFleet, sites: Sites) -> None:
    site = sites.pick(SignalProfile.NONE, "https")
    with client(fleet) as http:
        first, second = http.get(site.url).text, http.get(site.url).text
        assert first != second  # counter, clock and tokens change on every request
        fleet.publish(site.id, "Pengumuman CPNS")
        assert "Pengumuman CPNS" in http.get(site.url).text


def test_fault_specs_and_errors(fleet: WebsiteFleet) -> None:
    parsed = parse_fault_spec(["stale=90", "slow"])
    assert parsed[next(iter(parsed))] == {"days": 90.0}
    assert parse_fault_spec({"down": "refused"})[next(iter(parse_fault_spec({"down": "refused"})))] == {
        "mode": "refused"}
    with pytest.raises(WebsiteFaultError, match="unknown website fault"):
        parse_fault_spec(["melted"])
    with pytest.raises(WebsiteFaultError, match="mode"):
        parse_fault_spec({"down": "sideways"})
    http_site = next(site for site in fleet.sites if site.scheme == "http")
    with pytest.raises(WebsiteFaultError, match="HTTPS"):
        fleet.set_fault(http_site.id, "cert_expired")


def test_scenario_faults_and_describe() -> None:
    scenario = {"websites": {"faults": {"0": ["stale=45"], "1": {"down": "refused"}}, "schemes": {"2": "https"}}}
    with start_websites(3, scenario, "127.0.0.1") as fleet:
        rows = fleet.describe()
        assert [row["faults"] for row in rows[:2]] == [{"stale": {"days": 45.0}}, {"down": {"mode": "refused"}}]
        assert rows[2]["url"].startswith("https://") and rows[2]["cert_not_after"]
        assert {"id", "url", "opd", "scheme", "faults", "signals"} <= set(rows[0])
        with httpx.Client(trust_env=False) as http, pytest.raises(httpx.ConnectError):
            http.get(rows[1]["url"])


def test_camera_tables_of_a_scenario_are_not_read_as_website_faults() -> None:
    with start_websites(2, {"faults": {"0": ["black"]}, "cameras": 4}, "127.0.0.1") as fleet:
        assert [row["faults"] for row in fleet.describe()] == [{}, {}]
        assert fleet.describe()[0]["ca_file"] == str(fleet.ca_file)
