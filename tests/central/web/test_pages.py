"""The pages: overview, regency, camera, websites, rollout, wall; hostile text; languages; editing."""

from __future__ import annotations

import datetime as dt
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from central.alerts.tables import AlertRecord
from central.storage.db import Database
from central.storage.models import Camera
from central.web import create_app
from central.web.reasons import camera_reason
from shared.regencies import all_regencies
from tests.central.web.conftest import csrf_from, log_in, make_config
from tests.central.web.seed import HOSTILE_NAME, Seeded

RAW_HOSTILE = re.compile(r"<script>alert|<img src=x|<svg onload", re.IGNORECASE)


def test_overview_shows_17_regencies_and_province_totals(viewer: FlaskClient) -> None:
    html = viewer.get("/").text
    assert len(re.findall(r'class="tile health-', html)) == 17
    assert len(re.findall(r'<g class="map-tile', html)) == 17
    assert "4 dari 17 kabupaten/kota terintegrasi" in html
    assert re.search(r"\d+ dari 49 kamera menyala", html)


def test_english_is_selectable_and_remembered(viewer: FlaskClient) -> None:
    html = viewer.get("/?lang=en").text
    assert "4 of 17 regencies integrated" in html and '<html lang="en">' in html
    assert (
        "regencies integrated" in viewer.get("/websites").text
        or "OPD websites" in viewer.get("/websites").text
    )


def test_times_are_in_wib(viewer: FlaskClient, seeded: Seeded) -> None:
    html = viewer.get(f"/cameras/{seeded.first_camera_pk}").text
    assert re.search(r"\d{2}:\d{2} WIB", html)


@pytest.mark.parametrize(
    ("web", "abbr", "zone", "other"),
    [({}, "WIB", "Asia/Jakarta", "WITA"), ({"timezone": "Asia/Makassar"}, "WITA", "Asia/Makassar", "WIB")],
)
def test_times_name_the_configured_zone(
    web_database: Database,
    seeded: Seeded,
    tmp_path: Path,
    web: dict[str, str],
    abbr: str,
    zone: str,
    other: str,
) -> None:
    app = create_app(
        make_config(tmp_path, str(web_database.url), **web),
        {"TESTING": True, "DATABASE": web_database, "SECRET_KEY": "test-secret"},
    )
    client = app.test_client()
    log_in(client, "viewer")
    html = client.get(f"/cameras/{seeded.first_camera_pk}").text
    assert re.search(rf"\d{{2}}:\d{{2}} {abbr}\b", html)
    assert f"Waktu dalam {abbr} ({zone})." in html
    assert not re.search(rf"\b{other}\b", html)
    english = client.get(f"/cameras/{seeded.first_camera_pk}?lang=en").text
    assert f"Times in {abbr} ({zone})." in english
    assert not re.search(rf"\b{other}\b", english)


@pytest.mark.parametrize(
    ("zone", "shown", "mute_from"),
    [
        # 16:30 UTC on 5 March is 00:30 WITA on 6 March; a mute typed as 08:00 there is 00:00 UTC.
        ("Asia/Makassar", "6 Mar 2026 00:30 WITA", datetime(2026, 3, 6, 0, 0, tzinfo=UTC)),
        ("Asia/Jakarta", "5 Mar 2026 23:30 WIB", datetime(2026, 3, 6, 1, 0, tzinfo=UTC)),
        ("UTC", "5 Mar 2026 16:30 UTC", datetime(2026, 3, 6, 8, 0, tzinfo=UTC)),
    ],
)
def test_format_time_names_the_configured_zone(zone: str, shown: str, mute_from: datetime) -> None:
    from flask import Flask

    from central.web import i18n
    from central.web.alerts import _local

    app = Flask(__name__)
    i18n.init_app(app, "en", zone)
    moment = datetime(2026, 3, 5, 16, 30, tzinfo=UTC)
    abbr = shown.rsplit(" ", 1)[1]
    with app.test_request_context():
        assert i18n.format_time(moment) == shown
        assert i18n.format_time(moment.replace(tzinfo=None)) == shown  # naive is UTC, as from SQLite
        assert i18n.format_clock(moment).endswith(f" {abbr}")
        assert i18n.zone_abbreviation(moment) == abbr
        # A mute window typed into a datetime-local field is read on the same clock the page shows.
        assert _local("2026-03-06T08:00") == mute_from


