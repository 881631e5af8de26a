"""The rollout chart counts each camera on the calendar day of the configured zone, not always WIB's."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from central.storage.db import Database
from central.storage.models import Agent, Camera
from central.web import create_app, pages
from central.web.accounts import Role, add_user
from tests.central.web.conftest import log_in, make_config
from tests.central.web.seed import PASSWORD, add_hostile_camera

# 11:00 WIB / 12:00 WITA on 6 March: the same calendar day in both zones, so both charts end on it.
NOW = dt.datetime(2026, 3, 6, 4, 0, tzinfo=dt.UTC)
# 23:30 WIB on 5 March but 00:30 WITA on 6 March: which day it counts on depends on the zone.
FIRST_SEEN = dt.datetime(2026, 3, 5, 16, 30, tzinfo=dt.UTC)


def _camera_counts_y(html: str) -> list[float]:
    match = re.search(r'<polyline class="line-cameras" points="([^"]+)"', html)
    assert match, "no cameras line in the rollout chart"
    return [float(point.split(",")[1]) for point in match.group(1).split()]


@pytest.mark.parametrize(
    ("timezone", "counted_on_5_march"),
    [("Asia/Makassar", False), ("Asia/Jakarta", True)],
)
def test_rollout_days_follow_the_configured_timezone(
    web_database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    timezone: str,
    counted_on_5_march: bool,
) -> None:
    # One camera and the agent it needs, nothing else: seeded cameras would blur the one day that matters.
    with web_database.session(write=True) as session:
        add_user(session, "viewer", PASSWORD, Role.VIEWER)
        session.add(Agent(name="agent-1671", regency_code="16.71", created_at=NOW - dt.timedelta(days=10)))
    pk = add_hostile_camera(web_database)
    with web_database.engine.begin() as conn:
        conn.execute(update(Camera).where(Camera.id == pk).values(first_seen_at=FIRST_SEEN))
    monkeypatch.setattr(pages, "_now", lambda: NOW)
    app = create_app(
        make_config(tmp_path, str(web_database.url), timezone=timezone),
        {"TESTING": True, "DATABASE": web_database, "SECRET_KEY": "test-secret"},
    )
    client = app.test_client()
    log_in(client, "viewer")

    ys = _camera_counts_y(client.get("/rollout").text)
    # One point per day, the last being 6 March; the first, days before the camera appeared, is the zero line.
    zero, on_5_march, on_6_march = ys[0], ys[-2], ys[-1]
    assert on_6_march < zero, "the camera is counted by 6 March in every zone"
    assert (on_5_march < zero) is counted_on_5_march


def test_the_rollout_chart_ends_where_the_cards_add_up(viewer: FlaskClient) -> None:
    """One source: the chart's last point and the regencies' cards count the same cameras and websites."""
    html = viewer.get("/rollout?lang=en").text
    legend = re.findall(r"integrated: ([\d,.]+) /", html)
    cards = re.findall(r"Cameras <strong>(\d+)</strong> / [^·]*· Websites <strong>(\d+)</strong>", html)
    assert len(legend) == 2 and len(cards) == 17
    cameras, websites = (int(value.replace(",", "")) for value in legend)
    assert cameras == sum(int(c) for c, _ in cards)
    assert websites == sum(int(w) for _, w in cards)
    assert websites > 0
