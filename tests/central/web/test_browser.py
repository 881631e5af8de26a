"""In a real headless Chromium: log in, the overview, drill-down, a live update, phones, hostile names.

The live update is injected by writing an 'offline' camera report through the ingest's own batch
writer (``central.ingest.store.BatchWriter``), i.e. exactly the rows the MQTT pipeline would write;
the browser then has to notice it over Server-Sent Events without a reload.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from central.storage.db import Database
from central.storage.models import Camera
from central.web import create_app
from tests.central.web.conftest import make_config
from tests.central.web.live_server import serve
from tests.central.web.seed import HOSTILE_NAME, PASSWORD, Seeded
from tests.central.web.test_live import break_camera
from tests.fixtures.browser import chromium

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def base_url(web_database: Database, seeded: Seeded, tmp_path: Path) -> Iterator[str]:
    app: Flask = create_app(
        make_config(tmp_path, str(web_database.url)), {"DATABASE": web_database, "SECRET_KEY": "b"}
    )
    with serve(app) as url:
        yield url


class Tab:
    """A page that records console errors, failed requests and dialogs (an executed alert() would be one)."""

    def __init__(self, browser: object, base_url: str, viewport: dict[str, int] | None = None) -> None:
        self.context = browser.new_context(viewport=viewport or {"width": 1366, "height": 850})  # type: ignore[attr-defined]
        self.page = self.context.new_page()
        self.base_url = base_url
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    def go(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def log_in(self, user: str = "admin") -> None:
        self.go("/login")
        self.page.fill("input[name=username]", user)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.base_url + "/")

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"console errors: {self.errors}"
        assert not self.dialogs, f"a script ran: {self.dialogs}"


@pytest.fixture
def tab(browser: object, base_url: str) -> Iterator[Tab]:
    tab = Tab(browser, base_url)
    yield tab
    tab.close()


def test_log_in_see_17_regencies_and_drill_down_to_a_camera(tab: Tab) -> None:
    tab.log_in("viewer")
    page = tab.page
    assert page.locator(".regency-tiles .tile").count() == 17
    assert page.locator(".cartogram .map-tile").count() == 17
    assert "4 dari 17 kabupaten/kota terintegrasi" in page.inner_text("#province-totals")
    page.click(".regency-tiles a[data-regency='16.71']")
    page.wait_for_url(re.compile(r"/regencies/16\.71$"))
    assert "Kota Palembang" in page.inner_text("h1")
    page.locator(".camera-grid a.cam").first.click()
    page.wait_for_url(re.compile(r"/cameras/\d+$"))
    assert page.locator(".timeline").count() == 2
    assert page.locator("#camera-history .meter").count() == 3


def test_a_live_update_appears_when_a_camera_breaks(tab: Tab, web_database: Database) -> None:
    with web_database.session() as session:
        camera = session.scalars(
            select(Camera).where(Camera.regency_code == "16.71", Camera.status == "ok").order_by(Camera.id)
        ).first()
        assert camera is not None
    tab.log_in("viewer")
    tab.go("/regencies/16.71")
    page = tab.page
    tile = page.locator(f".camera-grid a[data-camera='{camera.id}']")
    assert "cam-ok" in (tile.get_attribute("class") or "")
    page.wait_for_selector("#live-status.is-live")
    before = page.evaluate("window.performance.getEntriesByType('navigation').length")
    break_camera(web_database, camera.agent_name, camera.camera_id)
    page.wait_for_selector(f".camera-grid a.cam-offline[data-camera='{camera.id}']", timeout=10_000)
    assert page.evaluate("window.performance.getEntriesByType('navigation').length") == before  # no reload
    assert "mati" in page.inner_text("#regency-summary")


def test_phone_viewport_has_no_horizontal_scroll(browser: object, base_url: str, seeded: Seeded) -> None:
    tab = Tab(browser, base_url, PHONE)
    try:
        tab.log_in("admin")
        for path in (
            "/",
            "/regencies/16.71",
            f"/cameras/{seeded.first_camera_pk}",
            f"/cameras/{seeded.hostile_camera_pk}",
            "/websites",
            "/rollout",
            "/wall",
            "/?lang=en",
        ):
            tab.go(path)
            width = tab.page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width}px wide"
    finally:
        tab.close()


def test_hostile_names_render_as_text(tab: Tab, seeded: Seeded) -> None:
    tab.log_in("operator")
    tab.go(f"/cameras/{seeded.hostile_camera_pk}")
    page = tab.page
    assert page.inner_text("h1.camera-title") == HOSTILE_NAME
    assert page.locator("#main img[src='x']").count() == 0 and page.locator("#main svg[onload]").count() == 0
    tab.go("/regencies/16.71")
    assert HOSTILE_NAME in page.inner_text("#camera-grid")
    tab.go("/wall?regency=16.71")
    assert page.locator(".wall-tile").count() > 0


def test_wall_fills_the_screen_without_scrollbars(tab: Tab) -> None:
    tab.log_in("viewer")
    tab.page.set_viewport_size({"width": 1920, "height": 1080})
    tab.go("/wall")
    sizes = tab.page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight, innerWidth, innerHeight]"
    )
    assert sizes[0] <= sizes[2] and sizes[1] <= sizes[3]
    assert tab.page.locator(".wall-tile.cam-offline, .wall-tile.cam-degraded").count() > 0


def test_wall_clock_ticks_in_the_configured_zone(browser: object, web_database: Database, seeded: Seeded,
                                                tmp_path: Path) -> None:
    app: Flask = create_app(make_config(tmp_path, str(web_database.url), timezone="Asia/Makassar"),
                            {"DATABASE": web_database, "SECRET_KEY": "b"})
    with serve(app) as url:
        tab = Tab(browser, url)
        try:
            tab.log_in("viewer")
            tab.go("/wall")
            clock = tab.page.locator(".wall-clock")
            tab.page.wait_for_function("document.querySelector('.wall-clock').textContent.endsWith(' WITA')")
            shown = clock.inner_text()
            expected = dt.datetime.now(ZoneInfo("Asia/Makassar"))
            hours, minutes = (int(part) for part in shown.split()[0].split(":")[:2])
            shown_minutes, expected_minutes = hours * 60 + minutes, expected.hour * 60 + expected.minute
            assert min(abs(shown_minutes - expected_minutes), 1440 - abs(shown_minutes - expected_minutes)) <= 1, shown
        finally:
            tab.close()
