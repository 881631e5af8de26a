"""The wall's live mode (/wall?live=<group>): tiles within each agent's bandwidth budget, and the way
operators find it from the regency and camera pages."""

from __future__ import annotations

import re
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select, update

from central.config import CentralConfig
from central.storage.db import Database
from central.storage.models import Camera
from central.web import create_app
from tests.central.web.conftest import log_in
from tests.central.web.seed import Seeded

VENUE = "Stadion Jakabaring"


def _client(web_database: Database, tmp_path: Path, user: str, **live_view: object) -> FlaskClient:
    config = CentralConfig.model_validate({
        "state_dir": str(tmp_path / "state"), "database": {"url": str(web_database.url)},
        "web": {"session_cookie_secure": False, "rollup_cache_s": 0},
        "live_view": {"wall_tiles": 4} | live_view,
    })
    client = create_app(config, {"TESTING": True, "DATABASE": web_database, "SECRET_KEY": "t"}).test_client()
    log_in(client, user)
    return client


def _venue(web_database: Database, agent: str, count: int) -> list[int]:
    """Put ``count`` of ``agent``'s cameras (all in good health, so the order is by id) at the venue."""
    with web_database.engine.begin() as conn:
        pks = list(conn.execute(select(Camera.id).where(Camera.agent_name == agent).order_by(Camera.id)
                                .limit(count)).scalars())
        conn.execute(update(Camera).where(Camera.id.in_(pks)).values(venue=VENUE, status="ok", status_since=None))
    return pks


def _tiles(html: str) -> dict[int, str]:
    """Each tile's camera and what it shows: live, over_budget or snapshot."""
    tiles = {}
    for match in re.finditer(r'<figure class="wall-tile[^"]*" data-camera="(\d+)">(.*?)</figure>', html, re.S):
        body = match.group(2)
        tiles[int(match.group(1))] = ("live" if "wall-live" in body else
                                      "over_budget" if "wall-over-budget" in body else "snapshot")
    return tiles


def test_a_live_wall_starts_no_more_streams_of_an_agent_than_its_budget_allows(
    web_database: Database, seeded: Seeded, tmp_path: Path
) -> None:
    crowded = _venue(web_database, "agent-1671", 4)  # a thin link: 1000 / 500 = two streams
    roomy = _venue(web_database, "agent-1606", 1)  # its own budget in agents_kbps
    operator = _client(web_database, tmp_path, seeded.operator, wall_tiles=5, agent_kbps=1000, stream_kbps=500,
                       agents_kbps={"agent-1606": 4000})
    page = operator.get(f"/wall?live={VENUE}&per=8")
    assert page.status_code == 200
    tiles = _tiles(page.text)
    assert set(tiles) == {*crowded, *roomy}
    assert [tiles[pk] for pk in crowded] == ["live", "live", "over_budget", "over_budget"]
    assert tiles[roomy[0]] == "live"
    assert page.text.count('src="/cameras/') - page.text.count("/thumbnail") == 3  # three streams, no more
    assert "Di luar anggaran bandwidth" in page.text  # the session speaks Indonesian by default
    english = operator.get(f"/wall?live={VENUE}&per=8&lang=en")
    assert "Outside the bandwidth budget" in english.text and "Di luar" not in english.text


def test_the_defaults_allow_four_streams_per_agent_and_wall_tiles_still_bounds_the_screen(
    web_database: Database, seeded: Seeded, tmp_path: Path
) -> None:
    pks = _venue(web_database, "agent-1671", 6)
    tiles = _tiles(_client(web_database, tmp_path, seeded.operator).get(f"/wall?live={VENUE}&per=8").text)
    assert [tiles[pk] for pk in pks] == ["live"] * 4 + ["snapshot"] * 2  # 2000 / 500 = 4 = wall_tiles


def test_operators_find_the_live_wall_of_a_group_and_viewers_do_not(
    web_database: Database, seeded: Seeded, tmp_path: Path
) -> None:
    pks = _venue(web_database, "agent-1671", 2)
    operator = _client(web_database, tmp_path, seeded.operator)
    regency = operator.get("/regencies/16.71")
    assert regency.status_code == 200
    listed = re.search(r'<p class="live-groups" id="live-groups">(.*?)</p>', regency.text, re.S)
    assert listed is not None and 'href="/wall?live=Stadion+Jakabaring"' in listed.group(1)
    assert "Tonton grup secara langsung di dinding video" in regency.text
    camera = operator.get(f"/cameras/{pks[0]}")
    assert 'id="live-wall" href="/wall?live=Stadion+Jakabaring"' in camera.text
    assert operator.get("/wall?live=Stadion+Jakabaring").status_code == 200  # the link leads somewhere
    viewer = _client(web_database, tmp_path, seeded.viewer)
    assert "live-groups" not in viewer.get("/regencies/16.71").text
    assert "live-wall" not in viewer.get(f"/cameras/{pks[0]}").text


def _rotation(client: FlaskClient, mode: str) -> list[int]:
    """Every tile of one turn of the wall's rotation, screen by screen (a camera on two screens: twice)."""
    shown: list[int] = []
    first: dict[int, str] | None = None
    for index in range(100):
        tiles = _tiles(client.get(f"/wall?mode={mode}&screen={index}&per=12").text)
        if index and tiles == first:
            return shown
        first = tiles if first is None else first
        shown += list(tiles)
    raise AssertionError("the rotation never came round")


def test_the_wall_shows_the_provinces_own_cameras_on_their_own_screen_once(
    web_database: Database, seeded: Seeded, tmp_path: Path
) -> None:
    """[province] agents' cameras are "16"'s, as the rollup counts them: each is on the rotation once (it was
    on none: the offices' screen listed certificate regency "16", the certificate's skipped them), and a
    wall limited to the certificate's regency leaves them out."""
    from central.web.accounts import Role, add_user
    from tests.central.web.seed import PASSWORD

    config = CentralConfig.model_validate({
        "state_dir": str(tmp_path / "state"), "database": {"url": str(web_database.url)},
        "web": {"session_cookie_secure": False, "rollup_cache_s": 0},
        "province": {"agents": ["agent-1674"]},
    })  # fmt: skip
    app = create_app(config, {"TESTING": True, "DATABASE": web_database, "SECRET_KEY": "t"})
    with web_database.engine.connect() as conn:
        cameras = dict(conn.execute(select(Camera.id, Camera.agent_name).where(Camera.in_service)).all())
    theirs = {pk for pk, agent in cameras.items() if agent == "agent-1674"}
    viewer = app.test_client()
    log_in(viewer, "viewer")
    for mode in ("regency", "group"):  # the seed puts every camera at a venue
        assert sorted(_rotation(viewer, mode)) == sorted(cameras), f"{mode}: every camera once, the province's too"
    with web_database.session(write=True) as session:
        add_user(session, "lahat", PASSWORD, Role.VIEWER, ["16.74", "16.71"])
    lahat = app.test_client()
    log_in(lahat, "lahat")
    for mode in ("regency", "group"):
        shown = _rotation(lahat, mode)
        assert shown and not theirs & set(shown), mode
