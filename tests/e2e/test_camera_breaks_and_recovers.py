"""End to end: a simulated camera goes black and the open regency page, the API, the alerts and the
public MQTT topic all show it without a reload; the camera is fixed and every one of them recovers.

The fault travels the real way: simulator snapshot -> scc-agent's image check -> MQTT over mutual TLS
-> scc-central ingest -> database -> the page's Server-Sent Events, the REST API, `alerts run` (webhook
and scc/v1/public/alerts) and the ingest's retained scc/v1/public/... topic.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import AGENT, REGENCY, E2EStack, wait_for
from tests.fixtures.browser import chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(150)]

CAMERA = "cam0002"
# Checks every 3 s, ingest, then a live poll every 0.3 s: a change shows within a few seconds; the
# bound leaves room for a loaded CI box.
LIVE_TIMEOUT_S = 30


@pytest.fixture
def page(e2e_stack: E2EStack) -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1366, "height": 850})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(e2e_stack.url + "/login")
        page.fill("input[name=username]", "demo")
        page.fill("input[name=password]", e2e_stack.password)
        page.click("button[type=submit]")
        page.wait_for_url(e2e_stack.url + "/")
        yield page
    assert not errors, errors


def _alert(stack: E2EStack, state: str, seen: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The camera-degraded AlertEvent in ``state`` for our camera, from scc/v1/public/alerts."""
    try:
        while True:
            seen.append(stack.reader.alerts.get_nowait())
    except queue.Empty:
        pass
    subject = f"{AGENT}/{CAMERA}"
    return next(
        (
            e
            for e in seen
            if e.get("rule") == "camera_degraded"
            and subject in e.get("subject", "")
            and e.get("state") == state
        ),
        None,
    )


def _webhook(stack: E2EStack, state: str) -> dict[str, Any] | None:
    subject = f"{AGENT}/{CAMERA}"
    for entry in stack.webhook_events():
        event = entry["event"]
        if (
            event.get("rule") == "camera_degraded"
            and subject in event.get("subject", "")
            and event["state"] == state
        ):
            return entry
    return None


def test_a_black_camera_shows_everywhere_live_and_recovers(e2e_stack: E2EStack, page: Any) -> None:
    stack = e2e_stack
    pk = stack.pks[CAMERA]
    public_topic = f"scc/v1/public/regencies/{REGENCY}/cameras/{AGENT}/{CAMERA}"
    tile = f".camera-grid a[data-camera='{pk}']"
    alerts_seen: list[dict[str, Any]] = []

    page.goto(f"{stack.url}/regencies/{REGENCY}")
    page.wait_for_selector(f"{tile}.cam-ok")
    page.wait_for_selector("#live-status.is-live", timeout=LIVE_TIMEOUT_S * 1000)
    navigations = page.evaluate("performance.getEntriesByType('navigation').length")
    wait_for("the camera ok on the public topic",
             lambda: (stack.reader.latest(public_topic) or {}).get("status") == "ok", LIVE_TIMEOUT_S)  # fmt: skip

    # Break it: the simulator's control API, like `scc-sim set cam0002 black`.
    broken_at = time.monotonic()
    stack.fleet.set_fault(CAMERA, "black")

    # 1. The open page turns the tile degraded with the reason's badge, over SSE, without a reload.
    page.wait_for_selector(f"{tile}.cam-degraded", timeout=LIVE_TIMEOUT_S * 1000)
    shown_after = time.monotonic() - broken_at
    badge = (
        page.inner_text(f"{tile} .badge") if page.locator(f"{tile} .badge").count() else page.inner_text(tile)
    )
    assert "hitam" in badge.lower() or "black" in badge.lower(), badge
    assert page.evaluate("performance.getEntriesByType('navigation').length") == navigations, (
        "the page reloaded"
    )
    assert shown_after < LIVE_TIMEOUT_S
    print(f"e2e: the open page showed the black camera {shown_after:.1f} s after the fault")

    # 2. The REST API.
    camera = wait_for("degraded/black in the API",
                      lambda: c if (c := stack.cameras()[CAMERA])["status"] == "degraded" else None, 10)  # fmt: skip
    assert camera["reason"] == "black", camera

    # 3. The retained public topic a third party reads.
    public = wait_for("degraded on the public topic",
                      lambda: p if (p := stack.reader.latest(public_topic)) and p["status"] == "degraded" else None,
                      LIVE_TIMEOUT_S)  # fmt: skip
    assert public["reason"] == "black" and public["camera_id"] == CAMERA

    # 4. An alert: on the public alert topic, at the webhook (signed), and on the /alerts page.
    firing = wait_for("a firing camera_degraded alert on scc/v1/public/alerts",
                      lambda: _alert(stack, "firing", alerts_seen), LIVE_TIMEOUT_S)  # fmt: skip
    assert firing["regency"] == REGENCY and firing["severity"] == "warning"
    delivery = wait_for("the firing alert at the webhook", lambda: _webhook(stack, "firing"), LIVE_TIMEOUT_S)
    assert delivery["signature_ok"] is True
    regency_page = page.url
    page.goto(f"{stack.url}/alerts")
    assert f"{AGENT}/{CAMERA}" in page.inner_text("main") or firing["subject"] in page.inner_text("main")
    page.goto(regency_page)
    page.wait_for_selector(f"{tile}.cam-degraded")
    page.wait_for_selector("#live-status.is-live", timeout=LIVE_TIMEOUT_S * 1000)
    navigations = page.evaluate("performance.getEntriesByType('navigation').length")

    # Fix it: everything comes back, again live.
    fixed_at = time.monotonic()
    stack.fleet.clear(CAMERA)
    page.wait_for_selector(f"{tile}.cam-ok", timeout=LIVE_TIMEOUT_S * 1000)
    print(f"e2e: the open page showed the recovery {time.monotonic() - fixed_at:.1f} s after the fix")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == navigations, (
        "the page reloaded"
    )
    wait_for("ok in the API", lambda: stack.cameras()[CAMERA]["status"] == "ok", 10)
    wait_for("ok on the public topic",
             lambda: (stack.reader.latest(public_topic) or {}).get("status") == "ok", LIVE_TIMEOUT_S)  # fmt: skip
    resolved = wait_for("the alert resolved on scc/v1/public/alerts",
                        lambda: _alert(stack, "resolved", alerts_seen), LIVE_TIMEOUT_S)  # fmt: skip
    assert resolved["alert_id"] == firing["alert_id"] and resolved["resolved_at"]
    wait_for("the resolution at the webhook", lambda: _webhook(stack, "resolved"), LIVE_TIMEOUT_S)