def test_regency_page_filters_and_explains(viewer: FlaskClient) -> None:
    everything = viewer.get("/regencies/16.71").text
    offline = viewer.get("/regencies/16.71?status=offline").text
    assert everything.count('class="cam cam-') > offline.count('class="cam cam-') > 0
    assert 'class="cam cam-ok' not in offline
    assert "Agen daring" in everything or "agent-1671" in everything
    assert viewer.get("/regencies/99.99").status_code == 404
    grouped = viewer.get("/regencies/16.71?group=Terminal").text
    assert grouped.count('class="cam cam-') >= 1 and "Pasar Induk 2<" not in grouped


def test_hostile_names_render_as_text_everywhere(admin: FlaskClient, seeded: Seeded) -> None:
    pk = seeded.hostile_camera_pk
    for path in ("/", "/regencies/16.71", f"/cameras/{pk}", "/wall?regency=16.71", "/websites", "/rollout"):
        html = admin.get(path).text
        assert not RAW_HOSTILE.search(html), path
    camera_page = admin.get(f"/cameras/{pk}").text
    assert "&lt;script&gt;alert(" in camera_page
    api = admin.get(f"/api/v1/cameras/{pk}").get_json()
    assert api["name"] == HOSTILE_NAME  # JSON carries the text as data, unchanged


def test_camera_page_has_timeline_uptime_and_events(viewer: FlaskClient, seeded: Seeded) -> None:
    html = viewer.get(f"/cameras/{seeded.hostile_camera_pk}").text
    assert 'class="timeline"' in html and "tidak terjangkau" in html
    html = viewer.get(f"/cameras/{seeded.first_camera_pk}").text
    assert html.count('class="meter"') == 3
    assert viewer.get("/cameras/999999").status_code == 404


def test_reason_wording_with_details_and_fallback() -> None:
    from flask import Flask
    from flask_babel import Babel

    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        assert camera_reason("clock_skew", {"offset_h": 3}) == "clock 3 h off"
        assert camera_reason("clock_skew") == "clock off"
        assert camera_reason("frozen") == "frozen image"
        assert camera_reason("auth_failed") == "wrong password"
        assert camera_reason("brand_new_code") == "other reason (brand_new_code)"


def test_unknown_reason_code_reads_indonesian_in_indonesian(viewer: FlaskClient) -> None:
    """A code newer than central's table: a neutral phrase naming it, in the page's language."""
    from flask_babel import force_locale

    from central.web.reasons import website_reason

    with viewer.application.test_request_context("/"):
        with force_locale("id"):
            assert camera_reason("brand_new_code") == "alasan lain (brand_new_code)"
            assert website_reason("brand_new_code") == "alasan lain (brand_new_code)"
        with force_locale("en"):
            assert camera_reason("brand_new_code") == "other reason (brand_new_code)"


def test_clock_skew_badge_names_the_offset(viewer: FlaskClient) -> None:
    assert "clock 3 h off" in viewer.get("/regencies/16.71?lang=en").text
    assert "jam meleset 3 jam" in viewer.get("/regencies/16.71?lang=id").text


def test_admin_edits_the_rollout_plan(admin: FlaskClient) -> None:
    token = csrf_from(admin.get("/rollout").text)
    response = admin.post(
        "/rollout/16.09",
        data={
            "csrf_token": token,
            "target_cameras": "40",
            "target_websites": "12",
            "stage": "box_installed",
            "target_date": "2026-12-01",
            "notes": "Kotak dikirim <b>Senin</b>",
        },
    )
    assert response.status_code == 302
    html = admin.get("/rollout").text
    assert "Kotak dikirim &lt;b&gt;Senin&lt;/b&gt;" in html
    rollout = admin.get("/api/v1/rollout?limit=17").get_json()
    row = next(r for r in rollout["items"] if r["regency"] == "16.09")
    assert (row["target_cameras"], row["stage"], row["recorded_stage"]) == (40, "box_installed", "box_installed")
    bad = admin.post("/rollout/16.09", data={"csrf_token": token, "target_cameras": "-3"})
    assert bad.status_code == 400
    old_word = admin.post("/rollout/16.09", data={"csrf_token": token, "target_cameras": "41", "stage": "pilot"})
    assert old_word.status_code == 400
    row = next(r for r in admin.get("/api/v1/rollout?limit=17").get_json()["items"] if r["regency"] == "16.09")
    assert (row["target_cameras"], row["recorded_stage"]) == (40, "box_installed")


