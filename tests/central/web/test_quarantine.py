"""Refused reports are visible: the admin page, the API, and the flags on the agent's regency page (issue 15)."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy import update

from central.api.openapi import build_openapi
from central.ingest.agents import AgentDirectory
from central.ingest.store import BatchWriter, Received
from central.storage.db import Database
from central.storage.models import Agent
from tests.central import factories as f
from tests.central.api.test_v1 import bearer, validate
from tests.central.web.seed import Seeded

AGENT = "agent-1671"


def refuse_some(database: Database) -> None:
    """Reports refused the way the ingest refuses them: a camera never inventoried, a clock 50 min ahead."""
    writer = BatchWriter(database, AgentDirectory.fixed(f.registry({AGENT: "16.71"})))
    now = dt.datetime.now(dt.UTC)
    ghost = f.camera_status(AGENT, "ghost-cam", "ok", now)
    ahead = f.camera_status(AGENT, "cam-0000", "ok", now + dt.timedelta(minutes=50))
    result = writer.write([Received(*f.wire(ghost), now), Received(*f.wire(ahead), now)])
    assert result.quarantined == 2, result


def test_the_admin_page_counts_refusals_per_agent_and_reason_with_examples(
    admin: FlaskClient, web_database: Database
) -> None:
    refuse_some(web_database)
    page = admin.get("/quarantine").get_data(as_text=True)
    assert "unknown_camera" in page and "clock_ahead" in page
    assert "camera &#39;ghost-cam&#39; is in no inventory of agent &#39;agent-1671&#39;" in page
    assert f"/quarantine?agent={AGENT}" in page
    one = admin.get(f"/quarantine?agent={AGENT}")
    assert one.status_code == 200 and "ghost-cam" in one.get_data(as_text=True)


def test_the_api_gives_counts_and_examples_to_administrators_only(
    admin: FlaskClient, client: FlaskClient, seeded: Seeded, web_database: Database
) -> None:
    refuse_some(web_database)
    body = admin.get(f"/api/v1/quarantine?agent={AGENT}&limit=5").get_json()
    validate(build_openapi(), "/quarantine", body)
    assert {(c["agent"], c["category"], c["messages"]) for c in body["counts"]} == {
        (AGENT, "unknown_camera", 1), (AGENT, "clock_ahead", 1)}
    assert {r["category"] for r in body["recent"]} == {"unknown_camera", "clock_ahead"}
    assert all("payload" not in r for r in body["recent"])
    assert client.get("/api/v1/quarantine", headers=bearer(seeded)).status_code == 403  # a third party's token
    assert admin.get("/api/v1/quarantine?since=yesterday").status_code == 400


def test_the_regency_page_flags_an_agent_whose_clock_is_off_and_whose_reports_are_refused(
    admin: FlaskClient, web_database: Database
) -> None:
    refuse_some(web_database)
    with web_database.session() as session:
        agent = session.get(Agent, AGENT)
        assert agent is not None and agent.clock_ahead_s >= 2999 and agent.clock_off_since is not None
    page = admin.get("/regencies/16.71").get_data(as_text=True)
    assert "flag-clock" in page and "flag-refused" in page
    with web_database.session(write=True) as session:
        session.execute(update(Agent).where(Agent.name == AGENT).values(clock_ahead_s=0.0, clock_off_since=None))
    assert "flag-clock" not in admin.get("/regencies/16.71").get_data(as_text=True)
