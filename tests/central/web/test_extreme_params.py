"""Every route, driven with extreme numbers, dates and junk in its path, query and form: never a 500.

A property test (hypothesis): for each route in the app's URL map it draws path values, query
parameters and form fields from values that broke routes before (twenty-digit ids, offsets past a
64-bit integer, year 1 or 9999, NaN, unicode digits) and checks the answer is not a server error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import Rule

from central.storage.db import Database
from central.web import create_app
from central.web.params import BoundedInt
from tests.central.web.conftest import csrf_from, log_in, make_config
from tests.central.web.seed import Seeded

NUMBERS = ["0", "1", "-1", "²",  "2147483648", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
           "99999999999999999999", "1e309", "NaN", "inf", "-0", "1.5", "١٢", "1" * 5000]  # fmt: skip
DATES = ["0001-01", "9999-12", "2026-13", "0000-00", "2026-W53", "2026-W99", "2026-W00", "0001-01-01",
         "9999-12-31T23:59", "0001-01-01T00:00", "2026-02-30", "2026-01-01T25:00"]  # fmt: skip
JUNK = ["", "abc", "\x00", "%00", "../../etc/passwd", "x" * 3000, "16.71", "99.99", "16", "' OR 1=1 --"]
VALUES = st.sampled_from(NUMBERS + DATES + JUNK)
PATH_INTS = st.sampled_from([0, 1, 2, 2**31, 2**63 - 1, 2**63, 2**64, 10**20])
PATH_TEXT = st.sampled_from(["16.71", "0001-01", "9999-12", "2026-W99", "x" * 300, "mqtt", "..", "16.06"])
PARAMS = ["page", "limit", "offset", "days", "before", "camera", "screen", "after", "regency", "status", "state",
          "kind", "period", "table", "lang", "mode", "v", "q", "opd", "group"]  # fmt: skip
FIELDS = ["target_cameras", "target_websites", "planned_start", "started_on", "target_date", "completed_on",
          "latitude", "longitude", "starts_at", "ends_at", "duration", "stage", "kind", "target_kind", "target",
          "rule", "reason", "min_severity", "url", "to", "name", "notes", "tags", "display_name"]  # fmt: skip


def _routes(app: Flask) -> list[tuple[Rule, str]]:
    return [
        (rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        if rule.endpoint != "auth.logout"  # would end the session the rest of the run needs
    ]


def test_no_route_answers_extreme_values_with_a_server_error(
    web_database: Database, seeded: Seeded, tmp_path: Path
) -> None:
    config = make_config(tmp_path, str(web_database.url), public_status=True)
    app = create_app(
        config,
        {
            "TESTING": True,
            "DATABASE": web_database,
            "SECRET_KEY": "extreme",
            "SSE_MAX_S": 0.05,
            "SSE_POLL_S": 0.01,
        },
    )
    client = app.test_client()
    log_in(client, "admin")
    token = csrf_from(client.get("/").text)
    routes = _routes(app)
    assert len(routes) > 40

    for rule, method in routes:
        if method == "GET":
            _sweep(client, rule)
        else:
            _sweep_form(client, rule, token)
        _driver(client, token, rule, method)()


SWEEP = ["99999999999999999999", "-9223372036854775809", "0001-01", "1" * 5000]


def _sweep(client: FlaskClient, rule: Rule) -> None:
    """Each query parameter alone at each of the worst values, so none is left to chance."""
    values = {arg: 1 if isinstance(rule._converters[arg], BoundedInt) else "16.71" for arg in rule.arguments}
    built = rule.build(values, append_unknown=False)
    assert built is not None
    for name in PARAMS:
        for value in SWEEP:
            response = client.get(built[1], query_string={name: value})
            response.get_data()
            assert response.status_code < 500, (rule.endpoint, built[1], name, value)
            response.close()


def _driver(client: FlaskClient, token: str, rule: Rule, method: str) -> Callable[[], None]:
    """A property test of one route and method: any drawn values, never a 5xx."""

    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def drive(data: st.DataObject) -> None:
        converters = rule._converters  # which arguments are <int:...>
        values = {
            arg: data.draw(PATH_INTS if isinstance(converters[arg], BoundedInt) else PATH_TEXT)
            for arg in rule.arguments
        }
        built = rule.build(values, append_unknown=False)
        assert built is not None
        query = data.draw(st.dictionaries(st.sampled_from(PARAMS), VALUES, max_size=4))
        headers = {"Last-Event-ID": data.draw(VALUES)} if rule.endpoint == "live.events" else {}
        form = None
        if method == "POST":
            form = data.draw(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=6)) | {
                "csrf_token": token
            }
            if rule.endpoint == "auth.login":
                form |= {"username": "nobody", "password": "x"}
        response = client.open(built[1], method=method, query_string=query, data=form, headers=headers)
        response.get_data()
        assert response.status_code < 500, (
            rule.endpoint,
            method,
            built[1],
            query,
            form,
            response.status_code,
        )
        response.close()

    return drive


FORM_SWEEP = ["1" * 5000, "²", "0001-01-01T00:00", "99999999999999999999"]


def _sweep_form(client: FlaskClient, rule: Rule, token: str) -> None:
    """Each form field alone at each of the worst values."""
    values = {arg: 1 if isinstance(rule._converters[arg], BoundedInt) else "16.71" for arg in rule.arguments}
    built = rule.build(values, append_unknown=False)
    assert built is not None
    for name in FIELDS:
        for value in FORM_SWEEP:
            response = client.post(built[1], data={"csrf_token": token, name: value})
            assert response.status_code < 500, (rule.endpoint, built[1], name, value)
            response.close()