def test_check_now_sends_the_command(
    admin: FlaskClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, object]] = []

    def fake_send(**kwargs: object) -> None:
        sent.append(kwargs)

    import central.web.editing as editing

    monkeypatch.setattr(editing, "_command_sender", lambda: fake_send)
    token = csrf_from(admin.get(f"/cameras/{seeded.first_camera_pk}").text)
    response = admin.post(f"/cameras/{seeded.first_camera_pk}/check", data={"csrf_token": token})
    assert response.status_code == 302
    assert sent and sent[0]["camera_id"] == "cam-0000" and sent[0]["requested_by"] == "admin"


def test_wall_fits_and_rotates(viewer: FlaskClient) -> None:
    html = viewer.get("/wall").text
    assert 'data-next-url="/wall?mode=regency&amp;screen=1&amp;per=24"' in html
    assert "wall-tile" in html
    assert viewer.get("/wall?mode=group").status_code == 200


def _wall_cameras(client: FlaskClient, url: str) -> tuple[list[str], str]:
    html = client.get(url).text
    next_url = re.search(r'data-next-url="([^"]+)"', html)
    assert next_url
    return re.findall(r'data-camera="(\d+)"', html), next_url.group(1).replace("&amp;", "&")


def test_the_wall_pages_through_every_camera_problems_first(viewer: FlaskClient, web_database: Database) -> None:
    with web_database.session() as session:
        expected = {
            str(pk): status
            for pk, status in session.execute(
                select(Camera.id, Camera.status).where(Camera.regency_code == "16.71", Camera.in_service)
            )
        }
    seen: list[str] = []
    url = "/wall?regency=16.71&per=5"
    for _ in range(len(expected)):
        ids, url = _wall_cameras(viewer, url)
        if ids and ids[0] in seen:
            break  # back at the first screen
        seen.extend(ids)
    assert sorted(seen) == sorted(expected), "every camera of the regency appears on some screen, once"
    order = {"offline": 0, "degraded": 1, "unknown": 2, "ok": 3}
    ranks = [order[expected[pk]] for pk in seen]
    assert ranks == sorted(ranks), "problems first, across screens"


def test_the_wall_strip_names_every_regency_with_state_and_labelled_counts(viewer: FlaskClient) -> None:
    html = viewer.get("/wall?lang=id").text
    cells = re.findall(r'<div class="strip-cell health-(\w+)[^"]*" data-regency="([\d.]+)">(.*?)</div>', html, re.S)
    assert len(cells) == 17
    assert {code for _, code, _ in cells} == {r.code for r in all_regencies()}
    ranks = [["critical", "warn", "ok", "inactive"].index(health) for health, _, _ in cells]
    assert ranks == sorted(ranks), "worst first"
    words = {"critical": "kritis", "warn": "perlu perhatian", "ok": "semua baik", "inactive": "belum terintegrasi"}
    for health, _, cell in cells:
        assert words[health] in cell
        if health != "inactive":
            assert re.search(r"\d+ mati · \d+ terganggu", cell), cell


def test_the_wall_rings_for_an_unacknowledged_critical_alert_until_acknowledged(
    admin: FlaskClient, web_database: Database
) -> None:
    now = dt.datetime.now(dt.UTC)
    with web_database.session(write=True) as session:
        session.add(
            AlertRecord(
                alert_id="al-wall-1", key="camera_offline:x", rule="camera_offline", subject_kind="camera",
                subject_id="agent-1671/cam-0001", subject_label="Jembatan Ampera 1", regency_code="16.71",
                severity="critical", started_at=now - dt.timedelta(minutes=75), fired_at=now,
            )
        )
    html = admin.get("/wall?lang=id").text
    assert 'data-alarms="1"' in html and "Jembatan Ampera 1" in html and "1 jam 15 mnt" in html
    token = csrf_from(html)
    assert admin.post("/alerts/al-wall-1/ack", data={"csrf_token": token, "next": "/wall"}).status_code == 302
    html = admin.get("/wall?lang=id").text
    assert 'data-alarms="0"' in html
    assert re.search(r"ditanggapi oleh <strong>admin</strong>", html)


