"""Alert words in the page's language, websites named by their office, and a reports page that opens on data."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from central.alerts.service import AlertService
from central.reports.periods import current_month
from central.site_names import host_name, website_title
from central.storage.db import Database
from central.storage.models import Website
from tests.central.web.conftest import csrf_from

BADGE = re.compile(r'class="badge badge-[a-z]+">([^<]+)<')


def _site(**fields: str) -> Website:
    base = {"owner_opd": "", "reported_opd": "", "display_name": "", "url": "", "website_id": "web-1"}
    return Website(**(base | fields))


def test_a_website_is_named_by_its_office_else_its_host() -> None:
    url = "https://www.dishub.palembang.go.id/berita?id=1"
    assert (
        website_title(_site(owner_opd="Dinas Perhubungan", reported_opd="Dishub", url=url))
        == "Dinas Perhubungan"
    )
    assert website_title(_site(reported_opd="Diskominfo", url=url)) == "Diskominfo"
    assert website_title(_site(url=url)) == "dishub.palembang.go.id"
    assert website_title(_site(url="http://[bad")) == "web-1"
    assert host_name("dinkes.go.id/x") == "dinkes.go.id"


def test_website_lists_put_the_office_first_and_the_url_second(
    viewer: FlaskClient, web_database: Database
) -> None:
    with web_database.session(write=True) as session:
        session.execute(
            update(Website)
            .where(Website.regency_code == "16.71", Website.website_id == "web-0")
            .values(reported_opd="")
        )
    for page in ("/websites", "/regencies/16.71"):
        html = viewer.get(page).text
        labels = re.findall(
            r'<span class="site-label">([^<]+)</span><span class="site-url">([^<]+)</span>', html
        )
        assert ("Dinas Kesehatan", "https://kesehatan.1671.go.id/") in labels, page
        assert ("perhubungan.1671.go.id", "https://perhubungan.1671.go.id/") in labels, page


def test_alert_words_follow_the_language(app: Flask, admin: FlaskClient, web_database: Database) -> None:
    AlertService(app.config["SCC"], web_database).evaluate_once()
    english = set(BADGE.findall(admin.get("/alerts/?lang=en").text))
    assert english & {"warning", "critical"} and "firing" in english
    indonesian = admin.get("/alerts/?lang=id").text
    words = set(BADGE.findall(indonesian))
    assert not words & {"warning", "critical", "info", "firing", "resolved"}, words
    assert "menyala" in words and words & {"waspada", "kritis"}
    # A website alert names the office, with its address under it.
    assert '<span class="site-label">Dinas Kesehatan</span>' in indonesian

    token = csrf_from(admin.get("/alerts/channels").text)
    admin.post("/alerts/channels", data={"csrf_token": token, "name": "hook", "kind": "webhook",
                                          "url": "https://hooks.example/scc"})  # fmt: skip
    admin.post("/alerts/channels/hook/test", data={"csrf_token": token})
    channels = admin.get("/alerts/channels?lang=id").text
    assert "menunggu" in BADGE.findall(channels) and "pending" not in BADGE.findall(channels)
    assert '<option value="warning" selected>waspada</option>' in channels


def test_reports_open_on_the_month_so_far(admin: FlaskClient) -> None:
    this_month = current_month(datetime.now(UTC), admin.application.config["SCC"].reports.timezone)
    html = admin.get("/reports/?lang=id").text
    assert f"{this_month.label('id')} (sampai hari ini)" in html
    assert "Belum ada data untuk periode ini." not in html
    assert 'href="?period=' in html  # last month and last week stay one click away
    empty = admin.get("/reports/?period=2020-01&lang=id").text
    assert "Belum ada data untuk periode ini." in empty
