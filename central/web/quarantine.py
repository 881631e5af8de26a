"""/quarantine (administrators): what the ingest refused, per agent and reason, and the latest examples.

Every refused message is kept with its reason (``central/ingest/store.py``); this page makes them
visible, so that an agent whose every report is refused does not just look silent.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from central.storage.quarantine import recent_refusals, refusal_counts
from central.web import scope
from central.web.accounts import Role
from central.web.auth import role_required
from central.web.database import db_session
from central.web.templating import add_nav_item
from shared import topics

bp = Blueprint("quarantine", __name__)
add_nav_item("quarantine.index", _l("Quarantine"), role=Role.ADMIN.value, province=True)

RECENT = 50
PREVIEW_BYTES = 300


@bp.route("/quarantine")
@role_required(Role.ADMIN)
def index() -> ResponseReturnValue:
    agent = request.args.get("agent") or None
    if agent is not None and not topics.is_identifier(agent):
        abort(404)
    scope.require_province()  # every agent's refusals: a province account's view
    session = db_session()
    now = dt.datetime.now(dt.UTC)
    return render_template(
        "quarantine.html",
        counts=refusal_counts(session),
        recent=recent_refusals(session, agent=agent, limit=RECENT),
        agent=agent,
        preview_bytes=PREVIEW_BYTES,
        now=now,
    )
