"""Lost cameras show as offline (no longer discovered) and count until an operator retires them."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from sqlalchemy import update

from central.storage.db import Database
from central.storage.models import Camera
from tests.central.web.conftest import csrf_from, log_in
from tests.central.web.seed import Seeded


def _totals(client: FlaskClient, regency: str) -> tuple[int, int, int]:
    """(API regency camera total, API camera list total, API offline cameras) for one regency."""
    summary = json.loads(client.get(f"/api/v1/regencies/{regency}").text)["cameras"]
    listed = json.loads(client.get(f"/api/v1/cameras?regency={regency}").text)["total"]
    return summary["total"], listed, summary["offline"]


def test_lost_camera_counts_as_offline_until_an_operator_retires_it(
    client: FlaskClient, seeded: Seeded, web_database: Database
) -> None:
    pk = seeded.first_camera_pk
    with web_database.session(write=True) as session:
        camera = session.get(Camera, pk)
        assert camera is not None
        regency = camera.regency_code
        session.execute(update(Camera).where(Camera.id == pk).values(
            status="offline", reason="lost", lost_at=camera.first_seen_at, in_inventory=False))
    log_in(client, "viewer")
    page = client.get(f"/cameras/{pk}").text
    assert "tidak ditemukan lagi" in page and 'id="camera-retire"' not in page
    total, listed, offline = _totals(client, regency)
    assert total == listed and offline >= 1
    token = csrf_from(client.get("/").text)
    assert client.post(f"/cameras/{pk}/retire", data={"csrf_token": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})

    log_in(client, "operator")
    assert 'id="camera-retire"' in client.get(f"/cameras/{pk}?lang=en").text
    assert client.post(f"/cameras/{pk}/retire", data={}).status_code == 400  # no CSRF token
    token = csrf_from(client.get("/").text)
    assert client.post(f"/cameras/{pk}/retire", data={"csrf_token": token}).status_code == 302
    page = client.get(f"/cameras/{pk}").text
    assert 'id="camera-retired"' in page and 'id="camera-retire"' not in page
    assert _totals(client, regency) == (total - 1, listed - 1, offline - 1)
    detail = json.loads(client.get(f"/api/v1/cameras/{pk}").text)
    assert detail["retired_at"] is not None and detail["status"] == "offline"  # history and state stay
