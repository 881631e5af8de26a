"""/api/v1/alerts: firing and past alerts as JSON, with the same authentication as the rest of /api/v1."""

from __future__ import annotations

from flask import Blueprint, abort, request
from flask.typing import ResponseReturnValue

from central.alerts import queries
from central.alerts.tables import AlertRecord
from central.api.schemas import AlertOut, AlertPage
from central.api.v1 import _json, _paging, _regency_arg, authenticate
from central.web import scope
from central.web.database import db_session

bp = Blueprint("api_alerts", __name__, url_prefix="/api/v1/alerts")
bp.before_request(authenticate)


def _out(alert: AlertRecord) -> AlertOut:
    return AlertOut(
        alert_id=alert.alert_id,
        rule=alert.rule,
        state=alert.status,
        severity=alert.severity,
        subject_kind=alert.subject_kind,
        subject_id=alert.subject_id,
        subject=alert.subject_label,
        regency=alert.regency_code,
        message=alert.message,
        started_at=alert.started_at,
        fired_at=alert.fired_at,
        resolved_at=alert.resolved_at,
        silenced_by=alert.suppressed_by,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        members=list(alert.members or ()),
    )


@bp.get("")
def alerts() -> ResponseReturnValue:
    """?status=firing|resolved|all (default firing), ?regency=16.71, ?limit, ?offset."""
    status = request.args.get("status", "firing")
    if status not in ("firing", "resolved", "all"):
        abort(400, description="status must be firing, resolved or all")
    # v1's own checks, so a bad limit, offset or regency is a 400 here too instead of a silent default
    limit, offset = _paging()
    regency = _regency_arg(offices=True)
    page = queries.list_alerts(
        db_session(), status=status, regency=regency, limit=limit, offset=offset, within=scope.within(regency)
    )
    return _json(AlertPage(items=[_out(a) for a in page.items], total=page.total, limit=limit, offset=offset))


@bp.get("/<alert_id>")
def alert(alert_id: str) -> ResponseReturnValue:
    found = queries.get_alert(db_session(), alert_id)
    if found is None or not scope.sees(found.regency_code):
        abort(404)
    return _json(_out(found))
