"""Live view in the web, end to end: simulator RTSP -> agent -> TLS broker -> relay -> /cameras/<pk>/live.mjpg.

Two viewers share one upstream, each live view leaves an audit row (who, camera, from, to, which
stream the agent read, why it ended) that admins read, and a viewer below ``[live_view] min_role`` is refused before anything
reaches the agent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import cv2
import numpy as np
import pytest
from flask.testing import FlaskClient
from sqlalchemy import insert, select, update

from central.storage.db import Database
from central.storage.models import Agent, Camera
from central.web import create_app
from central.web.live_audit import LiveSession
from edge_agent.agent import Agent as EdgeAgent
from simulator.testing import FleetClient
from tests.central.web.conftest import log_in
from tests.central.web.seed import Seeded
from tests.fixtures.broker import Pki, TlsBroker
from tests.fixtures.live_view import live_stack, running_relay

pytestmark = pytest.mark.xdist_group("broker")
JPEG_PART = b"Content-Type: image/jpeg"


def _watched_camera(database: Database, agent: str) -> int:
    """The seeded first camera, moved to ``agent`` (a real one) as camera ``gate``."""
    now = dt.datetime.now(dt.UTC)
    with database.engine.begin() as conn:
        first = conn.execute(select(Agent).where(Agent.name == "agent-1671")).mappings().one()
        conn.execute(insert(Agent), [{**first, "name": agent}])
        pk = conn.execute(select(Camera.id).where(Camera.agent_name == "agent-1671").order_by(Camera.id)).scalar()
        conn.execute(update(Camera).where(Camera.id == pk).values(agent_name=agent, camera_id="gate", updated_at=now))
    assert pk is not None
    return int(pk)


def _read_parts(response: object, count: int) -> int:
    """Read the MJPEG body until ``count`` JPEG parts came; returns how many did."""
    seen = 0
    buffer = b""
    for chunk in response.response:  # type: ignore[attr-defined]
        buffer += chunk
        seen = buffer.count(JPEG_PART)
        if seen >= count:
            break
    return seen


def test_live_view_through_the_web_shared_audited_and_refused_below_the_role(
    pki: Pki, tls_broker: TlsBroker, live_fleet: FleetClient, web_database: Database, seeded: Seeded, tmp_path: Path,
) -> None:
    stack = live_stack(pki, tls_broker, live_fleet.cameras[0], tmp_path, database=web_database,
                       live={"max_width": 320})
    name = stack.name
    pk = _watched_camera(web_database, name)
    app = create_app(stack.central, {"TESTING": True, "DATABASE": web_database, "SECRET_KEY": "test"})

    operator: FlaskClient = app.test_client()
    log_in(operator, seeded.operator)
    second: FlaskClient = app.test_client()
    log_in(second, seeded.admin)
    viewer: FlaskClient = app.test_client()
    log_in(viewer, seeded.viewer)

    page = operator.get(f"/cameras/{pk}")
    assert 'id="live-start"' in page.text
    live_page = operator.get(f"/cameras/{pk}?live=1")
    assert f'src="/cameras/{pk}/live.mjpg"' in live_page.text
    viewer_page = viewer.get(f"/cameras/{pk}?live=1")
    assert "live-start" not in viewer_page.text and "live.mjpg" not in viewer_page.text

    async def scenario() -> None:
        stop = asyncio.Event()
        agent = EdgeAgent(stack.agent)
        runner = asyncio.create_task(agent.run(stop))
        try:
            await asyncio.wait_for(agent.publisher.connected.wait(), 20)
            await asyncio.sleep(1.0)
            refused = viewer.get(f"/cameras/{pk}/live.mjpg")
            assert refused.status_code == 403
            # Off the loop: the test client runs the stream up to its first part, which needs the agent's loop.
            one, two = await asyncio.gather(
                asyncio.to_thread(operator.get, f"/cameras/{pk}/live.mjpg", buffered=False),
                asyncio.to_thread(second.get, f"/cameras/{pk}/live.mjpg", buffered=False))
            assert one.mimetype == "multipart/x-mixed-replace"
            counts = await asyncio.gather(asyncio.to_thread(_read_parts, one, 6), asyncio.to_thread(_read_parts, two, 6))
            assert counts == [6, 6]
            assert relays[0].upstreams_started == 1 and agent.live.running == ["gate"]
            await asyncio.to_thread(one.close)
            await asyncio.to_thread(two.close)  # both tabs closed: the relay sends live_stop, the agent stops
            for _ in range(40):
                if not agent.live.running:
                    break
                await asyncio.sleep(0.1)
            assert agent.live.running == []
        finally:
            stop.set()
            await asyncio.wait_for(runner, 30)

    with running_relay(stack.central) as relays:
        asyncio.run(scenario())

    with web_database.session() as session:
        rows = session.scalars(select(LiveSession).order_by(LiveSession.id)).all()
        assert [(r.user_name, r.camera_pk, r.agent_name, r.camera_id) for r in rows] == [
            (seeded.operator, pk, name, "gate"), (seeded.admin, pk, name, "gate")]
        assert all(r.ended_at is not None and r.ended_at >= r.started_at and r.end_reason == "viewer_left"
                   for r in rows)
        # The stream the agent chose, as its frames said: here the camera's configured rtsp_url.
        assert [r.stream_profile for r in rows] == ["rtsp_url", "rtsp_url"]
    record = second.get("/admin/live-sessions")
    assert record.status_code == 200 and record.text.count(f"{name}/gate") == 2
    assert record.text.count("URL RTSP yang dikonfigurasi") == 2  # the session's language is Indonesian
    assert operator.get("/admin/live-sessions").status_code == 403


def test_full_resolution_still_through_the_web_scoped_audited_and_worded_when_missing(
    pki: Pki, tls_broker: TlsBroker, live_fleet: FleetClient, web_database: Database, seeded: Seeded, tmp_path: Path,
) -> None:
    """One still at the camera's own 640x360 (live frames are held to 320 px here), while a live view runs."""
    stack = live_stack(pki, tls_broker, live_fleet.cameras[0], tmp_path, database=web_database,
                       live={"max_width": 320})
    pk = _watched_camera(web_database, stack.name)
    with web_database.engine.begin() as conn:  # a second camera of that agent that the agent does not know
        other = conn.execute(select(Camera.id).where(Camera.agent_name == "agent-1671").order_by(Camera.id)).scalar()
        conn.execute(update(Camera).where(Camera.id == other).values(agent_name=stack.name, camera_id="gone"))
    app = create_app(stack.central, {"TESTING": True, "DATABASE": web_database, "SECRET_KEY": "test"})
    operator: FlaskClient = app.test_client()
    log_in(operator, seeded.operator)
    viewer: FlaskClient = app.test_client()
    log_in(viewer, seeded.viewer)
    assert f'href="/cameras/{pk}/still.jpg"' in operator.get(f"/cameras/{pk}").text
    assert f'href="/cameras/{pk}/still.jpg"' in operator.get(f"/cameras/{pk}?live=1").text  # detail while watching
    assert "still.jpg" not in viewer.get(f"/cameras/{pk}").text

    async def scenario() -> None:
        stop = asyncio.Event()
        agent = EdgeAgent(stack.agent)
        runner = asyncio.create_task(agent.run(stop))
        try:
            await asyncio.wait_for(agent.publisher.connected.wait(), 20)
            await asyncio.sleep(1.0)
            assert viewer.get(f"/cameras/{pk}/still.jpg").status_code == 403
            live = await asyncio.to_thread(operator.get, f"/cameras/{pk}/live.mjpg", buffered=False)
            assert await asyncio.to_thread(_read_parts, live, 2) == 2
            still = await asyncio.to_thread(operator.get, f"/cameras/{pk}/still.jpg")
            assert still.status_code == 200 and still.mimetype == "image/jpeg"
            picture = cv2.imdecode(np.frombuffer(still.data, np.uint8), cv2.IMREAD_COLOR)
            assert picture.shape[:2] == (360, 640)
            # The still neither ended nor disturbed the live view running beside it.
            assert await asyncio.to_thread(_read_parts, live, 4) == 4
            await asyncio.to_thread(live.close)
            missing = await asyncio.to_thread(operator.get, f"/cameras/{other}/still.jpg", follow_redirects=True)
            assert missing.request.path == f"/cameras/{other}"
            assert "Gambar penuh tidak didapat" in missing.text  # the session's language is Indonesian
        finally:
            stop.set()
            await asyncio.wait_for(runner, 30)

    with running_relay(stack.central):
        asyncio.run(scenario())

    with web_database.session() as session:
        rows = session.scalars(select(LiveSession).order_by(LiveSession.id)).all()
        assert [(r.user_name, r.camera_pk, r.end_reason, r.stream_profile) for r in rows] == [
            (seeded.operator, pk, "viewer_left", "rtsp_url"), (seeded.operator, pk, "still", "rtsp_url"),
            (seeded.operator, other, "still:unknown_camera", "")]
