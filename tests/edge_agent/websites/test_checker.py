"""The checker against simulated websites: each freshness signal, each fault, and bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from edge_agent.websites import WebsiteChecker, WebsiteFindings, WebsiteTarget
from shared.messages import Freshness, FreshnessSignal, Outcome, WebsiteAvailability
from simulator.websites import WebsiteFleet
from simulator.websites_content import SignalProfile
from tests.edge_agent.websites.conftest import Sites, check, run, target_for

SIGNAL_OF_PROFILE = {
    SignalProfile.WORDPRESS: FreshnessSignal.WORDPRESS_API,
    SignalProfile.RSS: FreshnessSignal.FEED,
    SignalProfile.ATOM: FreshnessSignal.FEED,
    SignalProfile.SITEMAP: FreshnessSignal.SITEMAP,
    SignalProfile.LAST_MODIFIED: FreshnessSignal.LAST_MODIFIED,
}


def age_days(findings: WebsiteFindings) -> float:
    assert findings.last_update is not None
    return (findings.checked_at - findings.last_update).total_seconds() / 86400


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("profile", list(SIGNAL_OF_PROFILE))
def test_each_signal_reports_fresh_then_stale(
    fleet: WebsiteFleet, sites: Sites, tmp_path: Path, profile: SignalProfile, scheme: str
) -> None:
    site = sites.pick(profile, scheme)
    fresh = check(fleet, tmp_path / "state.db", site)
    assert (fresh.availability, fresh.reason, fresh.freshness) == (WebsiteAvailability.UP, "ok", Freshness.FRESH)
    assert fresh.last_update_signal is SIGNAL_OF_PROFILE[profile]
    assert age_days(fresh) < 1.1
    if scheme == "https":
        assert fresh.tls_valid is True and fresh.tls_days_left and fresh.tls_days_left > 100

    sites.fault(site, "stale", days=75)
    stale = check(fleet, tmp_path / "state.db", site)
    assert (stale.availability, stale.reason, stale.freshness) == (WebsiteAvailability.UP, "stale", Freshness.STALE)
    assert stale.last_update_signal is SIGNAL_OF_PROFILE[profile]
    assert 74.5 < age_days(stale) < 75.5
    assert stale.check("freshness").reason == "stale"  # type: ignore[union-attr]


def test_best_signal_wins_and_lesser_ones_are_skipped(fleet: WebsiteFleet, sites: Sites, tmp_path: Path) -> None:
    findings = check(fleet, tmp_path / "s.db", sites.pick(SignalProfile.WORDPRESS))
    assert findings.last_update_signal is FreshnessSignal.WORDPRESS_API
    assert findings.check("freshness.feed").reason == "not_needed"  # type: ignore[union-attr]
    assert findings.check("freshness.sitemap").outcome is Outcome.SKIPPED  # type: ignore[union-attr]


def test_broken_wordpress_api_falls_back_to_the_feed(fleet: WebsiteFleet, sites: Sites, tmp_path: Path) -> None:
    site = sites.fault(sites.pick(SignalProfile.WORDPRESS), "malformed_api")
    findings = check(fleet, tmp_path / "s.db", site)
    assert findings.last_update_signal is FreshnessSignal.FEED and findings.freshness is Freshness.FRESH
    api = findings.check("freshness.wordpress_api")
    assert api is not None and (api.outcome, api.reason) == (Outcome.WARN, "malformed")


def test_content_hash_tracks_changes_across_checks(fleet: WebsiteFleet, sites: Sites, tmp_path: Path) -> None:
    site = sites.pick(SignalProfile.NONE)
    state = tmp_path / "state.db"
    first = check(fleet, state, site)
    assert first.freshness is Freshness.UNKNOWN and first.last_update is None
    assert first.check("freshness.content_hash").reason == "first_seen"  # type: ignore[union-attr]
    # Counter, clock, CSRF token and nonce differ on every request: not a change.
    second = check(fleet, state, site)
    assert second.freshness is Freshness.UNKNOWN
    assert second.check("freshness.content_hash").reason == "unchanged_short"  # type: ignore[union-attr]
    fleet.publish(site.id, "Pengumuman baru")
    third = check(fleet, state, site)
    assert (third.freshness, third.last_update_signal) == (Freshness.FRESH, FreshnessSignal.CONTENT_HASH)
    assert third.last_update == third.checked_at


def test_content_unchanged_longer_than_the_threshold_is_stale(
    fleet: WebsiteFleet, sites: Sites, tmp_path: Path
) -> None:
    site = sites.pick(SignalProfile.NONE, "https")
    state = tmp_path / "state.db"
    now = dt.datetime.now(dt.UTC)

    async def at(moment: dt.datetime) -> WebsiteFindings:
        async with WebsiteChecker(state, ca_file=fleet.ca_file, clock=lambda: moment) as checker:
            return await checker.check(target_for(site, tls_warn_days=(7,)))

    run(at(now - dt.timedelta(days=40)))
    later = run(at(now))
    assert (later.freshness, later.reason) == (Freshness.STALE, "stale")
    assert later.last_update == now - dt.timedelta(days=40)
    assert "at least" in later.check("freshness").message  # type: ignore[union-attr]


def test_dates_without_zone_are_read_as_wib_and_said_so(fleet: WebsiteFleet, sites: Sites, tmp_path: Path) -> None:
    for profile in (SignalProfile.RSS, SignalProfile.ATOM, SignalProfile.SITEMAP, SignalProfile.WORDPRESS):
        site = sites.fault(sites.pick(profile), "naive_dates")
        findings = check(fleet, tmp_path / "s.db", site)
        newest = fleet.site(site.id).content.newest()
        assert newest is not None and findings.last_update is not None
        # Naive WIB read as WIB: the same instant the site meant (modified is 2 h after published).
        assert abs(findings.last_update - newest.published) <= dt.timedelta(hours=2), profile
        assert findings.message.count("WIB (Asia/Jakarta)") == 1, (profile, findings.message)
        signal = findings.check(f"freshness.{SIGNAL_OF_PROFILE[profile].value}")
        assert signal is not None and signal.details["assumed_zone"] == "WIB (Asia/Jakarta)"


def test_future_dates_are_ignored_with_a_note(fleet: WebsiteFleet, sites: Sites, tmp_path: Path) -> None:
    for profile in (SignalProfile.WORDPRESS, SignalProfile.RSS, SignalProfile.SITEMAP):
        site = sites.fault(sites.pick(profile), "future_dates", days=200)
        findings = check(fleet, tmp_path / "s.db", site)
        assert findings.freshness is Freshness.FRESH and age_days(findings) >= 0, profile
        assert "in the future" in findings.check("freshness").message, profile  # type: ignore[union-attr]
    static = sites.fault(sites.pick(SignalProfile.LAST_MODIFIED), "future_dates", days=200)
    findings = check(fleet, tmp_path / "s.db", static)
    assert findings.last_update_signal is not FreshnessSignal.LAST_MODIFIED
    assert findings.check("freshness.last_modified").reason == "future_dates"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fault", "params", "availability", "reason"),
    [
        ("down", {"mode": "5xx"}, WebsiteAvailability.DOWN, "http_5xx"),
        ("down", {"mode": "4xx"}, WebsiteAvailability.DOWN, "http_4xx"),
        ("down", {"mode": "refused"}, WebsiteAvailability.DOWN, "connect_refused"),
        ("down", {"mode": "timeout"}, WebsiteAvailability.DOWN, "timeout"),
        ("redirect_loop", {}, WebsiteAvailability.DOWN, "redirect_loop"),
        ("huge", {"mb": 3}, WebsiteAvailability.DEGRADED, "too_large"),
        ("slow", {"seconds": 0.7}, WebsiteAvailability.DEGRADED, "slow"),
        ("not_html", {}, WebsiteAvailability.DEGRADED, "not_html"),
        ("cert_expired", {"days": 3}, WebsiteAvailability.DEGRADED, "tls_expired"),
        ("cert_untrusted", {}, WebsiteAvailability.DEGRADED, "tls_invalid"),
        ("cert_expiring", {"days": 5}, WebsiteAvailability.DEGRADED, "tls_expiring"),
        ("cert_expiring", {"days": 12}, WebsiteAvailability.UP, "tls_expiring"),
        ("cert_expiring", {"days": 20}, WebsiteAvailability.UP, "tls_expiring"),
        ("maintenance", {"seconds": 600}, WebsiteAvailability.MAINTENANCE, "maintenance"),
        ("gzip_bomb", {"mb": 512}, WebsiteAvailability.DEGRADED, "too_large"),
    ],
)
def test_faults_become_findings(
    fleet: WebsiteFleet, sites: Sites, tmp_path: Path, fault: str, params: dict[str, object],
    availability: WebsiteAvailability, reason: str,
) -> None:
    site = sites.fault(sites.pick(SignalProfile.RSS, "https"), fault, **params)
    findings = check(fleet, tmp_path / "s.db", site, timeout_s=1.5, slow_after_ms=400, max_bytes=1_000_000)
    assert (findings.availability, findings.reason) == (availability, reason), findings.message
    message = findings.to_message(agent="palembang-01", seq=1, msg_id="0" * 32)
    assert message.availability is availability
    if fault == "cert_expiring":
        assert findings.tls_days_left == params["days"] and findings.tls_valid is True
        tls = findings.check("tls")
        days = float(params["days"])  # type: ignore[arg-type]
        assert tls is not None and tls.details["warn_level_days"] == min(d for d in (21, 14, 7) if d >= days)
    if fault == "cert_expired":
        assert findings.tls_valid is False and findings.tls_days_left is not None and findings.tls_days_left < 0
        assert findings.freshness is Freshness.FRESH  # content is still judged through a bad certificate


@pytest.mark.parametrize(
    ("fault", "params", "signal_reason"),
    [
        ("malformed_feed", {}, "malformed"),
        ("huge_feed", {"mb": 2}, "too_large"),
    ],
)
def test_bad_feeds_are_reasons_not_crashes(
    fleet: WebsiteFleet, sites: Sites, tmp_path: Path, fault: str, params: dict[str, object], signal_reason: str
) -> None:
    site = sites.fault(sites.pick(SignalProfile.RSS), fault, **params)
    findings = check(fleet, tmp_path / "s.db", site, max_bytes=1_000_000)
    feed = findings.check("freshness.feed")
    assert feed is not None and (feed.outcome, feed.reason) == (Outcome.WARN, signal_reason)
    assert findings.availability is WebsiteAvailability.UP and findings.freshness is Freshness.UNKNOWN


@pytest.mark.parametrize(
    ("fault", "params", "signal_reason"),
    [
        ("malformed_sitemap", {"kind": "broken"}, "malformed"),
        ("malformed_sitemap", {"kind": "bomb"}, "unsafe_xml"),
        ("huge_sitemap", {"mb": 2}, "too_large"),
    ],
)
def test_bad_sitemaps_are_reasons_not_crashes(
    fleet: WebsiteFleet, sites: Sites, tmp_path: Path, fault: str, params: dict[str, object], signal_reason: str
) -> None:
    site = sites.fault(sites.pick(SignalProfile.SITEMAP, "https"), fault, **params)
    findings = check(fleet, tmp_path / "s.db", site, max_bytes=1_000_000)
    sitemap = findings.check("freshness.sitemap")
    assert sitemap is not None and (sitemap.outcome, sitemap.reason) == (Outcome.WARN, signal_reason)
    assert findings.freshness is Freshness.UNKNOWN


def test_unresolvable_and_closed_hosts(tmp_path: Path) -> None:
    async def go() -> list[WebsiteFindings]:
        async with WebsiteChecker(tmp_path / "s.db") as checker:
            return await checker.check_all([
                WebsiteTarget(id="nowhere", url="https://opd-nowhere.invalid/", timeout_s=3),
                WebsiteTarget(id="closed", url="http://127.0.0.1:1/", timeout_s=3),
            ])

    nowhere, closed = run(go())
    assert nowhere.availability is WebsiteAvailability.DOWN and nowhere.reason in {"dns_failed", "dns_timeout"}
    assert (closed.availability, closed.reason) == (WebsiteAvailability.DOWN, "connect_refused")
    assert closed.check("http").outcome is Outcome.SKIPPED  # type: ignore[union-attr]


def test_check_all_keeps_order_and_survives_a_checker_bug(
    fleet: WebsiteFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets = [target_for(site) for site in fleet.sites[:8]]

    async def go() -> list[WebsiteFindings]:
        async with WebsiteChecker(tmp_path / "s.db", ca_file=fleet.ca_file) as checker:
            original = checker._ca_for

            def explode(target: WebsiteTarget) -> object:
                if target.id == targets[3].id:
                    raise RuntimeError("bug")
                return original(target)

            monkeypatch.setattr(checker, "_ca_for", explode)
            return await checker.check_all(targets, concurrency=3)

    results = run(go())
    assert [item.website_id for item in results] == [target.id for target in targets]
    assert results[3].reason == "checker_error"
    # Sites without a signal cannot be judged on a first sight: their own reason, not "ok".
    assert all(item.reason == ("freshness_unknown" if item.freshness is Freshness.UNKNOWN else "ok")
               for index, item in enumerate(results) if index != 3)
