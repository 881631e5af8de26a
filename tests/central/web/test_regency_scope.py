"""Regency scope beyond the route audit (test_route_guards.py): live streams, tokens, exports, commands."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from central.config import ProvinceConfig
from central.reports.render import CSV_TABLES
from central.storage.db import Database
from central.web import create_app
from central.web.accounts import Role, add_token, add_user
from tests.central.web.conftest import log_in, make_config
from tests.central.web.seed import PASSWORD, Seeded
from tests.central.web.test_live import events


def _scoped_client(
    app: Flask, web_database: Database, regencies: list[str], role: Role = Role.VIEWER
) -> FlaskClient:
    with web_database.session(write=True) as session:
        add_user(session, "regional", PASSWORD, role, regencies)
    client = app.test_client()
    log_in(client, "regional")
    return client


def test_a_live_stream_carries_only_the_accounts_regencies(app: Flask, web_database: Database) -> None:
    client = _scoped_client(app, web_database, ["16.06", "16.74"])
    response = client.get("/live/events", headers={"Last-Event-ID": "0"}, buffered=False)
    changes = [json.loads(data) for name, data in events(response.response) if name == "change"]
    response.close()
    assert changes and {c["regency"] for c in changes} == {"16.06", "16.74"}
    assert client.get("/live/events?regency=16.71").status_code == 404


def test_a_regency_token_reads_only_its_regency(
    client: FlaskClient, web_database: Database, seeded: Seeded
) -> None:
    with web_database.session(write=True) as session:
        token = add_token(session, "bpbd-muba", regencies=["16.06"])
    headers = {"Authorization": f"Bearer {token}"}
    cameras = client.get("/api/v1/cameras?limit=500", headers=headers).get_json()
    assert cameras["total"] and {c["regency"] for c in cameras["items"]} == {"16.06"}
    assert client.get(f"/api/v1/cameras/{seeded.hostile_camera_pk}", headers=headers).status_code == 404
    events_page = client.get("/api/v1/events?limit=500", headers=headers).get_json()
    assert {e["regency"] for e in events_page["items"]} <= {"16.06"}
    regencies = client.get("/api/v1/regencies", headers=headers).get_json()
    assert [r["code"] for r in regencies["items"]] == ["16.06"] and regencies["province"] is None
    # The province-wide token of the same kind still sees all of it.
    whole = client.get("/api/v1/regencies", headers={"Authorization": f"Bearer {seeded.token}"}).get_json()
    assert len(whole["items"]) == 17 and whole["province"] is not None


def test_exports_hold_only_the_accounts_regencies(app: Flask, web_database: Database) -> None:
    from shared.messages import utc_now

    client = _scoped_client(app, web_database, ["16.06"])
    slug = utc_now().strftime("%Y-%m")
    for table in CSV_TABLES:  # every report table downloaded, each with the regency code first
        response = client.get(f"/reports/{slug}.csv?table={table}")
        rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))[1:]
        codes = {row[0] for row in rows} - {"16"}  # the total row
        assert codes == {"16.06"}, (table, codes)
    page = client.get(f"/reports/?period={slug}").text  # and the report on screen
    assert "Musi Banyuasin" in page and "Palembang" not in page
    province = app.test_client()
    log_in(province, "viewer")
    assert "Palembang" in province.get(f"/reports/?period={slug}").text


def test_a_regency_operator_commands_only_its_agents(
    app: Flask, web_database: Database, seeded: Seeded
) -> None:
    from tests.central.web.conftest import csrf_from

    client = _scoped_client(app, web_database, ["16.06"], Role.OPERATOR)
    token = csrf_from(client.get("/regencies/16.06").text)
    # The hostile camera is Palembang's (16.71): no check, no edit, no retirement from Musi Banyuasin.
    for action in ("check", "metadata", "retire"):
        response = client.post(f"/cameras/{seeded.hostile_camera_pk}/{action}", data={"csrf_token": token})
        assert response.status_code == 404, action


def test_the_wall_of_a_regency_account_shows_its_regencies_only(app: Flask, web_database: Database) -> None:
    client = _scoped_client(app, web_database, ["16.06"])
    page = client.get("/wall").text
    assert 'data-regency="16.06"' in page and 'data-regency="16.71"' not in page
    assert client.get("/wall?regency=16.71").status_code == 404
    province = app.test_client()
    log_in(province, "viewer")
    assert 'data-regency="16.71"' in province.get("/wall").text


def test_province_pages_are_not_offered_to_a_regency_account(app: Flask, web_database: Database) -> None:
    client = _scoped_client(app, web_database, ["16.06"])
    assert 'href="/rollout"' not in client.get("/regencies/16.06").text
    assert client.get("/rollout").status_code == 403
    province = app.test_client()
    log_in(province, "viewer")
    assert 'href="/rollout"' in province.get("/regencies/16.06").text


def test_a_live_stream_limited_to_regencies_skips_the_provinces_own_agents(
    web_database: Database, seeded: Seeded, tmp_path: Path
) -> None:
    """By owner, as the API and alerts scope: agent-1674's events (a [province] agent, certificate 16.74) are
    the province's offices', not 16.74's, so an account of 16.06 and 16.74 hears only 16.06's."""
    config = make_config(tmp_path, str(web_database.url))
    config = config.model_copy(update={"province": ProvinceConfig(agents=["agent-1674"])})
    app = create_app(config, {"TESTING": True, "DATABASE": web_database, "SECRET_KEY": "test-secret"})
    client = _scoped_client(app, web_database, ["16.06", "16.74"])
    response = client.get("/live/events", headers={"Last-Event-ID": "0"}, buffered=False)
    changes = [json.loads(data) for name, data in events(response.response) if name == "change"]
    response.close()
    assert changes and {c["regency"] for c in changes} == {"16.06"}
    province = app.test_client()
    log_in(province, "viewer")  # province-wide: hears them
    response = province.get("/live/events", headers={"Last-Event-ID": "0"}, buffered=False)
    heard = {json.loads(data)["regency"] for name, data in events(response.response) if name == "change"}
    response.close()
    assert {"16.06", "16.74"} <= heard
