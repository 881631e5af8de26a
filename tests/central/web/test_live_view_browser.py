"""Live view in a real headless Chromium on a 360 px phone: the picture moves (the simulator burns a
clock into its frames), and closing the tab stops the agent's stream and closes the audit row."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from sqlalchemy import select, update

from central.storage.db import Database
from central.storage.models import Camera
from central.web import create_app
from central.web.live_audit import LiveSession
from simulator.testing import FleetClient
from tests.central.web.conftest import log_in
from tests.central.web.live_server import serve
from tests.central.web.seed import Seeded
from tests.central.web.test_browser import PHONE, Tab, browser  # noqa: F401  (the module's Chromium fixture)
from tests.central.web.test_live import break_camera
from tests.central.web.test_live_view import _watched_camera
from tests.fixtures.broker import Pki, TlsBroker
from tests.fixtures.live_view import live_stack, running_agent, running_relay

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_phone_sees_the_live_picture_change_and_leaving_stops_it(
    browser: object,  # noqa: F811
    pki: Pki, tls_broker: TlsBroker, live_fleet: FleetClient, web_database: Database, seeded: Seeded,
    tmp_path: Path,
) -> None:
    stack = live_stack(pki, tls_broker, live_fleet.cameras[0], tmp_path, database=web_database)
    pk = _watched_camera(web_database, stack.name)
    app = create_app(stack.central, {"DATABASE": web_database, "SECRET_KEY": "b"})
    with running_relay(stack.central), running_agent(stack.agent) as agent, serve(app) as url:
        tab = Tab(browser, url, PHONE)
        tab.log_in(seeded.operator)
        tab.go(f"/cameras/{pk}")
        tab.page.click("#live-start")
        picture = tab.page.locator("#live-view")
        picture.wait_for()
        deadline = time.monotonic() + 15  # polled from here: the CSP forbids wait_for_function's eval
        while picture.evaluate("image => image.naturalWidth") == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert picture.evaluate("image => image.naturalWidth") > 0
        box = picture.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        first = picture.screenshot()
        time.sleep(1.5)
        second = picture.screenshot()
        assert first != second  # the burned-in clock moved: this is a moving picture, not a still
        assert agent.live.running == ["gate"]
        # The camera's status changes: the page refreshes its status region around the picture, which
        # stays the same element (a new <img> would be a new stream and a second audit row).
        picture.evaluate("image => { image.dataset.before = 'yes'; }")
        refreshed = tab.page.evaluate("() => document.body.getAttribute('data-refreshed')")
        break_camera(web_database, stack.name, "gate")
        deadline = time.monotonic() + 15
        while tab.page.evaluate("() => document.body.getAttribute('data-refreshed')") == refreshed \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert tab.page.locator("#camera-status.cam-offline").count() == 1  # the region was swapped
        assert picture.evaluate("image => image.dataset.before") == "yes"
        tab.close()  # the tab goes away: its request ends, the relay sends live_stop
        deadline = time.monotonic() + 10
        while agent.live.running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert agent.live.running == []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with web_database.session() as session:
            rows = session.scalars(select(LiveSession)).all()
        if rows and rows[0].ended_at is not None:
            break
        time.sleep(0.2)
    assert [(r.user_name, r.camera_pk) for r in rows] == [(seeded.operator, pk)] and rows[0].ended_at is not None


def test_a_wall_shows_a_group_live_within_its_tile_budget(
    browser: object,  # noqa: F811
    pki: Pki, tls_broker: TlsBroker, live_fleet: FleetClient, web_database: Database, seeded: Seeded,
    tmp_path: Path,
) -> None:
    """/wall?live=<venue>: the venue's cameras, the first [live_view] wall_tiles of them moving."""
    stack = live_stack(pki, tls_broker, live_fleet.cameras[0], tmp_path, database=web_database,
                       live_view={"wall_tiles": 1}, web={"wall_refresh_s": 2})  # the shortest allowed
    pk = _watched_camera(web_database, stack.name)
    with web_database.engine.begin() as conn:  # the real camera (down: first on the wall) and a seeded one
        other = conn.execute(select(Camera.id).where(Camera.agent_name == "agent-1671", Camera.status == "ok")
                             .order_by(Camera.id)).scalar()
        conn.execute(update(Camera).where(Camera.id == pk).values(venue="Jakabaring", status="offline",
                                                                  status_since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
        conn.execute(update(Camera).where(Camera.id == other).values(venue="Jakabaring"))
    app = create_app(stack.central, {"DATABASE": web_database, "SECRET_KEY": "b"})
    with running_relay(stack.central), running_agent(stack.agent) as agent, serve(app) as url:
        viewer = app.test_client()
        log_in(viewer, seeded.viewer)
        assert viewer.get("/wall?live=Jakabaring&per=8").status_code == 403
        tab = Tab(browser, url, {"width": 1366, "height": 768})
        tab.log_in(seeded.operator)
        tab.go("/wall?live=Jakabaring&per=8")
        assert tab.page.locator(".wall-tile").count() == 2
        live = tab.page.locator("img.wall-live")
        assert live.count() == 1  # the budget: one live tile, the other camera shows its snapshot
        assert tab.page.locator(f'.wall-tile[data-camera="{pk}"] img.wall-live').count() == 1
        deadline = time.monotonic() + 15
        while live.evaluate("image => image.naturalWidth") == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        first = live.screenshot()
        time.sleep(1.5)
        assert live.screenshot() != first  # moving
        assert agent.live.running == ["gate"]
        # The wall re-reads its page every wall_refresh_s: after a refresh the live tile is the same
        # element (its stream goes on), not a new <img> with a second stream and audit row.
        live.evaluate("image => { image.dataset.before = 'yes'; }")
        refreshed = tab.page.evaluate("() => document.body.getAttribute('data-refreshed')")
        deadline = time.monotonic() + 15
        while tab.page.evaluate("() => document.body.getAttribute('data-refreshed')") == refreshed \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert tab.page.evaluate("() => document.body.getAttribute('data-refreshed')") != refreshed, "no refresh"
        assert live.evaluate("image => image.dataset.before") == "yes"
        assert live.evaluate("image => image.naturalWidth") > 0
        with web_database.session() as session:
            assert len(session.scalars(select(LiveSession)).all()) == 1
        tab.close()
        deadline = time.monotonic() + 10
        while agent.live.running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert agent.live.running == []
