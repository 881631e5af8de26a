"""/api/v1/quarantine (administrators' sessions): refusals per agent and reason, and the latest examples.

Not for API tokens: reasons and topics quote what agents sent, which is internal to SCC, and third
parties' tokens read only the curated state.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, g, request
from flask.typing import ResponseReturnValue

from central.api.schemas import QuarantineOut, RefusalCountOut, RefusedMessageOut
from central.api.v1 import _json, _paging, authenticate
from central.storage.quarantine import recent_refusals, refusal_counts
from central.web import scope
from central.web.accounts import Role
from central.web.auth import current_role
from central.web.database import db_session
from shared import topics

bp = Blueprint("api_quarantine", __name__, url_prefix="/api/v1/quarantine")
bp.before_request(authenticate)


@bp.route("")
def quarantine() -> ResponseReturnValue:
    """Counts per agent and category (``since``: only those seen since, ISO 8601) and the newest examples."""
    role = current_role()
    if g.get("api_client") != "session" or role is None or not role.allows(Role.ADMIN):
        abort(403, description="the quarantine is for administrators' sessions")
    scope.require_province()  # every agent's refusals: a province account's view
    limit, _offset = _paging()
    agent = request.args.get("agent") or None
    if agent is not None and not topics.is_identifier(agent):
        abort(400, description="agent must be an agent name")
    since = _since_arg()
    session = db_session()
    counts = [RefusalCountOut(agent=c.agent, category=c.category, messages=c.messages,
                              first_seen_at=c.first_seen_at, last_seen_at=c.last_seen_at)
              for c in refusal_counts(session, since) if agent is None or c.agent == agent]
    recent = [RefusedMessageOut(agent=q.agent_name, category=q.category, reason=q.reason, topic=q.topic,
                                times_seen=q.times_seen, payload_size=q.payload_size, first_seen_at=q.first_seen_at,
                                last_seen_at=q.last_seen_at)
              for q in recent_refusals(session, agent=agent, limit=limit)]
    return _json(QuarantineOut(counts=counts, recent=recent))


def _since_arg() -> dt.datetime | None:
    raw = request.args.get("since")
    if not raw:
        return None
    try:
        since = dt.datetime.fromisoformat(raw)
    except ValueError:
        abort(400, description="since must be an ISO 8601 time")
    return since if since.tzinfo else since.replace(tzinfo=dt.UTC)
