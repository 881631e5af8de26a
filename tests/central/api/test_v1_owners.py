"""/api/v1's items are filed under their owner, as the public MQTT feed and the regency counts file them.

Owner: :func:`central.storage.queries.owner_code`. Here ``agent-1674`` (certificate: Lahat, 16.74) is one
of the ``[province] agents``, so its cameras, websites and events are the province's own offices' ("16").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from central.api.openapi import build_openapi
from central.config import ProvinceConfig
from central.ingest import public
from central.storage.db import Database
from central.storage.models import Camera, PublicState, Website
from central.web import create_app
from central.web.accounts import Role, add_token, add_user
from shared.messages import utc_now
from tests.central.api.test_v1 import bearer, validate
from tests.central.web.conftest import log_in, make_config
from tests.central.web.seed import PASSWORD, add_hostile_camera, seed

PROVINCE_AGENT = "agent-1674"
CERTIFICATE = "16.74"


def _app(database: Database, tmp_path: Path, agents: list[str]) -> Flask:
    config = make_config(tmp_path, str(database.url))
    config = config.model_copy(update={"province": ProvinceConfig(agents=agents)})
    return create_app(config, {"TESTING": True, "DATABASE": database, "SECRET_KEY": "test-secret"})


@pytest.fixture
def spec() -> dict[str, Any]:
    return build_openapi()


@pytest.fixture
def headers(web_database: Database) -> dict[str, str]:
    result = seed(web_database)
    add_hostile_camera(web_database)  # a 16.71 camera with hostile texts: still 16.71's
    return {"Authorization": f"Bearer {result.token}"}


@pytest.fixture
def province_app(web_database: Database, headers: dict[str, str], tmp_path: Path) -> Flask:
    return _app(web_database, tmp_path, [PROVINCE_AGENT])


def _all(client: FlaskClient, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    body = client.get(f"{path}{'&' if '?' in path else '?'}limit=500", headers=headers).get_json()
    assert body.get("total", len(body["items"])) == len(body["items"]) < 500, "one page holds them all"
    items: list[dict[str, Any]] = body["items"]
    return items


def _feed_owners(database: Database) -> dict[tuple[str, str], str]:
    """(agent, camera or website id) -> the ``regency`` the public feed stages for it."""
    with database.engine.begin() as conn:
        cameras = list(conn.execute(select(Camera.id)).scalars())
        websites = list(conn.execute(select(Website.id)).scalars())
        public.stage_cameras(conn, cameras, utc_now(), [PROVINCE_AGENT])
        public.stage_websites(conn, websites, utc_now(), [PROVINCE_AGENT])
        payloads = [public.build_message(topic, seq, payload, at)
                    for topic, seq, payload, at in conn.execute(
                        select(PublicState.topic, PublicState.seq, PublicState.payload, PublicState.updated_at))
                    if payload]  # fmt: skip
    owners = {}
    for message in payloads:
        item = message.model_dump()
        if item["kind"] in ("public_camera_status", "public_website_status"):
            owners[(item["agent"], item.get("camera_id") or item["website_id"])] = item["regency"]
    return owners


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_cameras_and_websites_carry_the_feeds_owner_and_filter_by_it(
    database: Database, tmp_path: Path, spec: dict[str, Any]
) -> None:
    """Each item's ``regency`` is the feed's; ``agent_regency`` keeps the certificate's; ``?regency`` lists
    exactly what ``/regencies/{code}`` counts, "16" included, and a regency no longer lists the province's."""
    headers = bearer(seed(database))
    client = _app(database, tmp_path, [PROVINCE_AGENT]).test_client()
    cameras = _all(client, "/api/v1/cameras", headers)
    websites = _all(client, "/api/v1/websites", headers)
    feed = _feed_owners(database)
    api = {(c["agent"], c["camera_id"]): c["regency"] for c in cameras}
    api |= {(w["agent"], w["website_id"]): w["regency"] for w in websites}
    assert {key: api[key] for key in feed} == feed, "the API files every published item where the feed does"
    for item in cameras + websites:
        assert item["agent_regency"] == item["agent"].removeprefix("agent-")[:2] + "." + item["agent"][-2:]
        assert item["regency"] == ("16" if item["agent"] == PROVINCE_AGENT else item["agent_regency"])
    assert any(c["regency"] == "16" for c in cameras) and any(w["regency"] == "16" for w in websites)

    for code in ("16", CERTIFICATE, "16.71"):
        counts = client.get(f"/api/v1/regencies/{code}", headers=headers).get_json()
        listed = client.get(f"/api/v1/cameras?regency={code}&limit=500", headers=headers).get_json()
        validate(spec, "/cameras", listed)
        assert listed["total"] == counts["cameras"]["total"], code
        assert {c["regency"] for c in listed["items"]} <= {code}
        sites = client.get(f"/api/v1/websites?regency={code}&limit=500", headers=headers).get_json()
        validate(spec, "/websites", sites)
        assert sites["total"] == counts["websites"]["total"], code
        assert {w["regency"] for w in sites["items"]} <= {code}
    assert client.get(f"/api/v1/cameras?regency={CERTIFICATE}", headers=headers).get_json()["total"] == 0

    events = client.get("/api/v1/events?regency=16&limit=500", headers=headers).get_json()
    validate(spec, "/events", events)
    assert events["items"] and {(e["regency"], e["agent"]) for e in events["items"]} == {("16", PROVINCE_AGENT)}
    theirs = client.get(f"/api/v1/events?regency={CERTIFICATE}&limit=500", headers=headers).get_json()
    assert all(e["agent"] != PROVINCE_AGENT for e in theirs["items"])

    one = next(c for c in cameras if c["agent"] == PROVINCE_AGENT)
    detail = client.get(f"/api/v1/cameras/{one['id']}", headers=headers).get_json()
    validate(spec, "/cameras/{pk}", detail)
    assert (detail["regency"], detail["agent_regency"]) == ("16", CERTIFICATE)


