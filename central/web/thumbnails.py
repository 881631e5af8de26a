"""Serve a camera's newest JPEG with a strong ETag, so walls and grids re-download only what changed."""

from __future__ import annotations

from flask import Response, abort, request

from central.storage.queries import latest_thumbnail, latest_thumbnail_meta
from central.web.database import db_session

MAX_AGE_S = 5  # thumbnails refresh every few seconds at most; browsers revalidate cheaply via ETag


def thumbnail_response(camera_pk: int) -> Response:
    session = db_session()
    meta = latest_thumbnail_meta(session, camera_pk)
    if meta is None:
        abort(404)
    sha256, captured_at = meta
    if request.if_none_match.contains(sha256):
        response = Response(status=304)
    else:
        thumbnail = latest_thumbnail(session, camera_pk)
        if thumbnail is None:
            abort(404)
        response = Response(thumbnail.jpeg, mimetype="image/jpeg")
        sha256 = thumbnail.sha256
    response.set_etag(sha256)
    response.last_modified = captured_at
    response.cache_control.private = True
    if request.args.get("v") == sha256:
        # The URL names this exact image, so it can never change: let the browser keep it.
        response.cache_control.max_age = 86_400
        response.cache_control.immutable = True
    else:
        response.cache_control.max_age = MAX_AGE_S
    return response
