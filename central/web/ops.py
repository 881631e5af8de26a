"""Machine endpoints: /healthz for load balancers and systemd checks, /metrics for Prometheus."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select, text

from central.storage.models import Camera, IngestCounter
from central.storage.queries import CAMERA_STATES, WEBSITE_STATES, change_feed_position
from central.web.database import db_session, get_database
from central.web.pages import province_rollup

log = logging.getLogger(__name__)
bp = Blueprint("ops", __name__)
_STARTED = time.time()


def _scrubbed(error: Exception) -> str:
    """The error's text without the database password, should a driver echo its connection string."""
    message = f"{type(error).__name__}: {error}"
    password = get_database().url.password
    return message.replace(str(password), "***") if password else message


@bp.route("/healthz")
def healthz() -> ResponseReturnValue:
    try:
        db_session().execute(text("SELECT 1"))
    except Exception as error:  # report, do not raise: the checker wants a status code
        # The driver's text names hosts, users and SQL; it goes to the log, not to anyone who asks.
        log.warning("healthz: database unavailable: %s", _scrubbed(error))
        return jsonify(status="error", database="unavailable"), 503
    return jsonify(status="ok", database="ok")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _metric(
    lines: list[str], name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]
) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        rendered = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
        lines.append(f"{name}{{{rendered}}} {value:g}" if rendered else f"{name} {value:g}")


@bp.route("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus text exposition (version 0.0.4), written by hand: a few gauges need no client library.

    Open like /healthz: it holds counts per regency only, never a name a camera or agent sent.
    """
    session = db_session()
    rollup = province_rollup()
    lines: list[str] = []
    camera_samples = []
    website_samples = []
    agent_samples = []
    for r in rollup.regencies:
        for status in CAMERA_STATES:
            camera_samples.append(
                ({"regency": r.code, "status": status}, float(getattr(r, f"cameras_{status}")))
            )
        for state in WEBSITE_STATES:
            website_samples.append(
                ({"regency": r.code, "state": state}, float(getattr(r, f"websites_{state}")))
            )
        agent_samples.append(({"regency": r.code}, float(r.agents_online)))
    _metric(lines, "scc_cameras", "gauge", "Cameras by regency and current status.", camera_samples)
    _metric(lines, "scc_websites", "gauge", "OPD websites by regency and current state.", website_samples)
    _metric(lines, "scc_agents_online", "gauge", "Edge agents online per regency.", agent_samples)
    _metric(
        lines,
        "scc_regencies_integrated",
        "gauge",
        "Regencies whose agent has reported.",
        [({}, float(rollup.regencies_integrated))],
    )
    _metric(
        lines,
        "scc_events_last_id",
        "gauge",
        "Newest change-feed id.",
        [({}, float(change_feed_position(session)))],
    )
    newest = session.scalar(select(func.max(Camera.last_check_at)))
    if newest is not None:
        _metric(
            lines,
            "scc_camera_last_check_timestamp_seconds",
            "gauge",
            "Newest camera report.",
            [({}, newest.timestamp())],
        )
    counters = [({"name": c.name}, float(c.value)) for c in session.scalars(select(IngestCounter))]
    if counters:
        _metric(lines, "scc_ingest_counter", "counter", "Ingest running totals.", counters)
    _metric(lines, "scc_web_start_time_seconds", "gauge", "When this web worker started.", [({}, _STARTED)])
    response = Response("\n".join(lines) + "\n", mimetype="text/plain")
    response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response