def test_without_province_agents_nothing_is_the_provinces(
    web_database: Database, headers: dict[str, str], tmp_path: Path
) -> None:
    client = _app(web_database, tmp_path, []).test_client()
    assert client.get("/api/v1/cameras?regency=16", headers=headers).get_json()["total"] == 0
    lahat = client.get(f"/api/v1/cameras?regency={CERTIFICATE}&limit=500", headers=headers).get_json()
    assert lahat["total"] and {(c["regency"], c["agent_regency"]) for c in lahat["items"]} == {(CERTIFICATE,) * 2}


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("/cameras?regency=17", "no regency '17'"),
        ("/cameras?regency=16.99", "no regency '16.99'"),
        ("/cameras?regency=16.71%00", "no regency"),
        ("/websites?regency=1671", "no regency '1671'"),
        ("/websites?state=broken", "state must be one of fresh, stale, down, maintenance, unknown"),
        ("/events?regency=province", "no regency 'province'"),
    ],
)
def test_bad_query_values_are_a_clear_400(
    province_app: Flask, headers: dict[str, str], spec: dict[str, Any], query: str, detail: str
) -> None:
    response = province_app.test_client().get(f"/api/v1{query}", headers=headers)
    assert response.status_code == 400 and response.get_json()["detail"].startswith(detail), response.text
    validate(spec, query.partition("?")[0], response.get_json(), 400)


def _regional_clients(app: Flask, database: Database, regencies: list[str]) -> list[tuple[FlaskClient, dict[str, str]]]:
    """A logged-in user and a token, both limited to ``regencies``."""
    with database.session(write=True) as session:
        add_user(session, "regional", PASSWORD, Role.VIEWER, regencies)
        token = add_token(session, "regional-token", regencies=regencies)
    user = app.test_client()
    log_in(user, "regional")
    return [(user, {}), (app.test_client(), {"Authorization": f"Bearer {token}"})]


def test_a_caller_limited_to_the_certificates_regency_does_not_see_the_provinces_items(
    province_app: Flask, web_database: Database, headers: dict[str, str]
) -> None:
    """Scope is by owner, as for alerts and reports: the province's items are for province-wide callers only
    (a user's or token's regencies are 16.xx codes; "16" is not one), even when limited to the regency
    their agent's certificate names."""
    province = province_app.test_client()
    theirs = [c for c in _all(province, "/api/v1/cameras", headers) if c["regency"] == "16"]
    assert theirs, "the province-wide token sees the province's cameras"
    pk = theirs[0]["id"]
    palembang = next(c["id"] for c in _all(province, "/api/v1/cameras?regency=16.71", headers))
    for client, auth in _regional_clients(province_app, web_database, [CERTIFICATE, "16.71"]):
        for path in ("/api/v1/cameras", "/api/v1/websites", "/api/v1/events"):
            items = _all(client, path, auth)
            assert items and {i["regency"] for i in items} <= {CERTIFICATE, "16.71"}, path
            assert all(i["agent"] != PROVINCE_AGENT for i in items), path
        for path in (f"/api/v1/cameras/{pk}", f"/api/v1/cameras/{pk}/history", f"/api/v1/cameras/{pk}/thumbnail.jpg",
                     "/api/v1/cameras?regency=16", "/api/v1/websites?regency=16", "/api/v1/events?regency=16",
                     "/api/v1/regencies/16"):  # fmt: skip
            assert client.get(path, headers=auth).status_code == 404, path
        assert client.get(f"/api/v1/cameras?regency={CERTIFICATE}", headers=auth).status_code == 200
        assert client.get(f"/api/v1/cameras/{palembang}", headers=auth).status_code == 200
    web_user = province_app.test_client()  # the web's camera page answers as the API does
    log_in(web_user, "regional")
    assert web_user.get(f"/cameras/{pk}").status_code == 404
    viewer = province_app.test_client()
    log_in(viewer, "viewer")  # province-wide
    assert viewer.get(f"/cameras/{pk}").status_code == 200
    assert viewer.get(f"/api/v1/cameras/{pk}").get_json()["regency"] == "16"
