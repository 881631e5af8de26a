"""Every page rendered in Bahasa Indonesia carries no English UI text.

The text a person reads (text nodes, plus title, aria-label, placeholder and alt) is searched for
English words that only an untranslated UI string would bring. Text marked as another language
(``lang="en"``, e.g. an agent's raw message shown as a detail) or ``translate="no"`` (names, URLs,
codes) is what the data says and is left out.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient

from central.alerts.tables import AlertRecord
from central.storage.db import Database
from tests.central.web.seed import HOSTILE_NAME, Seeded

# Words that appear in SCC's English UI strings and in no Indonesian ones.
ENGLISH = re.compile(
    r"\b(the|and|of|with|since|ago|hours?|days?|not found|unchanged|previous|firing|degraded|unknown|"
    r"until|lifted|mute|acknowledge[ds]?|requests?|drops|accepts|page|error|cameras?|websites?|"
    r"min|regency|alerts?|report|uptime|integrated|offline since|online since|last seen|http 5xx|"
    r"resolved|pending|sent|failed|warning|stale|fresh|down|up)\b",
    re.IGNORECASE,
)
SKIPPED_TAGS = {"script", "style", "code", "pre", "template"}
READ_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")


class VisibleText(HTMLParser):
    """Collects what a person reads, leaving out foreign-language and do-not-translate parts."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []  # per open element: is its content excluded?
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        excluded = bool(self.stack and self.stack[-1]) or tag in SKIPPED_TAGS
        excluded = excluded or values.get("translate") == "no" or (values.get("lang") or "id") != "id"
        if not excluded:
            self.texts.extend(str(values[a]) for a in READ_ATTRIBUTES if values.get(a))
        if tag not in self.VOID:
            self.stack.append(excluded)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]) and data.strip():
            self.texts.append(data.strip())


def english_in(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    # The seed's hostile camera name is data (an attack on the markup), not UI text.
    return sorted({text for text in parser.texts if ENGLISH.search(text) and HOSTILE_NAME not in text})


@pytest.fixture
def firing_alert(web_database: Database, seeded: Seeded) -> str:
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    with web_database.session(write=True) as session:
        session.add(
            AlertRecord(
                alert_id="al-id-1", key="camera_offline:x", rule="camera_offline", subject_kind="camera",
                subject_id="agent-1671/cam-0001", subject_label="Jembatan Ampera 1", regency_code="16.71",
                severity="critical", started_at=now - dt.timedelta(hours=4), fired_at=now,
                message="offline: 127.20.0.4:44115 accepts TCP but drops HTTP requests",
            )
        )
        # The camera's history: a status change as the ingest records it (English codes in the row).
        from central.storage.models import Event

        session.add(
            Event(
                ts=now, created_at=now, kind="camera_status", regency_code="16.71", camera_pk=seeded.first_camera_pk,
                old_state="degraded", new_state="offline", reason="snapshot_timeout",
            )
        )
    return "al-id-1"


def pages(seeded: Seeded, alert_id: str) -> list[str]:
    return [
        "/",
        "/regencies/16.71",
        "/regencies/16.07",
        f"/cameras/{seeded.first_camera_pk}",
        "/websites",
        "/rollout",
        "/wall?per=24",
        "/alerts/",
        "/alerts/?status=resolved",
        f"/alerts/{alert_id}",
        "/alerts/channels",
        "/reports/",
        "/no-such-page",
    ]


def test_every_page_in_indonesian_has_no_english_ui_text(
    admin: FlaskClient, seeded: Seeded, firing_alert: str
) -> None:
    found = {}
    for path in pages(seeded, firing_alert):
        response = admin.get(path, headers={"Accept-Language": "id"})
        assert response.status_code in (200, 404), (path, response.status_code)
        leaks = english_in(response.text)
        if leaks:
            found[path] = leaks
    assert not found, "\n".join(f"{path}: {leaks}" for path, leaks in found.items())


def test_the_login_page_in_indonesian(client: FlaskClient) -> None:
    assert english_in(client.get("/login").text) == []


def test_the_detector_finds_english() -> None:
    assert english_in('<p>offline since 9 min</p><p lang="en">raw agent message</p>') == ["offline since 9 min"]
    assert english_in('<p translate="no">Website of the regency</p><p>Situs web</p>') == []


def test_reports_follow_the_session_language_with_local_numbers(admin: FlaskClient) -> None:
    admin.get("/?lang=en")  # the person switches the pages to English
    english = admin.get("/reports/").text
    admin.get("/?lang=id")
    indonesian = admin.get("/reports/").text
    assert english != indonesian
    assert 'lang="en"' in english and 'lang="id"' in indonesian
    assert re.search(r"\d,\d\d\s?%", indonesian), "decimal comma in the Indonesian report"
    assert not re.search(r"\d\.\d\d\s?%", indonesian)
