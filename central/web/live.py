"""Server-Sent Events: push change-feed rows to open pages (a browser shares one stream among its tabs).

Streams wait on the process's :class:`~central.web.live_hub.ChangeHub` instead of polling the table
each, run in their own slots (never the threads pages are served on) and end after ``web.sse_max_s``.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Collection, Iterator

from flask import Blueprint, Response, abort, current_app, request
from flask.typing import ResponseReturnValue

from central.storage.db import Database
from central.storage.models import Event, EventKind
from central.storage.queries import change_feed_position, owner_code
from central.web import scope
from central.web.auth import current_role
from central.web.database import get_database
from central.web.live_hub import Change, ChangeHub
from central.web.params import MAX_ID

bp = Blueprint("live", __name__)

# A comment line this often keeps proxies from closing an idle stream, and finds a closed tab: the write
# after the browser went away fails, which ends the stream and frees its slot within a few seconds.
KEEPALIVE_S = 1.0
RETRY_MS = 2000  # how soon the browser reconnects after the stream ends
BUSY_RETRY_MS = 10_000  # every stream slot taken: come back a little later


def event_payload(event: Event) -> dict[str, object]:
    """What the browser needs to decide whether its page is affected; no untrusted text."""
    return {
        "id": event.id,
        "kind": event.kind,
        "regency": event.regency_code,
        "camera": event.camera_pk,
        "website": event.website_pk,
        "state": event.new_state,
    }


def public_payload(event: Event) -> dict[str, object] | None:
    """An anonymous (public status) stream's view of an event: which regency changed, nothing finer.

    The public page promises regency rollups only; camera and website ids and states are for logged-in users.
    """
    if event.regency_code is None or event.kind == EventKind.ALERT:  # alerts are not on the public page
        return None
    return {"id": event.id, "kind": "regency", "regency": event.regency_code}


def describe(event: Event, province_agents: Collection[str] = ()) -> Change:
    """The change, keyed by its owner (:func:`owner_code`): a stream limited to regencies skips what the
    province's own agents report (theirs is "16"'s, for province-wide accounts), as the API and alerts do.
    The payloads keep the event's regency: the pages compare it with their own (a camera's certificate)."""
    owner = owner_code(event.agent_name or "", event.regency_code or "", province_agents) or None
    return Change(event.id, owner, event_payload(event), public_payload(event))


def live_hub() -> ChangeHub:
    """This process's change hub (one per app), created with the first stream."""
    hub: ChangeHub | None = current_app.extensions.get("scc_live_hub")
    if hub is None:
        hub = current_app.extensions["scc_live_hub"] = ChangeHub(
            get_database(),
            current_app.config["SSE_POLL_S"],
            current_app.config["SSE_STREAM_SLOTS"],
            functools.partial(describe, province_agents=tuple(current_app.config["SCC"].province.agents)),
        )
    return hub


def _start_cursor(database: Database) -> int:
    sent = request.headers.get("Last-Event-ID") or request.args.get("after") or ""
    # Anything else (junk, a number past any id) starts from now, as for a new page.
    if sent.isascii() and sent.isdigit() and len(sent) <= len(str(MAX_ID)) and int(sent) <= MAX_ID:
        return int(sent)
    with database.session() as session:
        return change_feed_position(session)


def _stream(
    hub: ChangeHub,
    cursor: int,
    regency: str | None,
    max_s: float,
    public: bool = False,
    within: frozenset[str] | None = None,
) -> Iterator[str]:
    """Hello, then changes as they come; a comment every KEEPALIVE_S (a closed tab is noticed at the next).

    ``within``: the caller's regencies (None: the province); changes of others are never sent.
    """
    with hub.slot() as granted:
        if not granted:
            yield f"retry: {BUSY_RETRY_MS}\nevent: busy\ndata: {{}}\n\n"
            return
        yield f"retry: {RETRY_MS}\nid: {cursor}\nevent: hello\ndata: {{}}\n\n"
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            batch = hub.changes_after(cursor, min(KEEPALIVE_S, max(deadline - time.monotonic(), 0.0)))
            sent = False
            told: set[object] = set()  # public: one event per regency and batch, not one per camera
            for change in batch:
                cursor = change.id
                payload = change.public if public else change.private
                if payload is None or (public and payload["regency"] in told):
                    continue
                if regency and payload["regency"] not in (regency, None):
                    continue
                if within is not None and change.regency not in within:  # by owner
                    continue
                told.add(payload["regency"])
                yield f"id: {cursor}\nevent: change\ndata: {json.dumps(payload)}\n\n"
                sent = True
            if not sent:
                # Moves the browser's Last-Event-ID past events it was not sent, and finds closed tabs.
                yield f"id: {cursor}\n\n" if batch else ": keepalive\n\n"
        yield "event: bye\ndata: {}\n\n"


@bp.route("/live/events")
def events() -> ResponseReturnValue:
    anonymous = current_role() is None
    if anonymous and not current_app.config["PUBLIC_STATUS"]:
        abort(401)
    regency = request.args.get("regency") or None
    if regency:
        scope.require(regency, f"regency {regency}")
    stream = _stream(
        live_hub(),
        _start_cursor(get_database()),
        regency,
        current_app.config["SSE_MAX_S"],
        public=anonymous,
        within=None if anonymous else scope.visible_regencies(),  # anonymous: the public regency-level view
    )
    response = Response(stream, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache, no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx in front must not buffer the stream
    return response
