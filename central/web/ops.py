"""Machine endpoints: /healthz for load balancers and systemd checks, /metrics for Prometheus."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from central.storage.models import Camera, IngestCounter
from central.storage.outage import disk_space
from central.storage.queries import change_feed_position
from central.web.database import db_session, get_database
from central.web.province import ProvinceRollup, province_rollup

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
    space = disk_space(get_database().url)
    if space is not None and space.full:
        # Still 200: pages and the API read on, and a load balancer must not take this instance out for it.
        # What cannot be stored waits (the ingest leaves it unacknowledged); the operator must make room.
        return jsonify(status="degraded", database="disk full")
    return jsonify(status="ok", database="ok")


class _StoredFigures:
    """A prometheus_client collector over what the database says now: built per scrape, never registered globally.

    Every web worker answers with the same figures (they come from the database, not from the worker), so no
    multiprocess registry is needed; only the start time is the answering worker's own.
    """

    def __init__(self, session: Session, rollup: ProvinceRollup) -> None:
        self._session = session
        self._rollup = rollup

    def collect(self) -> Iterator[Metric]:
        rollup, session = self._rollup, self._session
        # Per owner, as the overview's cards: the 17 regencies and (regency="16") the province's own offices.
        cameras = GaugeMetricFamily("scc_cameras", "Cameras by regency (16: the province's offices) and current "
                                    "status.", labels=["regency", "status"])
        websites = GaugeMetricFamily("scc_websites", "OPD websites by regency (16: the province's offices) and "
                                     "current state.", labels=["regency", "state"])
        agents = GaugeMetricFamily("scc_agents_online", "Edge agents online per regency (16: the province's "
                                   "offices).", labels=["regency"])
        for r in rollup.owners:
            for status, count in r.cameras_by_status.items():
                cameras.add_metric([r.code, status], count)
            for state, count in r.websites_by_state.items():
                websites.add_metric([r.code, state], count)
            agents.add_metric([r.code], r.agents_online)
        yield from (cameras, websites, agents)
        yield GaugeMetricFamily("scc_regencies_integrated", "Regencies whose agent has reported.",
                                value=rollup.regencies_integrated)
        yield GaugeMetricFamily("scc_events_last_id", "Newest change-feed id.", value=change_feed_position(session))
        newest = session.scalar(select(func.max(Camera.last_check_at)))
        if newest is not None:
            yield GaugeMetricFamily("scc_camera_last_check_timestamp_seconds", "Newest camera report.",
                                    value=newest.timestamp())
        ingest = CounterMetricFamily("scc_ingest", "Ingest running totals, by counter.", labels=["name"])
        for counter in session.scalars(select(IngestCounter).order_by(IngestCounter.name)):
            ingest.add_metric([counter.name], counter.value)
        yield ingest
        yield GaugeMetricFamily("scc_web_start_time_seconds", "When this web worker started.", value=_STARTED)
        space = disk_space(get_database().url)
        if space is not None:  # SQLite only: PostgreSQL's disk is its server's to watch
            yield GaugeMetricFamily("scc_database_disk_free_bytes", "Free space on the SQLite database's "
                                    "filesystem; below 4 MiB writes are refused (disk full).", value=space.free_bytes)
            yield GaugeMetricFamily("scc_database_disk_size_bytes", "Size of the SQLite database's filesystem.",
                                    value=space.total_bytes)


@bp.route("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus text exposition (0.0.4) through prometheus_client: exact values, types and help.

    Open like /healthz: it holds counts per regency only, never a name a camera or agent sent.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StoredFigures(db_session(), province_rollup()))
    response = Response(generate_latest(registry), mimetype="text/plain")
    response.headers["Content-Type"] = CONTENT_TYPE_PLAIN_0_0_4
    response.headers["Cache-Control"] = "no-store"
    return response
