"""/api/v1: read-only JSON for the web's own pages and third parties (bearer tokens), paginated."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from central.api import schemas as s
from central.api.openapi import build_openapi
from central.storage import queries
from central.storage.models import Camera, Event, EventKind, Website
from central.web import scope
from central.web.accounts import ApiToken, Scope, token_by_secret
from central.web.auth import current_role
from central.web.database import db_session, write_transaction
from central.web.pages import get_camera, province_agents
from central.web.params import MAX_ID, MAX_OFFSET, int_arg
from central.web.province import RegencyRollup, province_rollup
from central.web.reasons import camera_reason, details_for
from central.web.thumbnails import thumbnail_response
from shared.messages import utc_now
from shared.regencies import PROVINCE_CODE, is_regency_code

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

DEFAULT_LIMIT = 50
MAX_HISTORY_DAYS = 3660  # ten years: longer than any history is kept
MAX_LIMIT = 500
_TOKEN_TOUCH_S = 60  # write last_used_at at most this often per token


@bp.before_request
def authenticate() -> None:
    """Bearer token (third parties) or the web session; everything here is read-only."""
    if request.endpoint == "api.openapi":
        return
    if request.method not in ("GET", "HEAD"):
        abort(405)
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":  # auth schemes are case-insensitive (RFC 7235 section 2.1)
        session = db_session()
        token = token_by_secret(session, credentials.strip())
        if token is None:
            abort(401, description="unknown or revoked token")
        now = utc_now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > _TOKEN_TOUCH_S:
            _touch_token(token.id, now)
        g.api_client = f"token:{token.name}"
        g.api_scopes = frozenset(token.scopes)
        g.api_token = token
        return
    if current_role() is None:
        abort(401, description="send 'Authorization: Bearer <token>' or log in")
    g.api_client = "session"
    g.api_scopes = frozenset(Scope)  # a logged-in user reads the same fields on the camera page


def _may(scope: Scope) -> bool:
    return scope in g.get("api_scopes", frozenset())


EVENT_KINDS = tuple(kind.value for kind in EventKind)


def _touch_token(token_id: int, now: dt.datetime) -> None:
    """Record the token's use in a short write transaction of the request's session.

    Not in its read transaction: on SQLite, turning a read snapshot into a write fails with "database
    is locked" whenever the ingest committed in between, which made GETs 500. last_used_at is
    bookkeeping, so a database busy past its timeout must not fail the read either.
    """
    try:
        with write_transaction() as session:
            session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    except OperationalError as error:
        log.warning("api: could not record token use: %s", error.orig or error)


def _json(model: BaseModel, status: int = 200) -> Response:
    response = jsonify(model.model_dump(mode="json"))
    response.status_code = status
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _paging() -> tuple[int, int]:
    # No default inside get(): werkzeug returns it for a value that is not a number as well, so "abc"
    # quietly became 50 and the whole-numbers check below could never fire.
    limit = request.args.get("limit", type=int) if "limit" in request.args else DEFAULT_LIMIT
    offset = request.args.get("offset", type=int) if "offset" in request.args else 0
    if limit is None or offset is None:
        abort(400, description="limit and offset must be whole numbers")
    if limit < 1 or not 0 <= offset <= MAX_OFFSET:
        abort(400, description=f"limit must be >= 1 and offset between 0 and {MAX_OFFSET}")
    return min(limit, MAX_LIMIT), offset


def _regency_arg(*, offices: bool = False) -> str | None:
    """?regency as a known code, or None when absent; an unknown code is a 400, not an empty page.

    With ``offices``, "16" (the province's own offices) is an owner too: alerts are filed under it.
    """
    regency_code = request.args.get("regency") or None
    if regency_code and not (is_regency_code(regency_code) or (offices and regency_code == PROVINCE_CODE)):
        abort(400, description=f"no regency {regency_code!r}")
    return regency_code


def _id_arg(name: str) -> int | None:
    """?name as a positive whole number, or None when absent; anything else is a 400, not an unfiltered page."""
    if name not in request.args:
        return None
    value = request.args.get(name, type=int)
    if value is None or not 1 <= value <= MAX_ID:
        abort(400, description=f"{name} must be a whole number >= 1 (at most {MAX_ID})")
    return value


def _links(endpoint: str, total: int, limit: int, offset: int, **values: Any) -> s.Links:
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k not in ("limit", "offset")}
    args.update(values)

    def link(at: int) -> str:
        return url_for(endpoint, limit=limit, offset=at, **args)

    return s.Links(
        self=link(offset),
        next=link(offset + limit) if offset + limit < total else None,
        prev=link(max(offset - limit, 0)) if offset > 0 else None,
    )


def _regency_out(r: RegencyRollup) -> s.RegencyOut:
    return s.RegencyOut(
        code=r.code,
        name=r.name,
        kind=r.kind,
        display_name=r.display_name,
        stage=r.stage.value,
        health=r.health.value,
        cameras=s.CameraCounts(
            ok=r.cameras_ok,
            degraded=r.cameras_degraded,
            offline=r.cameras_offline,
            unknown=r.cameras_unknown,
            total=r.cameras_total,
        ),
        websites=s.WebsiteCounts(
            fresh=r.websites_fresh,
            stale=r.websites_stale,
            down=r.websites_down,
            unknown=r.websites_unknown,
            total=r.websites_total,
        ),
        agents_online=r.agents_online,
        agents_total=r.agents_total,
        last_seen_at=r.last_seen_at,
    )


@bp.route("/regencies")
def regencies() -> ResponseReturnValue:
    limit, offset = _paging()
    rollup = province_rollup()
    visible = scope.only_visible(rollup.regencies, key="code")
    items = visible[offset : offset + limit]
    total = len(visible)
    return _json(
        s.RegencyPage(
            items=[_regency_out(r) for r in items],
            province=s.ProvinceTotals(
                regencies_total=total,
                regencies_integrated=rollup.regencies_integrated,
                cameras_total=rollup.cameras_total,
                cameras_live=rollup.cameras_live,
                websites_total=rollup.totals.websites_total,
                websites_fresh=rollup.totals.websites_fresh,
            )
            if scope.province_wide()
            else None,
            offices=_regency_out(rollup.offices) if rollup.offices is not None and scope.province_wide() else None,
            total=total,
            limit=limit,
            offset=offset,
            links=_links("api.regencies", total, limit, offset),
        )
    )


@bp.route("/regencies/<code>")
def regency(code: str) -> ResponseReturnValue:
    rollup = province_rollup()
    if code == PROVINCE_CODE and rollup.offices is not None:  # the province's own offices: province accounts only
        scope.require(code, "the province's own offices")
        return _json(_regency_out(rollup.offices))
    if not is_regency_code(code):
        abort(404, description=f"no regency {code!r}")
    scope.require(code, f"regency {code}")
    return _json(_regency_out(rollup.by_code[code]))


def _owner(agent_name: str | None, regency_code: str | None) -> str | None:
    """Whose an item is (:func:`queries.owner_code`, the rule the feed, counts and alerts follow): "16" for
    what the province's own agents report, else the regency on the agent's certificate."""
    return queries.owner_code(agent_name or "", regency_code or "", province_agents()) or None


def _camera_out(
    camera: Camera,
    details: dict[str, object] | None = None,
    schema: type[s.CameraOut] = s.CameraOut,
    **extra: Any,
) -> s.CameraOut:
    return schema(
        id=camera.id,
        camera_id=camera.camera_id,
        agent=camera.agent_name,
        regency=_owner(camera.agent_name, camera.regency_code),
        agent_regency=camera.regency_code,
        name=camera.label,
        opd=camera.opd,
        group=camera.venue,
        status=camera.status,
        reason=camera.reason,
        reason_text=camera_reason(camera.reason, details),
        status_since=camera.status_since,
        last_check_at=camera.last_check_at,
        thumbnail_url=url_for("api.camera_thumbnail", pk=camera.id),
        **extra,
    )


@bp.route("/cameras")
def cameras() -> ResponseReturnValue:
    limit, offset = _paging()
    regency_code = _regency_arg(offices=True)
    status = request.args.get("status") or None
    if status and status not in queries.CAMERA_STATES:
        abort(400, description=f"status must be one of {', '.join(queries.CAMERA_STATES)}")
    filters = queries.CameraFilter(
        regency=regency_code,
        status=status,
        opd=request.args.get("opd") or None,
        within=scope.within(regency_code),
        province_agents=province_agents(),  # ?regency and the caller's scope mean owners, as the counts do
    )
    session = db_session()
    total = queries.count_cameras(session, filters)
    rows = queries.list_cameras(session, filters, limit, offset)
    return _json(
        s.CameraPage(
            items=[_camera_out(c) for c in rows],
            total=total,
            limit=limit,
            offset=offset,
            links=_links("api.cameras", total, limit, offset),
        )
    )


def _get_camera(pk: int) -> Camera:
    return get_camera(pk)  # the pages' lookup: 404 unless it exists and is in the caller's regencies


@bp.route("/cameras/<int:pk>")
def camera(pk: int) -> ResponseReturnValue:
    session = db_session()
    cam = _get_camera(pk)
    checks = queries.latest_check_details(session, [pk]).get(pk, [])
    now = dt.datetime.now(dt.UTC)
    internal = _may(Scope.INTERNAL)
    return _json(
        _camera_out(
            cam,
            details_for(checks, cam.reason),
            s.CameraDetailOut,
            host=cam.host if internal else None,
            port=cam.port if internal else None,
            reported_name=cam.name,
            manufacturer=cam.manufacturer,
            model=cam.model,
            firmware=cam.firmware,
            serial=cam.serial if internal else None,
            mac=cam.mac if internal else None,
            location=cam.location,
            latitude=cam.latitude,
            longitude=cam.longitude,
            tags=[str(t) for t in cam.tags or []],
            notes=cam.notes if internal else None,
            message=cam.message,
            consecutive_failures=cam.consecutive_failures,
            first_seen_at=cam.first_seen_at,
            retired_at=cam.retired_at,
            uptime=queries.camera_uptime(session, pk, now),
            checks=[
                s.CheckOut(
                    check=str(c.get("check", "")),
                    outcome=str(c.get("outcome", "")),
                    reason=str(c.get("reason", "")),
                    message=str(c.get("message", "")),
                    duration_ms=float(c.get("duration_ms") or 0.0),
                )
                for c in checks
                if isinstance(c, dict)
            ],
        )
    )


@bp.route("/cameras/<int:pk>/history")
def camera_history(pk: int) -> ResponseReturnValue:
    limit, offset = _paging()
    _get_camera(pk)
    session = db_session()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=int_arg("days", 30, 1, MAX_HISTORY_DAYS))
    periods = list(reversed(queries.camera_timeline(session, pk, since)))
    total = len(periods)
    return _json(
        s.StatusPeriodPage(
            items=[
                s.StatusPeriodOut(
                    status=p.status,
                    reason=p.reason,
                    message=p.message,
                    started_at=p.started_at,
                    ended_at=p.ended_at,
                    duration_s=p.duration_s,
                )
                for p in periods[offset : offset + limit]
            ],
            total=total,
            limit=limit,
            offset=offset,
            links=_links("api.camera_history", total, limit, offset, pk=pk),
        )
    )


@bp.route("/cameras/<int:pk>/thumbnail.jpg")
def camera_thumbnail(pk: int) -> ResponseReturnValue:
    _get_camera(pk)
    return thumbnail_response(pk)


def _website_out(w: Website, now: dt.datetime) -> s.WebsiteOut:
    days = int((now - w.last_update).total_seconds() // 86400) if w.last_update else None
    return s.WebsiteOut(
        id=w.id,
        website_id=w.website_id,
        agent=w.agent_name,
        regency=_owner(w.agent_name, w.regency_code),
        agent_regency=w.regency_code,
        url=w.url,
        opd=w.opd,
        state=w.state,
        availability=w.availability,
        freshness=w.freshness,
        reason=w.reason,
        http_status=w.http_status,
        response_ms=w.response_ms,
        last_update=w.last_update,
        last_update_signal=w.last_update_signal,
        days_stale=days,
        stale_after_days=w.stale_after_days,
        tls_valid=w.tls_valid,
        tls_expires_at=w.tls_expires_at,
        tls_days_left=w.tls_days_left,
        last_check_at=w.last_check_at,
    )


@bp.route("/websites")
def websites() -> ResponseReturnValue:
    limit, offset = _paging()
    regency_code = _regency_arg(offices=True)
    state = request.args.get("state") or None
    if state and state not in queries.WEBSITE_STATES:  # else it was ignored: the whole list for a typo
        abort(400, description=f"state must be one of {', '.join(queries.WEBSITE_STATES)}")
    session = db_session()
    within = scope.within(regency_code)
    agents = province_agents()  # ?regency and the caller's scope mean owners, as the counts do
    total = queries.count_websites(session, regency_code, state, within=within, province_agents=agents)
    query = queries.websites_query(regency_code, state, province_agents=agents, within=within)
    rows = session.scalars(query.limit(limit).offset(offset))
    now = dt.datetime.now(dt.UTC)
    return _json(
        s.WebsitePage(
            items=[_website_out(w, now) for w in rows],
            total=total,
            limit=limit,
            offset=offset,
            links=_links("api.websites", total, limit, offset),
        )
    )


@bp.route("/rollout")
def rollout() -> ResponseReturnValue:
    limit, offset = _paging()
    visible = scope.only_visible(province_rollup().regencies, key="code")
    rows = visible[offset : offset + limit]
    total = len(visible)
    return _json(
        s.RolloutPage(
            items=[
                s.RolloutOut(
                    regency=r.code,
                    name=r.display_name,
                    stage=r.stage.value,
                    recorded_stage=r.stored_stage,
                    cameras_integrated=r.cameras_reporting,
                    target_cameras=r.target_cameras,
                    websites_integrated=r.websites_reporting,
                    target_websites=r.target_websites,
                    planned_start=r.planned_start,
                    started_on=r.started_on,
                    target_date=r.target_date,
                    completed_on=r.completed_on,
                    notes=r.notes,
                )
                for r in rows
            ],
            total=total,
            limit=limit,
            offset=offset,
            links=_links("api.rollout", total, limit, offset),
        )
    )


def _event_out(e: Event) -> s.EventOut:
    return s.EventOut(
        id=e.id,
        ts=e.ts,
        kind=e.kind,
        regency=_owner(e.agent_name, e.regency_code),
        agent=e.agent_name,
        camera=e.camera_pk,
        website=e.website_pk,
        subject=e.subject,
        old_state=e.old_state,
        new_state=e.new_state,
        reason=e.reason,
        message=e.message,
    )


@bp.route("/events")
def events() -> ResponseReturnValue:
    """Newest first, paged by cursor: ``before`` is the smallest id of the previous page."""
    limit, _offset = _paging()
    before = _id_arg("before")
    kind = request.args.get("kind") or None
    if kind is not None and kind not in EVENT_KINDS:
        abort(400, description=f"no event kind {kind!r}; one of {', '.join(EVENT_KINDS)}")
    regency_code = _regency_arg(offices=True)
    rows = queries.recent_events(
        db_session(),
        limit=limit,
        regency=regency_code,
        within=scope.within(regency_code),
        camera_pk=_id_arg("camera"),
        kind=kind,
        before_id=before,
        province_agents=province_agents(),  # ?regency and the caller's scope mean owners
    )
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k not in ("limit", "before")}
    links = s.Links(
        self=url_for("api.events", limit=limit, **({"before": before} if before else {}) | args),
        next=url_for("api.events", limit=limit, before=rows[-1].id, **args) if len(rows) == limit else None,
    )
    return _json(s.EventPage(items=[_event_out(e) for e in rows], limit=limit, links=links))


@bp.route("/openapi.json")
def openapi() -> ResponseReturnValue:
    response = jsonify(build_openapi())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
