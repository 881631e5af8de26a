"""Certificates along the redirect chain, maintenance windows, and calendar-day certificate counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.websites import WebsiteChecker, WebsiteFindings, WebsiteTarget
from edge_agent.websites.dates import WIB, calendar_days_until
from shared.messages import Freshness, FreshnessSignal, Outcome, WebsiteAvailability
from simulator.websites_tls import SimulatorCA
from tests.edge_agent.websites.conftest import run
from tests.edge_agent.websites.replay import Recorded, ReplaySite, serving

RSS = "application/rss+xml; charset=UTF-8"


@pytest.fixture(scope="module")
def ca() -> Iterator[SimulatorCA]:
    authority = SimulatorCA()
    yield authority
    authority.close()


def _feed(moment: dt.datetime) -> bytes:
    return (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Dinas</title><item><title>Rapat</title>'
            b"<pubDate>" + moment.strftime("%a, %d %b %Y %H:%M:%S +0000").encode() + b"</pubDate></item></channel></rss>")


def _content_site(tls: object = None) -> ReplaySite:
    now = dt.datetime.now(dt.UTC)
    page = b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed/"></head><body>Dinas</body></html>'
    return ReplaySite({"/": Recorded(page), "/feed/": Recorded(_feed(now - dt.timedelta(days=1)), 200,
                                                             {"Content-Type": RSS})}, tls)  # type: ignore[arg-type]


def _redirect(to: str) -> ReplaySite:
    return ReplaySite({"/": Recorded(b"", 301, {"Location": to, "Content-Type": "text/html"})})


def _check(ca: SimulatorCA, state: Path, url: str, **clock: dt.datetime) -> WebsiteFindings:
    async def go() -> WebsiteFindings:
        moment = clock.get("at")
        options = {"clock": (lambda: moment)} if moment else {}
        async with WebsiteChecker(state, ca_file=ca.ca_file, **options) as checker:  # type: ignore[arg-type]
            return await checker.check(WebsiteTarget(id="dinas", url=url, timeout_s=3.0))

    return run(go())


def _tls(ca: SimulatorCA, name: str, *, days: int, self_signed: bool = False) -> object:
    """A certificate ending at noon WIB ``days`` calendar days from today (WIB)."""
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(WIB).date()
    not_after = dt.datetime.combine(today + dt.timedelta(days=days), dt.time(12), tzinfo=WIB).astimezone(dt.UTC)
    context, _ = ca.server_context(name, ["127.0.0.1"], not_before=now - dt.timedelta(days=60),
                                   not_after=not_after, self_signed=self_signed)
    return context


@pytest.mark.parametrize(
    ("days", "self_signed", "reason", "days_left"),
    [(5, False, "tls_expiring", 5), (-3, False, "tls_expired", -3), (200, True, "tls_invalid", None)],
)
def test_a_redirect_to_https_gets_the_certificate_findings(
    ca: SimulatorCA, tmp_path: Path, days: int, self_signed: bool, reason: str, days_left: int | None
) -> None:
    """http:// that 301s to HTTPS: the certificate visitors meet is judged; never 'down', freshness read."""
    secure = _content_site(_tls(ca, f"hop{reason}", days=days, self_signed=self_signed))
    plain = _redirect(secure.base)
    with serving(plain, secure):
        findings = _check(ca, tmp_path / "s.db", plain.base)
    assert (findings.availability, findings.reason) == (WebsiteAvailability.DEGRADED, reason), findings.message
    tls = findings.check("tls")
    assert tls is not None and tls.reason == reason and "reached by redirect" in tls.message
    assert tls.details["endpoint"] == f"127.0.0.1:{secure.port}"
    if days_left is not None:
        assert findings.tls_days_left == days_left  # calendar days, as a person counts them
    assert findings.tls_valid is (reason == "tls_expiring")
    assert (findings.freshness, findings.last_update_signal) == (Freshness.FRESH, FreshnessSignal.FEED)


def test_every_https_hop_is_checked_and_the_worst_decides(ca: SimulatorCA, tmp_path: Path) -> None:
    """https://apex -> https://www with another certificate (the apex-to-www case)."""
    www = _content_site(_tls(ca, "www", days=4))
    apex = ReplaySite({"/": Recorded(b"", 301, {"Location": www.base, "Content-Type": "text/html"})},
                      _tls(ca, "apex", days=300))  # type: ignore[arg-type]
    with serving(apex, www):
        findings = _check(ca, tmp_path / "s.db", apex.base)
    first, second = findings.check("tls"), findings.check("tls.hop2")
    assert first is not None and first.outcome is Outcome.OK and "reached by redirect" not in first.message
    assert second is not None and second.reason == "tls_expiring" and second.details["days_left"] == 4
    assert (findings.availability, findings.reason, findings.tls_days_left) == (
        WebsiteAvailability.DEGRADED, "tls_expiring", 4)


