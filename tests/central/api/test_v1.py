"""REST API /api/v1: auth, pagination, filters, thumbnails, and every response valid against the OpenAPI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from central.api.openapi import build_openapi
from central.config import ProvinceConfig
from central.storage.db import Database
from central.web import create_app
from central.web.database import db_session
from central.web.province import compute_rollup
from tests.central.web.conftest import log_in, make_config
from tests.central.web.seed import Seeded


def bearer(seeded: Seeded) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.token}"}


def validate(spec: dict[str, Any], path: str, body: Any, status: int = 200) -> None:
    """Check ``body`` against the schema the OpenAPI document promises for ``path``'s response."""
    response = spec["paths"][path]["get"]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    document = {"$ref": schema["$ref"], "components": spec["components"]}
    jsonschema.Draft202012Validator(document).validate(body)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document = build_openapi()
    jsonschema.Draft202012Validator.check_schema({"components": document["components"]})
    return document


def test_every_api_route_is_in_the_openapi_document(app: Flask, spec: dict[str, Any]) -> None:
    """A route added to /api/v1 without its operation in central/api/openapi.py fails here."""
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
    }
    routes.discard("/openapi.json")  # the document itself
    assert routes == set(spec["paths"])


def test_api_needs_a_token_or_a_session(client: FlaskClient, seeded: Seeded) -> None:
    response = client.get("/api/v1/regencies")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/regencies", headers={"Authorization": "Bearer scc_wrong"}).status_code == 401
    assert client.get("/api/v1/regencies", headers=bearer(seeded)).status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(client: FlaskClient, seeded: Seeded, scheme: str) -> None:
    response = client.get("/api/v1/regencies", headers={"Authorization": f"{scheme} {seeded.token}"})
    assert response.status_code == 200, response.text


def test_tokens_are_read_only(client: FlaskClient, seeded: Seeded) -> None:
    assert client.post("/api/v1/regencies", headers=bearer(seeded)).status_code == 405


def test_every_endpoint_matches_the_openapi_document(
    client: FlaskClient, seeded: Seeded, spec: dict[str, Any]
) -> None:
    headers = bearer(seeded)
    pk = seeded.first_camera_pk
    cases = {
        "/regencies": "/api/v1/regencies",
        "/regencies/{code}": "/api/v1/regencies/16.71",
        "/cameras": "/api/v1/cameras?regency=16.71&limit=5",
        "/cameras/{pk}": f"/api/v1/cameras/{pk}",
        "/cameras/{pk}/history": f"/api/v1/cameras/{pk}/history",
        "/websites": "/api/v1/websites",
        "/rollout": "/api/v1/rollout",
        "/events": "/api/v1/events?limit=3",
    }
    for template, url in cases.items():
        response = client.get(url, headers=headers)
        assert response.status_code == 200, url
        validate(spec, template, response.get_json())
    hostile = client.get(f"/api/v1/cameras/{seeded.hostile_camera_pk}", headers=headers)
    validate(spec, "/cameras/{pk}", hostile.get_json())
    missing = client.get("/api/v1/cameras/999999", headers=headers)
    assert missing.status_code == 404
    validate(spec, "/cameras/{pk}", missing.get_json(), 404)


