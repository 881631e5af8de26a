"""The video wall: a full-screen grid of live thumbnails that rotates through regencies or groups."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue

from central.storage import queries
from central.web import scope
from central.web.auth import login_required
from central.web.database import db_session
from central.web.pages import province_rollup
from central.web.reasons import details_for
from shared.regencies import is_regency_code

bp = Blueprint("wall", __name__)

TILES_PER_SCREEN = 24


def _screens(mode: str) -> list[tuple[str, str | None]]:
    """The (regency, group) pairs the wall rotates through, in order."""
    if mode == "group":
        return [(code, venue) for code, venue in queries.camera_groups(db_session(), scope.within())]
    rollup = province_rollup()
    return [(r.code, None) for r in rollup.regencies if r.cameras_total and scope.sees(r.code)]


@bp.route("/wall")
@login_required
def wall() -> ResponseReturnValue:
    mode = "group" if request.args.get("mode") == "group" else "regency"
    fixed = request.args.get("regency")
    if fixed and is_regency_code(fixed):
        scope.require(fixed, f"regency {fixed}")
    screens = [(fixed, None)] if fixed and is_regency_code(fixed) else _screens(mode)
    index = request.args.get("screen", 0, type=int) or 0
    index = index % len(screens) if screens else 0
    regency, group = screens[index] if screens else (None, None)
    cameras = []
    session = db_session()
    if regency:
        filters = queries.CameraFilter(regency=regency, group=group)
        cameras = queries.list_cameras(session, filters, TILES_PER_SCREEN)
    pks = [c.id for c in cameras]
    checks = queries.latest_check_details(
        session, [c.id for c in cameras if c.status not in ("ok", "unknown")]
    )
    next_args: dict[str, object] = {"mode": mode, "screen": index + 1}
    if fixed:
        next_args = {"regency": fixed}
    summary = province_rollup().by_code.get(regency) if regency else None
    return render_template(
        "wall.html",
        cameras=cameras,
        shas=queries.latest_thumbnail_shas(session, pks),
        details={c.id: details_for(checks.get(c.id), c.reason) for c in cameras},
        summary=summary,
        group=group,
        rollup=province_rollup() if scope.province_wide() else None,  # province totals: province accounts
        screen=index,
        screens=len(screens),
        next_url=url_for("wall.wall", **next_args),  # type: ignore[arg-type]
        rotate_s=current_app.config["WALL_ROTATE_S"],
        now=dt.datetime.now(dt.UTC),
    )
