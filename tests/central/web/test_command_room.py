"""The command room in a real headless Chromium: the whole wall, the province strip, the alarm, phones, axe-core.

Palembang has 36 cameras here, as in the demo, so the wall has to page through them at 1920x1080.
axe-core (npm, installed by `make deps` into .cache/npm) is injected into each page and must report
no serious or critical violation, on a wall screen, a desktop and a phone.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from central.alerts.feed import alert_changed
from central.alerts.tables import AlertRecord
from central.storage.db import Database
from central.storage.models import Camera
from central.web import create_app
from tests.central.web.conftest import make_config
from tests.central.web.live_server import serve
from tests.central.web.seed import seed
from tests.central.web.test_browser import PHONE, Tab
from tests.central.web.test_live import break_camera
from tests.fixtures.browser import chromium as launched_chromium

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

AXE = Path(__file__).resolve().parents[3] / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
WALL = {"width": 1920, "height": 1080}
PALEMBANG_CAMERAS = 36
Room = tuple[str, Database, Flask]


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def room(sqlite_url: str, tmp_path: Path) -> Iterator[Room]:
    database = Database(sqlite_url)
    seed(database, regencies=("16.71", "16.06", "16.07"), cameras_per_regency=PALEMBANG_CAMERAS, history_days=2)
    app: Flask = create_app(
        make_config(tmp_path, sqlite_url, wall_rotate_s=5), {"DATABASE": database, "SECRET_KEY": "room"}
    )
    try:
        with serve(app) as url:
            yield url, database, app
    finally:
        database.dispose()


def _critical_alert(database: Database, alert_id: str = "al-room-1") -> None:
    now = dt.datetime.now(dt.UTC)
    with database.session(write=True) as session:
        session.add(
            AlertRecord(
                alert_id=alert_id, key=f"camera_offline:{alert_id}", rule="camera_offline", subject_kind="camera",
                subject_id="agent-1671/cam-0003", subject_label="Jembatan Ampera 3", regency_code="16.71",
                severity="critical", started_at=now - dt.timedelta(minutes=3), fired_at=now,
            )
        )


def test_the_wall_shows_all_36_of_palembang_problems_first(chromium: object, room: Room) -> None:
    url, _, _ = room
    tab = Tab(chromium, url, WALL)
    try:
        tab.log_in("viewer")
        tab.go("/wall?regency=16.71")
        page = tab.page
        page.wait_for_url(re.compile(r"per=24"))  # six by four fit a 1080p screen
        seen: list[str] = []
        for _ in range(4):
            page.wait_for_selector(".wall-tile")
            ids = page.eval_on_selector_all(".wall-tile", "els => els.map(e => e.dataset.camera)")
            if ids[0] in seen:
                break
            seen.extend(ids)
            # Every name fits its two lines: nothing is cut to "CCTV Jembatan A...".
            clipped = page.eval_on_selector_all(
                ".wall-name", "els => els.filter(e => e.scrollHeight > e.clientHeight + 1).map(e => e.textContent)"
            )
            assert not clipped, clipped
            tab.go(page.eval_on_selector(".wall-root", "r => r.dataset.nextUrl"))
        assert len(seen) == len(set(seen)) == PALEMBANG_CAMERAS
        assert page.evaluate("document.documentElement.scrollHeight") <= WALL["height"]
    finally:
        tab.close()


def test_the_province_strip_reads_from_across_the_room(chromium: object, room: Room) -> None:
    url, _, _ = room
    tab = Tab(chromium, url, WALL)
    try:
        tab.log_in("viewer")
        tab.go("/wall?per=24")
        cells = tab.page.locator(".strip-cell")
        assert cells.count() == 17
        sizes = tab.page.eval_on_selector_all(
            ".strip-cell",
            """els => els.map(e => ({
                name: parseFloat(getComputedStyle(e.querySelector('.strip-name')).fontSize),
                words: parseFloat(getComputedStyle(e.querySelector('.strip-counts')).fontSize),
                bottom: e.getBoundingClientRect().bottom, text: e.innerText}))""",
        )
        for cell in sizes:
            assert cell["name"] >= 28 and cell["words"] >= 21, cell
            assert cell["bottom"] <= WALL["height"], "the strip is on screen, not scrolled away"
        assert re.search(r"\d+ mati · \d+ terganggu", sizes[0]["text"]), sizes[0]
    finally:
        tab.close()


def test_the_alarm_arms_sounds_and_clears_when_acknowledged_elsewhere(
    chromium: object, room: Room
) -> None:
    url, database, _ = room
    wall = Tab(chromium, url, WALL)
    desk = Tab(chromium, url)
    try:
        wall.log_in("viewer")
        wall.go("/wall?regency=16.71&per=24")
        page = wall.page
        page.click("#alarm-arm")
        assert page.evaluate("document.getElementById('alarm-sound').paused")
        _critical_alert(database)
        page.wait_for_selector("body.alarm-on", timeout=15_000)
        page.wait_for_function("!document.getElementById('alarm-sound').paused", timeout=5_000)
        desk.log_in("operator")
        desk.go("/alerts/")
        desk.page.click("tr[data-alert='al-room-1'] button.ack")
        page.wait_for_selector("body:not(.alarm-on)", timeout=15_000)
        assert page.evaluate("document.getElementById('alarm-sound').paused")
        assert "ditanggapi oleh operator" in page.inner_text("#wall-alarm")
    finally:
        wall.close()
        desk.close()


@pytest.fixture
def quiet_room(sqlite_url: str, tmp_path: Path) -> Iterator[Room]:
    """Walls that neither rotate nor re-read their page for minutes, and whose live stream stays open:
    whatever changes on them within seconds came through the change feed."""
    database = Database(sqlite_url)
    seed(database, regencies=("16.71",), cameras_per_regency=12, history_days=1)
    config = make_config(tmp_path, sqlite_url, wall_rotate_s=600, wall_refresh_s=600, sse_max_s=120.0)
    app: Flask = create_app(config, {"DATABASE": database, "SECRET_KEY": "quiet"})
    try:
        with serve(app) as url:
            yield url, database, app
    finally:
        database.dispose()


def _fire_critical_alert(database: Database, alert_id: str) -> None:
    """What the alert service writes when a critical alert fires: the row and its change-feed event."""
    now = dt.datetime.now(dt.UTC)
    with database.session(write=True) as session:
        alert = AlertRecord(
            alert_id=alert_id, key=f"camera_offline:{alert_id}", rule="camera_offline", subject_kind="camera",
            subject_id="agent-1671/cam-0003", subject_label="Jembatan Ampera 3", regency_code="16.71",
            agent_name="agent-1671", severity="critical", started_at=now - dt.timedelta(minutes=3), fired_at=now,
        )  # fmt: skip
        session.add(alert)
        alert_changed(session, alert, "firing", now)


def _wait_for_streams(app: Flask, count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        hub = app.extensions.get("scc_live_hub")
        if hub is not None and hub.open_streams >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} live streams never opened")


def test_an_acknowledgement_reaches_every_wall_through_the_live_stream(chromium: object, quiet_room: Room) -> None:
    """Two wall screens (two browsers), both armed; a critical alert fires and both sound; one acknowledges
    and the other stops sounding and names who took it, in seconds, with their page refresh 10 minutes off."""
    url, database, app = quiet_room
    screens = [Tab(chromium, url, WALL), Tab(chromium, url, WALL)]
    try:
        screens[0].log_in("operator")
        screens[1].log_in("viewer")
        for screen in screens:
            screen.go("/wall?regency=16.71&per=24&lang=id")
            screen.page.click("#alarm-arm")
        _wait_for_streams(app, 2)  # both screens follow the change feed (the wall shows no live dot)
        _fire_critical_alert(database, "al-feed-1")
        for screen in screens:
            screen.page.wait_for_selector("body.alarm-on", timeout=5_000)
            screen.page.wait_for_function("!document.getElementById('alarm-sound').paused", timeout=5_000)
        other = screens[1].page
        assert "ditanggapi oleh" not in other.inner_text("#wall-alarm")

        screens[0].page.click("#wall-alarm form[data-wall-ack] button")
        started = time.monotonic()
        other.wait_for_selector("body:not(.alarm-on)", timeout=5_000)
        other.wait_for_function("document.getElementById('alarm-sound').paused", timeout=1_000)
        other.wait_for_function(
            "document.getElementById('wall-alarm').innerText.includes('ditanggapi oleh operator')", timeout=1_000
        )
        # Well inside the wall's 600 s refresh and rotation: only the live stream can have told it.
        assert time.monotonic() - started < 5.0
        screens[0].page.wait_for_selector("body:not(.alarm-on)", timeout=5_000)
    finally:
        for screen in screens:
            screen.close()


def test_phone_first(chromium: object, room: Room) -> None:
    url, database, _ = room
    _critical_alert(database)
    tab = Tab(chromium, url, PHONE)
    try:
        tab.log_in("operator")
        page = tab.page
        first = page.locator(".regency-tiles .tile").first
        assert "health-inactive" not in (first.get_attribute("class") or ""), "integrated regencies first"
        tab.go("/regencies/16.71")
        cameras_y = page.locator("#camera-grid").bounding_box()["y"]  # type: ignore[index]
        assert cameras_y < page.locator("#agents").bounding_box()["y"], "cameras before host metrics"  # type: ignore[index]
        tab.go("/alerts/")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        row = page.locator("tr[data-alert='al-room-1']")
        for part in (".alert-severity .badge", ".alert-duration", "button.ack"):
            box = row.locator(part).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], part
    finally:
        tab.close()


# Every count on the overview's cards and totals, the wall's counts and its province strip.
COUNTS = ".tile .n, .totals .total, .wall-counts .n, .strip-counts"


@pytest.mark.parametrize(
    ("viewport", "path"), [(WALL, "/"), (PHONE, "/"), (WALL, "/wall?per=24")], ids=["overview", "phone", "wall"]
)
def test_every_count_shown_says_what_it_counts(
    chromium: object, room: Room, viewport: dict[str, int], path: str
) -> None:
    """No bare "26 8 2" whose meaning is only its colour: each visible number comes with its word."""
    url, _, _ = room
    tab = Tab(chromium, url, viewport)
    try:
        tab.log_in("viewer")
        tab.go(path + ("&" if "?" in path else "?") + "lang=id")
        texts = tab.page.eval_on_selector_all(
            COUNTS, "els => els.filter(e => e.getClientRects().length).map(e => e.innerText.trim())"
        )
        counted = [text for text in texts if re.search(r"\d", text)]
        assert counted, f"no counts found on {path}"
        bare = [text for text in counted if not re.search(r"[^\W\d_]{2,}", text)]
        assert not bare, f"counts without a word on {path}: {bare[:10]}"
        if path == "/":
            tile = tab.page.locator(".tile.health-critical, .tile.health-warn, .tile.health-ok").first.inner_text()
            assert re.search(r"\d+ OK\s+\d+ terganggu\s+\d+ mati", tile), tile
            assert re.search(r"\d+ mutakhir\s+\d+ usang\s+\d+ mati", tile), tile
    finally:
        tab.close()


PAGES = ("/", "/regencies/16.71", "/websites", "/rollout", "/alerts/", "/wall?per=24", "/reports/")


@pytest.mark.parametrize("viewport", [WALL, PHONE], ids=["wall", "phone"])
def test_axe_finds_no_serious_violation(chromium: object, room: Room, viewport: dict[str, int]) -> None:
    if not AXE.exists():
        pytest.skip("axe-core is not installed (make deps)")
    url, database, _ = room
    _critical_alert(database)
    tab = Tab(chromium, url, viewport)
    tab.context.close()
    tab.context = chromium.new_context(viewport=viewport, bypass_csp=True)  # type: ignore[attr-defined]
    tab.page = tab.context.new_page()
    try:
        tab.log_in("operator")
        with database.session() as session:
            camera = session.scalar(select(Camera.id).where(Camera.status == "offline").limit(1))
        found = {}
        for path in (*PAGES, f"/cameras/{camera}", "/no-such-page"):
            tab.go(path)
            tab.page.add_script_tag(path=str(AXE))
            violations = tab.page.evaluate(
                """() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                   .then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                   .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))"""
            )
            if violations:
                found[path] = violations
        assert not found, "\n".join(f"{path}: {v}" for path, vs in found.items() for v in vs)
    finally:
        tab.context.close()


def test_eight_tabs_share_one_live_connection_and_all_update(chromium: object, room: Room) -> None:
    url, database, app = room
    tab = Tab(chromium, url)
    try:
        tab.log_in("viewer")
        pages = [tab.page] + [tab.context.new_page() for _ in range(7)]
        for page in pages:
            page.goto(url + "/regencies/16.71")
            page.wait_for_selector("#live-status.is-live")
        hub = app.extensions["scc_live_hub"]
        # Sampled over a while, not once: the shared stream ends and reconnects on its own (SSE's max
        # duration), so a single look can fall in the gap. Never more than one for eight tabs.
        seen = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            seen.add(hub.open_streams)
            time.sleep(0.05)
        assert max(seen) == 1, f"one connection for the whole browser, saw {sorted(seen)}"
        camera = pages[0].eval_on_selector(".camera-grid a.cam-ok", "a => a.dataset.camera")
        with database.session() as session:
            agent_name, camera_id = session.execute(
                select(Camera.agent_name, Camera.camera_id).where(Camera.id == int(camera))
            ).one()
        break_camera(database, agent_name, camera_id)
        for page in pages:
            page.wait_for_selector(f".camera-grid a.cam-offline[data-camera='{camera}']", timeout=10_000)
        tab.context.close()  # the browser's last SCC tab goes: its stream is freed within seconds
        deadline = time.monotonic() + 5
        while hub.open_streams and time.monotonic() < deadline:
            time.sleep(0.2)
        assert hub.open_streams == 0
    finally:
        tab.errors.clear()
