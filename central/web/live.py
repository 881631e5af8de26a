"""Server-Sent Events: push change-feed rows to open pages; each stream ends after a while to free its thread."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from flask import Blueprint, Response, abort, current_app, request
from flask.typing import ResponseReturnValue

from central.storage.db import Database
from central.storage.models import Event
from central.storage.queries import change_feed_position, events_after
from central.web import scope
from central.web.auth import current_role
from central.web.database import get_database
from central.web.params import MAX_ID

bp = Blueprint("live", __name__)

KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing an idle stream
RETRY_MS = 2000  # how soon the browser reconnects after the stream ends


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
    if event.regency_code is None:
        return None
    return {"id": event.id, "kind": "regency", "regency": event.regency_code}


def _start_cursor(database: Database) -> int:
    sent = request.headers.get("Last-Event-ID") or request.args.get("after") or ""
    if sent.isascii() and sent.isdigit() and int(sent) <= MAX_ID:  # else: from now on, as for a new page
        return int(sent)
    with database.session() as session:
        return change_feed_position(session)


def _stream(
    database: Database,
    cursor: int,
    regency: str | None,
    poll_s: float,
    max_s: float,
    public: bool = False,
    within: frozenset[str] | None = None,
) -> Iterator[str]:
    """``within``: the caller's regencies (None: the province); events of others are never sent."""
    yield f"retry: {RETRY_MS}\nid: {cursor}\nevent: hello\ndata: {{}}\n\n"
    deadline = time.monotonic() + max_s
    last_sent = time.monotonic()
    while time.monotonic() < deadline:
        with database.session() as session:
            batch = events_after(session, cursor)
            payloads = [public_payload(e) if public else event_payload(e) for e in batch]
        skipped = False
        told: set[object] = set()  # public: one event per regency and batch, not one per camera
        for event, payload in zip(batch, payloads, strict=True):
            cursor = event.id
            if payload is None or (public and payload["regency"] in told):
                skipped = True
                continue
            if regency and payload["regency"] not in (regency, None):
                skipped = True
                continue
            if within is not None and payload["regency"] not in within:
                skipped = True
                continue
            told.add(payload["regency"])
            yield f"id: {cursor}\nevent: change\ndata: {json.dumps(payload)}\n\n"
            last_sent = time.monotonic()
        if skipped:
            yield f"id: {cursor}\n\n"  # moves the browser's Last-Event-ID past events it was not sent
        if time.monotonic() - last_sent >= KEEPALIVE_S:
            yield ": keepalive\n\n"
            last_sent = time.monotonic()
        if len(batch) < 200:
            time.sleep(poll_s)
    yield "event: bye\ndata: {}\n\n"


@bp.route("/live/events")
def events() -> ResponseReturnValue:
    anonymous = current_role() is None
    if anonymous and not current_app.config["PUBLIC_STATUS"]:
        abort(401)
    regency = request.args.get("regency") or None
    if regency:
        scope.require(regency, f"regency {regency}")
    within = None if anonymous else scope.visible_regencies()  # anonymous: the public, regency-level view
    database = get_database()
    stream = _stream(
        database,
        _start_cursor(database),
        regency,
        current_app.config["SSE_POLL_S"],
        current_app.config["SSE_MAX_S"],
        public=anonymous,
        within=within,
    )
    response = Response(stream, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache, no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx in front must not buffer the stream
    return response
