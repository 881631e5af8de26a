"""The pages people read: province overview, a regency, a camera, the websites and the rollout."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from central.site_names import website_title
from central.storage import queries
from central.storage.models import Camera, Website
from central.storage.quarantine import refusing_agents
from central.web import cartogram, charts, i18n, scope
from central.web.auth import login_required
from central.web.database import db_session
from central.web.params import MAX_OFFSET, int_arg
from central.web.province import ProvinceRollup, RegencyRollup, province_rollup
from central.web.reasons import details_for
from central.web.thumbnails import thumbnail_response
from shared.regencies import PROVINCE_CODE, is_regency_code

bp = Blueprint("pages", __name__)


@bp.record_once
def _register_site_names(state: Any) -> None:
    # The websites page, a regency's sites and website alerts all name a site the same way.
    state.app.jinja_env.globals["website_title"] = website_title

CAMERAS_PER_PAGE = 120
MAX_PAGE = MAX_OFFSET // CAMERAS_PER_PAGE
LONGEST_DOWN_LISTED = 10


def province_agents() -> tuple[str, ...]:
    """The agents reporting for the province's own offices (central.toml [province] agents)."""
    return tuple(current_app.config["SCC"].province.agents)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@bp.route("/")
@login_required
def overview() -> ResponseReturnValue:
    visible = scope.visible_regencies()
    if visible is not None:  # the province is for province accounts; a regency's home is its own page
        return redirect(url_for("pages.regency", code=min(visible)))
    rollup = province_rollup()
    return render_template(
        "overview.html",
        rollup=rollup,
        longest_down=queries.longest_down(db_session(), LONGEST_DOWN_LISTED),
        tiles=cartogram.tiles(),
        view_box=cartogram.view_box(),
        now=_now(),
    )


@bp.route("/regencies/<code>")
@login_required
def regency(code: str) -> ResponseReturnValue:
    if not is_regency_code(code):
        abort(404)
    scope.require(code, f"regency {code}")
    session = db_session()
    summary = province_rollup().by_code[code]
    filters = queries.CameraFilter(
        regency=code,
        status=request.args.get("status") or None,
        opd=request.args.get("opd") or None,
        group=request.args.get("group") or None,
        search=(request.args.get("q") or "").strip()[:64] or None,
        province_agents=province_agents(),  # theirs are the province's offices', as the counts above say
    )
    page = int_arg("page", 1, 1, MAX_PAGE)
    total = queries.count_cameras(session, filters)
    cameras = queries.list_cameras(session, filters, CAMERAS_PER_PAGE, (page - 1) * CAMERAS_PER_PAGE)
    pks = [c.id for c in cameras]
    troubled = [c.id for c in cameras if c.status not in ("ok", "unknown")]
    checks = queries.latest_check_details(session, troubled)
    details = {c.id: details_for(checks.get(c.id), c.reason) for c in cameras}
    opds, groups = queries.camera_facets(session, code, province_agents())
    websites = list(session.scalars(queries.websites_query(code, province_agents=province_agents())))
    return render_template(
        "regency.html",
        summary=summary,
        agents=queries.regency_agents(session, code),
        refusing=refusing_agents(session, _now()),
        quarantine_link=scope.province_wide(),  # the quarantine page is a province account's
        cameras=cameras,
        details=details,
        thumbs=queries.camera_ids_with_thumbnails(session, pks),
        filters=filters,
        opds=opds,
        groups=groups,
        total=total,
        page=page,
        pages=max((total + CAMERAS_PER_PAGE - 1) // CAMERAS_PER_PAGE, 1),
        websites=websites,
        now=_now(),
    )


def get_camera(pk: int) -> Camera:
    """The camera, if it exists and its owner is in the caller's regencies; else 404.

    Its owner (:func:`queries.owner_code`), as alerts, reports and the API's lists scope: a camera the
    province's own agents report is "16"'s, for province-wide callers, whatever its certificate's regency.
    """
    camera = db_session().get(Camera, pk)
    if camera is None or not scope.sees(queries.owner_code(camera.agent_name, camera.regency_code, province_agents())):
        abort(404, description=f"no camera {pk}")
    return camera


@bp.route("/cameras/<int:pk>")
@login_required
def camera(pk: int) -> ResponseReturnValue:
    session = db_session()
    cam = get_camera(pk)
    now = _now()
    since = now - dt.timedelta(hours=24)
    periods = queries.camera_timeline(session, pk, now - dt.timedelta(days=7))
    checks = queries.latest_check_details(session, [pk]).get(pk, [])
    rollup = province_rollup()
    # Its owner's, as the lists and counts file it: the province's own offices have no regency page.
    owner = queries.owner_code(cam.agent_name, cam.regency_code, province_agents())
    return render_template(
        "camera.html",
        camera=cam,
        owner_code=owner,
        summary=rollup.offices if owner == PROVINCE_CODE else rollup.by_code.get(owner),
        reason_details=details_for(checks, cam.reason),
        checks=checks,
        thumbnail=queries.latest_thumbnail_meta(session, pk),
        timeline_24h=charts.timeline([(p.status, p.started_at, p.ended_at) for p in periods], since, now),
        timeline_7d=charts.timeline(
            [(p.status, p.started_at, p.ended_at) for p in periods], now - dt.timedelta(days=7), now
        ),
        periods=list(reversed(periods))[:15],
        uptimes=queries.camera_uptime(session, pk, now),
        events=queries.recent_events(session, limit=15, camera_pk=pk),
        commands=queries.recent_commands(session, agent=cam.agent_name, camera_id=cam.camera_id, limit=5),
        now=now,
    )


@bp.route("/cameras/<int:pk>/thumbnail.jpg")
@login_required
def camera_thumbnail(pk: int) -> ResponseReturnValue:
    get_camera(pk)
    return thumbnail_response(pk)


@bp.route("/websites")
@login_required
def websites() -> ResponseReturnValue:
    session = db_session()
    regency_code = request.args.get("regency") or None
    province = regency_code == PROVINCE_CODE and bool(province_agents())
    if regency_code and not (province or is_regency_code(regency_code)):
        regency_code = None
    state = request.args.get("state") or None
    query = queries.websites_query(
        regency_code, state, province_agents=province_agents(), province=province, within=scope.within()
    )
    rows: list[Website] = list(session.scalars(query))
    now = _now()
    uptime_30d = queries.website_uptimes(session, [w.id for w in rows], now, dt.timedelta(days=30))
    return render_template(
        "websites.html",
        websites=rows,
        worst_kept=worst_kept_owners(province_rollup()),
        uptime_30d=uptime_30d,
        rollup=province_rollup(),
        regency_code=regency_code,
        state=state,
        now=now,
    )


def worst_kept_owners(rollup: ProvinceRollup) -> list[RegencyRollup]:
    """Regencies and the province's offices with websites, the largest share down or stale first (leaders' view)."""
    owners = [r for r in rollup.owners if r.websites_total]
    return sorted(
        owners,
        key=lambda r: (-(r.websites_down + r.websites_stale) / r.websites_total, -r.websites_down, r.code),
    )


@bp.route("/rollout")
@login_required
def rollout() -> ResponseReturnValue:
    scope.require_province()
    session = db_session()
    rollup = province_rollup()
    series = charts.rollout_series(session, rollup, _now(), i18n.local_zone(), province_agents=province_agents())
    return render_template("rollout.html", rollup=rollup, chart=charts.progress_chart(series), now=_now())
