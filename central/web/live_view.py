"""A camera's live view in the browser: multipart JPEG (MJPEG) copied from the live-view relay.

``<img src="/cameras/<pk>/live.mjpg">`` shows it with no script; the request holds one of the web's
stream threads for as long as the tab shows it (at most ``[live_view] max_s``) and ends when the tab
closes (the next write fails), which closes the relay socket: the viewer has left. Watching needs
``[live_view] min_role`` and the camera in the user's regencies; see docs/live-view.md.

``/cameras/<pk>/still.jpg`` is one full-resolution picture taken through the agent now, under the same
role, regency scope and audit (its row ends ``still`` when it came, ``still:<reason>`` when not).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from central.config import CentralConfig
from central.live_view.wire import RelayUnavailable, watch
from central.storage.db import Database
from central.storage.models import Camera
from central.web import live_audit
from central.web.accounts import Role, WebUser
from central.web.auth import current_role, current_user, login_required
from central.web.database import get_database
from central.web.pages import get_camera
from central.web.reasons import camera_reason
from shared.messages import LiveFrame, LiveState

log = logging.getLogger(__name__)

bp = Blueprint("live_view", __name__)
BOUNDARY = "scc-live-frame"


@bp.record_once
def _register_template_global(state: Any) -> None:
    state.app.jinja_env.globals["may_watch_live"] = may_watch


def may_watch() -> bool:
    config: CentralConfig = current_app.config["SCC"]
    role = current_role()
    return role is not None and role.allows(Role(config.live_view.min_role))


def _parts(config: CentralConfig, database: Database, audit_id: int, agent: str, camera_id: str,
           who: str) -> Iterator[bytes]:
    path = config.live_view.socket_path(Path(config.state_dir))
    deadline = time.monotonic() + config.live_view.max_s
    reason = "viewer_left"  # unless the stream says otherwise: the tab closed (GeneratorExit)
    profile_recorded = False
    log.info("live view of %s/%s opened by %s", agent, camera_id, who)
    try:
        for decoded in watch(path, agent, camera_id, config.live_view.start_timeout_s + 5):
            message = decoded.message
            assert isinstance(message, LiveFrame)
            if message.state is not LiveState.FRAME:
                reason = message.reason
                return
            if time.monotonic() > deadline:
                reason = "max_duration"
                return
            if message.profile is not None and not profile_recorded:  # older agents say nothing
                live_audit.streaming(database, audit_id, message.profile.value)
                profile_recorded = True
            jpeg = decoded.jpeg or b""
            yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                   + jpeg + b"\r\n")
        reason = "relay_closed"
    except RelayUnavailable as error:
        reason = "relay_unavailable"
        log.error("live view of %s/%s: %s", agent, camera_id, error)
    finally:
        log.info("live view of %s/%s for %s ended: %s", agent, camera_id, who, reason)
        live_audit.closed(database, audit_id, reason)


def _opened(pk: int, what: str) -> tuple[Camera, WebUser, int]:
    """The camera (404 outside the user's regencies), the user allowed to see it live (else 403), and the
    audit row opened for this session: what the live stream and the still both start with."""
    camera = get_camera(pk)
    if not may_watch():
        abort(403, description=f"{what} needs a role allowed by [live_view] min_role")
    user = current_user()
    assert user is not None  # login_required
    return camera, user, live_audit.opened(user.name, user.role, camera, request.remote_addr or "")


@bp.route("/cameras/<int:pk>/live.mjpg")
@login_required
def live_mjpeg(pk: int) -> ResponseReturnValue:
    camera, user, audit_id = _opened(pk, "watching live")
    stream = _parts(current_app.config["SCC"], get_database(), audit_id, camera.agent_name, camera.camera_id,
                    user.name)
    response = Response(stream, mimetype=f"multipart/x-mixed-replace; boundary={BOUNDARY}")
    response.headers["Cache-Control"] = "no-cache, no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _take_still(config: CentralConfig, agent: str, camera_id: str) -> tuple[bytes | None, str, str]:
    """(JPEG, "ok", the stream it came from: "" if the agent did not say) or (None, the reason there is none, "")
    for one still of the camera."""
    path = config.live_view.socket_path(Path(config.state_dir))
    try:
        for decoded in watch(path, agent, camera_id, config.live_view.start_timeout_s + 5, still=True):
            message = decoded.message
            assert isinstance(message, LiveFrame)
            if message.state is LiveState.FRAME and decoded.jpeg:
                return decoded.jpeg, "ok", message.profile.value if message.profile else ""
            return None, message.reason, ""
    except RelayUnavailable as error:
        log.error("still of %s/%s: %s", agent, camera_id, error)
        return None, "relay_unavailable", ""
    except TimeoutError:
        return None, "live_timeout", ""
    return None, "relay_closed", ""


@bp.route("/cameras/<int:pk>/still.jpg")
@login_required
def still_jpeg(pk: int) -> ResponseReturnValue:
    camera, user, audit_id = _opened(pk, "a full-resolution still")
    jpeg, reason, profile = _take_still(current_app.config["SCC"], camera.agent_name, camera.camera_id)
    live_audit.closed(get_database(), audit_id, "still" if jpeg is not None else f"still:{reason}", profile)
    log.info("still of %s/%s for %s: %s", camera.agent_name, camera.camera_id, user.name, reason)
    if jpeg is None:  # back to the camera page, saying why (the camera's reason, worded)
        flash(_("No full-resolution still: %(reason)s", reason=camera_reason(reason)), "error")
        return redirect(url_for("pages.camera", pk=pk))
    response = Response(jpeg, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "no-cache, no-store"
    response.headers["Content-Disposition"] = f'inline; filename="{camera.agent_name}-{camera.camera_id}.jpg"'
    return response
