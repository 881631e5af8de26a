"""Operators edit camera metadata, retire cameras and ask an agent to check one now; admins edit the rollout plan."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from central.storage.models import RolloutStage
from central.storage.queries import retire_camera, update_camera_metadata, update_rollout
from central.web import scope
from central.web.accounts import Role
from central.web.auth import current_user, role_required
from central.web.database import db_session, get_database, released
from central.web.pages import get_camera
from central.web.province import clear_province_rollup
from shared.regencies import is_regency_code

bp = Blueprint("editing", __name__)
log = logging.getLogger(__name__)

CAMERA_TEXT_FIELDS = {"display_name": 256, "owner_opd": 256, "location": 256, "venue": 256}
NOTES_LIMIT = 4000


def _text(name: str, limit: int) -> str:
    # Strip control characters: an operator's paste must not smuggle line breaks into one-line fields.
    value = "".join(ch for ch in request.form.get(name, "") if ch.isprintable()).strip()
    return value[:limit]


def _optional_float(name: str, low: float, high: float) -> float | None:
    raw = request.form.get(name, "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        abort(400, description=f"{name} must be a number")
    if not low <= value <= high:
        abort(400, description=f"{name} must be between {low} and {high}")
    return value


@bp.route("/cameras/<int:pk>/metadata", methods=["POST"])
@role_required(Role.OPERATOR)
def camera_metadata(pk: int) -> ResponseReturnValue:
    session = db_session()
    get_camera(pk)
    values: dict[str, object] = {field: _text(field, limit) for field, limit in CAMERA_TEXT_FIELDS.items()}
    values["latitude"] = _optional_float("latitude", -90, 90)
    values["longitude"] = _optional_float("longitude", -180, 180)
    values["tags"] = sorted({t.strip()[:64] for t in request.form.get("tags", "").split(",") if t.strip()})[
        :20
    ]
    values["notes"] = request.form.get("notes", "")[:NOTES_LIMIT]
    update_camera_metadata(session, pk, **values)
    session.commit()
    flash(_("Camera details saved."), "ok")
    return redirect(url_for("pages.camera", pk=pk))


@bp.route("/cameras/<int:pk>/retire", methods=["POST"])
@role_required(Role.OPERATOR)
def camera_retire(pk: int) -> ResponseReturnValue:
    """Take the camera out of every total, alert and report from now on; its history stays."""
    session = db_session()
    get_camera(pk)
    user = current_user()
    retire_camera(session, pk, retired_by=user.name if user else "")
    session.commit()
    clear_province_rollup()
    flash(_("Camera retired: it no longer counts in totals, alerts or reports."), "ok")
    return redirect(url_for("pages.camera", pk=pk))


def _command_sender() -> Callable[..., object]:
    """The function that records and publishes a command (the storage engineer's, bound to our config)."""
    from central.remote_commands import send_command

    config = current_app.config["SCC"]
    database = get_database()

    def send(**kwargs: Any) -> object:
        return send_command(config, database=database, **kwargs)

    return send


@bp.route("/cameras/<int:pk>/check", methods=["POST"])
@role_required(Role.OPERATOR)
def camera_check_now(pk: int) -> ResponseReturnValue:
    """Publish check_now to the camera's agent; the result arrives via the ingest and the live feed."""
    camera = get_camera(pk)
    user = current_user()
    try:
        # send_command writes in its own sessions and waits for the broker: not while holding the
        # request's transaction, which on SQLite is the write lock the ingest needs.
        with released():
            _command_sender()(
                agent=camera.agent_name,
                name="check_now",
                camera_id=camera.camera_id,
                requested_by=user.name if user else "",
            )
    except Exception as error:  # the broker may be down; the operator must hear about it, not get a 500
        log.warning("check now for camera %s failed: %s", pk, error)
        flash(_("The check could not be sent: %(error)s", error=str(error)[:200]), "error")
    else:
        flash(_("Check requested; the result appears below when the agent answers."), "ok")
    return redirect(url_for("pages.camera", pk=pk))


def _optional_date(name: str) -> dt.date | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        abort(400, description=f"{name} must be a date (YYYY-MM-DD)")


def _count(name: str) -> int:
    raw = request.form.get(name, "0").strip() or "0"
    # Short ASCII digits only: "²" is a digit to isdigit() but not to int(), and 5,000 digits exceed int()'s limit.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or int(raw) > 100_000:
        abort(400, description=f"{name} must be a whole number up to 100000")
    return int(raw)


@bp.route("/rollout/<code>", methods=["POST"])
@role_required(Role.ADMIN)
def rollout_edit(code: str) -> ResponseReturnValue:
    if not is_regency_code(code):
        abort(404)
    scope.require(code, f"regency {code}")
    session = db_session()
    values: dict[str, object] = {
        "target_cameras": _count("target_cameras"),
        "target_websites": _count("target_websites"),
        "planned_start": _optional_date("planned_start"),
        "started_on": _optional_date("started_on"),
        "target_date": _optional_date("target_date"),
        "completed_on": _optional_date("completed_on"),
        "notes": request.form.get("notes", "")[:NOTES_LIMIT],
    }
    if "stage" in request.form:
        try:
            values["stage"] = RolloutStage(request.form["stage"])
        except ValueError:
            abort(400, description="unknown rollout stage")
    user = current_user()
    update_rollout(session, code, updated_by=user.name if user else "", **values)
    session.commit()
    clear_province_rollup()
    flash(_("Rollout plan saved."), "ok")
    return redirect(url_for("pages.rollout") + f"#r-{code}")
