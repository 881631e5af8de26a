"""/metrics: prometheus_client's exposition, parsed back; exact values, declared types and help texts."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from central.storage.db import Database
from central.storage.models import Camera, IngestCounter

LAST_CHECK = 1_796_532_054  # printed 1.79653e+09 by the hand-written exposition: ~2,000 s off
STORED = 1_234_567_891  # over 999,999: six significant digits lost the rest


def test_metrics_keep_every_digit_and_declare_types(client: FlaskClient, web_database: Database) -> None:
    with web_database.session(write=True) as session:
        session.execute(update(Camera).values(last_check_at=dt.datetime.fromtimestamp(LAST_CHECK, dt.UTC)))
        session.merge(IngestCounter(name="stored", value=STORED))
    response = client.get("/metrics")
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {family.name: family for family in text_string_to_metric_families(response.text)}

    newest = families["scc_camera_last_check_timestamp_seconds"]
    assert (newest.type, newest.documentation) == ("gauge", "Newest camera report.")
    assert [sample.value for sample in newest.samples] == [LAST_CHECK]

    ingest = families["scc_ingest"]
    assert ingest.type == "counter" and ingest.documentation == "Ingest running totals, by counter."
    stored = [s for s in ingest.samples if s.name == "scc_ingest_total" and s.labels == {"name": "stored"}]
    assert [s.value for s in stored] == [STORED]

    cameras = families["scc_cameras"]
    assert cameras.type == "gauge"
    palembang = {s.labels["status"]: s.value for s in cameras.samples if s.labels["regency"] == "16.71"}
    assert set(palembang) == {"ok", "degraded", "offline", "unknown"}
    assert all(value == int(value) >= 0 for value in palembang.values())
    assert families["scc_regencies_integrated"].samples[0].value == 4