def test_openapi_is_public_and_3_1(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    assert "/cameras/{pk}/thumbnail.jpg" in document["paths"]


def test_regencies_carry_the_rollup(client: FlaskClient, seeded: Seeded) -> None:
    body = client.get("/api/v1/regencies", headers=bearer(seeded)).get_json()
    assert body["total"] == 17 and len(body["items"]) == 17
    assert body["province"]["regencies_integrated"] == 4
    palembang = next(r for r in body["items"] if r["code"] == "16.71")
    assert palembang["cameras"]["total"] == 13  # 12 seeded + the hostile one
    assert palembang["agents_online"] == 1


def test_cameras_paginate_with_links_and_filter(
    client: FlaskClient, seeded: Seeded, spec: dict[str, Any]
) -> None:
    headers = bearer(seeded)
    first = client.get("/api/v1/cameras?limit=10", headers=headers).get_json()
    assert first["total"] == 49 and len(first["items"]) == 10 and first["links"]["prev"] is None
    second = client.get(first["links"]["next"], headers=headers).get_json()
    assert second["offset"] == 10
    assert not {c["id"] for c in first["items"]} & {c["id"] for c in second["items"]}
    offline = client.get("/api/v1/cameras?status=offline&regency=16.71", headers=headers).get_json()
    assert offline["items"] and all(
        c["status"] == "offline" and c["regency"] == "16.71" for c in offline["items"]
    )
    assert client.get("/api/v1/cameras?status=broken", headers=headers).status_code == 400
    assert client.get("/api/v1/cameras?regency=99.01", headers=headers).status_code == 400
    assert client.get("/api/v1/cameras?limit=0", headers=headers).status_code == 400
    for query in ("limit=abc", "offset=abc", "limit=", "limit=1.5"):
        bad = client.get(f"/api/v1/cameras?{query}", headers=headers)
        assert bad.status_code == 400 and bad.get_json()["detail"] == "limit and offset must be whole numbers"
        validate(spec, "/cameras", bad.get_json(), 400)


def test_events_page_by_cursor(client: FlaskClient, seeded: Seeded) -> None:
    headers = bearer(seeded)
    page = client.get("/api/v1/events?limit=2", headers=headers).get_json()
    assert len(page["items"]) == 2 and page["links"]["next"]
    following = client.get(page["links"]["next"], headers=headers).get_json()
    assert max(e["id"] for e in following["items"]) < min(e["id"] for e in page["items"])


def test_events_refuse_filters_they_cannot_apply(client: FlaskClient, seeded: Seeded, spec: dict[str, Any]) -> None:
    headers = bearer(seeded)
    # Each of these used to answer 200 with the whole, unfiltered feed.
    for query, detail in (("before=abc", "before must be a whole number >= 1"),
                          ("before=0", "before must be a whole number >= 1"),
                          ("camera=cam-1", "camera must be a whole number >= 1"),
                          ("regency=99.01", "no regency '99.01'"),
                          ("kind=camera", "no event kind 'camera'")):
        bad = client.get(f"/api/v1/events?{query}", headers=headers)
        assert bad.status_code == 400 and bad.get_json()["detail"].startswith(detail), (query, bad.get_json())
        validate(spec, "/events", bad.get_json(), 400)
    good = client.get("/api/v1/events?kind=camera_status&regency=16.71", headers=headers).get_json()
    assert good["items"] and all(e["kind"] == "camera_status" and e["regency"] == "16.71" for e in good["items"])


def test_thumbnail_has_etag_and_revalidates(client: FlaskClient, seeded: Seeded) -> None:
    url = f"/api/v1/cameras/{seeded.first_camera_pk}/thumbnail.jpg"
    response = client.get(url, headers=bearer(seeded))
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.data[:2] == b"\xff\xd8"
    etag = response.headers["ETag"]
    assert "max-age" in response.headers["Cache-Control"]
    again = client.get(url, headers=bearer(seeded) | {"If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    assert (
        client.get(
            f"/api/v1/cameras/{seeded.hostile_camera_pk}/thumbnail.jpg", headers=bearer(seeded)
        ).status_code
        == 404
    )


def test_session_users_can_use_the_api(admin: FlaskClient) -> None:
    assert admin.get("/api/v1/websites").status_code == 200


def test_healthz_and_metrics(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok", "database": "ok"}
    metrics = client.get("/metrics")
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert "# TYPE scc_cameras gauge" in text
    assert 'scc_cameras{regency="16.71",status="offline"}' in text
    assert "scc_regencies_integrated 4" in text
    assert "<script" not in text


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_api_on_postgresql(database: Any, tmp_path: Any, spec: dict[str, Any]) -> None:
    from central.web import create_app
    from tests.central.web.conftest import make_config
    from tests.central.web.seed import seed

    seeded = seed(database)
    app: Flask = create_app(
        make_config(tmp_path, str(database.url)), {"DATABASE": database, "SECRET_KEY": "t"}
    )
    client = app.test_client()
    headers = bearer(seeded)
    for template, url in {
        "/regencies": "/api/v1/regencies",
        "/cameras": "/api/v1/cameras?status=offline",
        "/cameras/{pk}": f"/api/v1/cameras/{seeded.first_camera_pk}",
        "/websites": "/api/v1/websites?regency=16.71",
        "/events": "/api/v1/events",
    }.items():
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.text)
        validate(spec, template, response.get_json())
    with app.test_request_context():
        pass
    log_in_page = client.get("/login")
    assert log_in_page.status_code == 200


INTERNAL_FIELDS = ("host", "port", "serial", "mac", "notes")


def test_a_third_party_token_sees_public_fields_unless_given_the_internal_scope(
    client: FlaskClient, seeded: Seeded, web_database: Any, spec: dict[str, Any]
) -> None:
    from central.web.accounts import Scope, add_token

    with web_database.session(write=True) as session:
        internal = add_token(session, "inventory-bappeda", scopes=[Scope.INTERNAL])
    path = f"/api/v1/cameras/{seeded.hostile_camera_pk}"
    public = client.get(path, headers=bearer(seeded)).get_json()
    assert all(public[field] is None for field in INTERNAL_FIELDS), public
    assert public["name"] and public["status"]
    validate(spec, "/cameras/{pk}", public)
    full = client.get(path, headers={"Authorization": f"Bearer {internal}"}).get_json()
    assert full["host"] and full["port"] == 80 and full["notes"] == ""
    validate(spec, "/cameras/{pk}", full)


def test_a_logged_in_user_reads_the_internal_fields(admin: FlaskClient, seeded: Seeded) -> None:
    body = admin.get(f"/api/v1/cameras/{seeded.hostile_camera_pk}").get_json()
    assert body["host"] and body["port"] == 80


def test_the_province_offices_have_their_own_entry_agreeing_with_the_pages(
    web_database: Database, seeded: Seeded, tmp_path: Path, spec: dict[str, Any]
) -> None:
    """[province] agents' cameras and websites are the province's own offices' (code 16): the API serves them
    beside the 17 regencies in a regency's shape, with the very counts the overview's tile shows."""
    config = make_config(tmp_path, str(web_database.url))
    config = config.model_copy(update={"province": ProvinceConfig(agents=["agent-1674"])})
    app = create_app(config, {"TESTING": True, "DATABASE": web_database, "SECRET_KEY": "test-secret"})
    client = app.test_client()
    body = client.get("/api/v1/regencies", headers=bearer(seeded)).get_json()
    validate(spec, "/regencies", body)
    offices = body["offices"]
    assert (offices["code"], offices["display_name"], offices["kind"]) == ("16", "Pemprov Sumatera Selatan", "")
    assert offices["cameras"]["total"] > 0 and len(body["items"]) == 17
    lahat = next(r for r in body["items"] if r["code"] == "16.74")
    assert lahat["cameras"]["total"] == lahat["websites"]["total"] == 0, "no longer counted for the certificate's regency"
    one = client.get("/api/v1/regencies/16", headers=bearer(seeded))
    validate(spec, "/regencies/{code}", one.get_json())
    assert one.get_json() == offices

    with app.app_context():
        rollup = compute_rollup(db_session(), province=config.province)
    for owner in [*rollup.regencies, rollup.offices]:
        assert owner is not None
        api = offices if owner.is_province else next(r for r in body["items"] if r["code"] == owner.code)
        assert api["cameras"] == {"ok": owner.cameras_ok, "degraded": owner.cameras_degraded,
                                  "offline": owner.cameras_offline, "unknown": owner.cameras_unknown,
                                  "total": owner.cameras_total}  # fmt: skip
        assert api["websites"]["total"] == owner.websites_total and api["agents_total"] == owner.agents_total

    log_in(client, "viewer")
    html = client.get("/?lang=id").text
    tile = re.search(r'data-regency="16">(.*?)</a>', html, re.S)
    assert tile, "the overview has the province's offices' tile"
    shown = [int(n) for n in re.findall(r'class="n n-(?:ok|degraded|offline)"[^>]*>(\d+)', tile.group(1))]
    assert shown == [
        offices["cameras"]["ok"], offices["cameras"]["degraded"], offices["cameras"]["offline"],
        offices["websites"]["fresh"], offices["websites"]["stale"], offices["websites"]["down"],
    ]  # fmt: skip
    assert client.get("/api/v1/alerts?regency=16").status_code == 200
    assert client.get("/api/v1/alerts?regency=17").status_code == 400
    metrics = {
        (sample.labels["regency"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        if family.name == "scc_cameras"
        for sample in family.samples
    }
    assert {status: metrics[("16", status)] for status in ("ok", "degraded", "offline", "unknown")} == {
        status: offices["cameras"][status] for status in ("ok", "degraded", "offline", "unknown")
    }
