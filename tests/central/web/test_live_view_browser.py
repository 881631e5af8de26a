"""Live view in a real headless Chromium on a 360 px phone: the picture moves (the simulator burns a
clock into its frames), and closing the tab stops the agent's stream and closes the audit row."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select, update

from central.config import CentralConfig
from central.live_view import relay as relay_module
from central.storage.db import Database
from central.storage.models import Camera
from central.web import create_app
from central.web.live_audit import LiveSession
from edge_agent.agent import Agent as EdgeAgent
from edge_agent.config import AgentConfig
from simulator.testing import FleetClient, run_fleet_process
from tests.central.web.conftest import log_in
from tests.central.web.live_server import serve
from tests.central.web.seed import Seeded
from tests.central.web.test_browser import PHONE, Tab, browser  # noqa: F401  (the module's Chromium fixture)
from tests.central.web.test_live_view import _watched_camera
from tests.edge_agent.conftest import agent_config
from tests.fixtures.broker import CENTRAL, Pki, TlsBroker

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetClient]:
    with run_fleet_process(1, extra_args=["--discovery-port", "0"]) as client:
        yield client


@contextmanager
def running_agent(config: AgentConfig) -> Iterator[EdgeAgent]:
    """The agent on its own thread and event loop, as in production (its own process there)."""
    agent = EdgeAgent(config)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(agent.run(stop),), daemon=True)
    thread.start()
    try:
        yield agent
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


def test_phone_sees_the_live_picture_change_and_leaving_stops_it(
    browser: object,  # noqa: F811
    pki: Pki, tls_broker: TlsBroker, fleet: FleetClient, web_database: Database, seeded: Seeded,
    tmp_path: Path,
) -> None:
    name = pki.provision_agent()
    tls_broker.reload()
    pk = _watched_camera(web_database, name)
    camera = fleet.cameras[0]
    agent_conf = agent_config(
        name, tmp_path / "agent", broker_port=tls_broker.port, ca=pki.ca_cert, cert=pki.cert(name),
        key=pki.key(name), schedule={"interval_s": 600, "metrics_every_s": 600, "discovery_every_s": 3600},
        discovery={"enabled": False}, live={"max_fps": 4.0},
        cameras=[{"id": "gate", "host": camera.host, "port": camera.onvif_port, "username": camera.username,
                  "password": camera.password, "rtsp_url": camera.rtsp_url, "onvif": False}],
    )
    config = CentralConfig.model_validate({
        "state_dir": str(tmp_path / "central"),
        "database": {"url": str(web_database.engine.url)},
        "broker": {"host": tls_broker.host, "port": tls_broker.port, "ca": str(pki.ca_cert),
                   "cert": str(pki.cert(CENTRAL)), "key": str(pki.key(CENTRAL))},
        "web": {"session_cookie_secure": False, "rollup_cache_s": 0},
        "live_view": {"lease_s": 3, "start_timeout_s": 15},
    })
    app = create_app(config, {"DATABASE": web_database, "SECRET_KEY": "b"})
    stop_relay, ready = threading.Event(), threading.Event()
    relay_thread = threading.Thread(target=relay_module.serve, args=(config, stop_relay, ready), daemon=True)
    relay_thread.start()
    assert ready.wait(10)
    try:
        with running_agent(agent_conf) as agent, serve(app) as url:
            deadline = time.monotonic() + 20
            while not agent.publisher.connected.is_set() and time.monotonic() < deadline:
                time.sleep(0.1)
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
            tab.close()  # the tab goes away: its request ends, the relay sends live_stop
            deadline = time.monotonic() + 10
            while agent.live.running and time.monotonic() < deadline:
                time.sleep(0.1)
            assert agent.live.running == []
    finally:
        stop_relay.set()
        relay_thread.join(10)
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
    pki: Pki, tls_broker: TlsBroker, fleet: FleetClient, web_database: Database, seeded: Seeded,
    tmp_path: Path,
) -> None:
    """/wall?live=<venue>: the venue's cameras, the first [live_view] wall_tiles of them moving."""
    name = pki.provision_agent()
    tls_broker.reload()
    pk = _watched_camera(web_database, name)
    with web_database.engine.begin() as conn:  # the real camera (down: first on the wall) and a seeded one
        other = conn.execute(select(Camera.id).where(Camera.agent_name == "agent-1671", Camera.status == "ok")
                             .order_by(Camera.id)).scalar()
        conn.execute(update(Camera).where(Camera.id == pk).values(venue="Jakabaring", status="offline",
                                                                  status_since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
        conn.execute(update(Camera).where(Camera.id == other).values(venue="Jakabaring"))
    camera = fleet.cameras[0]
    agent_conf = agent_config(
        name, tmp_path / "agent", broker_port=tls_broker.port, ca=pki.ca_cert, cert=pki.cert(name),
        key=pki.key(name), schedule={"interval_s": 600, "metrics_every_s": 600, "discovery_every_s": 3600},
        discovery={"enabled": False}, live={"max_fps": 4.0},
        cameras=[{"id": "gate", "host": camera.host, "port": camera.onvif_port, "username": camera.username,
                  "password": camera.password, "rtsp_url": camera.rtsp_url, "onvif": False}],
    )
    config = CentralConfig.model_validate({
        "state_dir": str(tmp_path / "central"),
        "database": {"url": str(web_database.engine.url)},
        "broker": {"host": tls_broker.host, "port": tls_broker.port, "ca": str(pki.ca_cert),
                   "cert": str(pki.cert(CENTRAL)), "key": str(pki.key(CENTRAL))},
        "web": {"session_cookie_secure": False, "rollup_cache_s": 0},
        "live_view": {"lease_s": 3, "start_timeout_s": 15, "wall_tiles": 1},
    })
    app = create_app(config, {"DATABASE": web_database, "SECRET_KEY": "b"})
    stop_relay, ready = threading.Event(), threading.Event()
    relay_thread = threading.Thread(target=relay_module.serve, args=(config, stop_relay, ready), daemon=True)
    relay_thread.start()
    assert ready.wait(10)
    try:
        with running_agent(agent_conf) as agent, serve(app) as url:
            deadline = time.monotonic() + 20
            while not agent.publisher.connected.is_set() and time.monotonic() < deadline:
                time.sleep(0.1)
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
            time.sleep(11)  # past the wall's 10 s refresh: the live tile is not swapped (its stream goes on)
            assert live.evaluate("image => image.naturalWidth") > 0
            with web_database.session() as session:
                assert len(session.scalars(select(LiveSession)).all()) == 1
            tab.close()
            deadline = time.monotonic() + 10
            while agent.live.running and time.monotonic() < deadline:
                time.sleep(0.1)
            assert agent.live.running == []
    finally:
        stop_relay.set()
        relay_thread.join(10)