def test_public_status_is_off_by_default_and_anonymous_when_on(
    client: FlaskClient, tmp_path: Path, web_database: Database, seeded: Seeded
) -> None:
    assert client.get("/status").status_code == 404
    app = create_app(
        make_config(tmp_path, str(web_database.url), public_status=True), {"DATABASE": web_database}
    )
    html = app.test_client().get("/status").text
    assert "17" in html and "cam-" not in html and not RAW_HOSTILE.search(html)


def test_operator_sees_edit_form_viewer_does_not(client: FlaskClient, seeded: Seeded) -> None:
    log_in(client, "viewer")
    assert "metadata" not in client.get(f"/cameras/{seeded.first_camera_pk}").text


def test_check_now_with_the_broker_down_tells_the_operator(admin: FlaskClient, seeded: Seeded) -> None:
    """No broker in this test (config points at 127.0.0.1:8883 with no certificates): a message, not a 500."""
    page = f"/cameras/{seeded.first_camera_pk}"
    token = csrf_from(admin.get(page).text)
    response = admin.post(f"{page}/check", data={"csrf_token": token}, follow_redirects=True)
    assert response.status_code == 200
    assert "Pemeriksaan tidak dapat dikirim" in response.text


def test_language_links_keep_the_filters(viewer: FlaskClient) -> None:
    html = viewer.get("/regencies/16.71?status=offline").text
    assert re.search(r'href="/regencies/16\.71\?status=offline&amp;lang=en"', html)


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_a_regency_page_lists_what_it_counts_not_the_provinces_own_cameras(database: Database, tmp_path: Path) -> None:
    """[province] agents' cameras are "16"'s (the tile counts them there): the page of their certificate's
    regency lists none of them, nor offers their OPDs; without [province] agents it lists them all. On
    PostgreSQL too: its menus' query (DISTINCT, ordered) once failed there."""
    from central.config import ProvinceConfig
    from tests.central.web.seed import seed

    seed(database)
    web_database = database

    config = make_config(tmp_path, str(web_database.url))
    with web_database.engine.connect() as conn:
        lahat = set(conn.execute(select(Camera.id).where(Camera.agent_name == "agent-1674")).scalars())
    for agents, expected in (([], lahat), (["agent-1674"], set())):
        app = create_app(config.model_copy(update={"province": ProvinceConfig(agents=agents)}),
                         {"TESTING": True, "DATABASE": web_database, "SECRET_KEY": "t"})  # fmt: skip
        client = app.test_client()
        log_in(client, "viewer")
        html = client.get("/regencies/16.74").text
        assert {int(pk) for pk in re.findall(r'data-camera="(\d+)"', html)} == expected, agents
        opds = re.search(r'<select name="opd">(.*?)</select>', html, re.S)
        assert opds and (opds.group(1).count("<option") > 1) == bool(expected), agents


def test_a_province_cameras_page_names_the_provinces_offices_not_its_certificates_regency(
    web_database: Database, seeded: Seeded, tmp_path: Path
) -> None:
    """Its breadcrumb names its owner, as the lists file it: the province's own offices (no regency page to
    link to), not the regency on its agent's certificate, whose page does not list it."""
    from central.config import ProvinceConfig

    config = make_config(tmp_path, str(web_database.url))
    with web_database.engine.connect() as conn:
        pk = conn.execute(select(Camera.id).where(Camera.agent_name == "agent-1674")).scalars().first()
    for agents, crumb in (([], '<a href="/regencies/16.74">Kota Prabumulih</a>'),
                          (["agent-1674"], "<span>Pemprov Sumsel</span>")):
        app = create_app(config.model_copy(update={"province": ProvinceConfig(name="Pemprov Sumsel", agents=agents)}),
                         {"TESTING": True, "DATABASE": web_database, "SECRET_KEY": "t"})  # fmt: skip
        client = app.test_client()
        log_in(client, "viewer")
        crumbs = re.search(r'<nav class="crumbs">(.*?)</nav>', client.get(f"/cameras/{pk}").text, re.S)
        assert crumbs and crumb in crumbs.group(1), (agents, crumbs and crumbs.group(1))
        assert ("/regencies/16.74" in crumbs.group(1)) == (not agents)