def test_a_tls_handshake_failure_after_a_redirect_is_degraded_not_down(ca: SimulatorCA, tmp_path: Path) -> None:
    speaks_http = _content_site()  # plain HTTP where the redirect promises HTTPS
    plain = _redirect(speaks_http.base.replace("http://", "https://"))
    with serving(plain, speaks_http):
        findings = _check(ca, tmp_path / "s.db", plain.base)
    assert (findings.availability, findings.reason) == (WebsiteAvailability.DEGRADED, "tls_handshake_failed")
    assert findings.check("tls").reason == "tls_handshake_failed"  # type: ignore[union-attr]


def test_calendar_days() -> None:
    seen = dt.datetime(2026, 12, 7, 16, 30, tzinfo=dt.UTC)  # 23:30 WIB on the 7th
    assert calendar_days_until(dt.datetime(2026, 12, 12, 2, 0, tzinfo=dt.UTC), seen) == 5
    assert calendar_days_until(seen + dt.timedelta(days=5), seen) == 5
    assert calendar_days_until(seen - dt.timedelta(days=3.0), seen) == -3
    assert calendar_days_until(seen + dt.timedelta(hours=1), seen) == 1  # 00:30 WIB tomorrow


MAINTENANCE_PAGE = "wordpress/maintenance.html"


def test_wordpress_maintenance_is_its_own_state_until_it_outlasts_its_end(ca: SimulatorCA, tmp_path: Path) -> None:
    site = ReplaySite({"/": Recorded.file(MAINTENANCE_PAGE, "text/html; charset=utf-8", 503, **{"Retry-After": "600"})})
    state = tmp_path / "s.db"
    start = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
    with serving(site):
        during = _check(ca, state, site.base, at=start)
        later = _check(ca, state, site.base, at=start + dt.timedelta(minutes=8))
        overrun = _check(ca, state, site.base, at=start + dt.timedelta(minutes=20))
        site.routes["/"] = Recorded(b"<html><body>Dinas</body></html>")
        back = _check(ca, state, site.base, at=start + dt.timedelta(minutes=30))
        site.routes["/"] = Recorded.file(MAINTENANCE_PAGE, "text/html; charset=utf-8", 503, **{"Retry-After": "600"})
        again = _check(ca, state, site.base, at=start + dt.timedelta(minutes=40))

    end = start + dt.timedelta(minutes=10)
    for findings in (during, later):
        assert (findings.availability, findings.reason) == (WebsiteAvailability.MAINTENANCE, "maintenance")
        # The end announced at the start holds, though every 503 says "600 s" again.
        assert findings.maintenance_until == end and f"{end:%Y-%m-%d %H:%M}Z" in findings.message
    assert (overrun.availability, overrun.reason) == (WebsiteAvailability.DOWN, "maintenance_overrun")
    assert overrun.check("maintenance").outcome is Outcome.FAIL  # type: ignore[union-attr]
    assert back.availability is WebsiteAvailability.UP and back.maintenance_until is None
    assert again.reason == "maintenance" and again.maintenance_until == start + dt.timedelta(minutes=50)
    message = during.to_message(agent="palembang-01", seq=1, msg_id="0" * 32)
    assert message.maintenance_until == end and message.availability is WebsiteAvailability.MAINTENANCE


def test_a_plugins_503_with_an_http_date_and_a_plain_503(ca: SimulatorCA, tmp_path: Path) -> None:
    start = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
    until = "Mon, 07 Dec 2026 06:00:00 GMT"
    plugin = ReplaySite({"/": Recorded(b"<h1>Situs sedang dalam pemeliharaan</h1>", 503, {"Retry-After": until})})
    broken = ReplaySite({"/": Recorded(b"<h1>Service Unavailable</h1>", 503)})
    with serving(plugin, broken):
        announced = _check(ca, tmp_path / "a.db", plugin.base, at=start)
        failing = _check(ca, tmp_path / "b.db", broken.base, at=start)
    assert announced.availability is WebsiteAvailability.MAINTENANCE
    assert announced.maintenance_until == dt.datetime(2026, 12, 7, 6, 0, tzinfo=dt.UTC)
    assert (failing.availability, failing.reason) == (WebsiteAvailability.DOWN, "http_5xx")
