"""The record of live viewing: who watched which camera from when to when (CCTV of public offices), and
which of the camera's streams the agent read (main, sub, or its configured rtsp_url: the first frame says).

A row is written when a live view opens (before the first frame) and closed when it ends, however it
ends; a row left open (the web process was killed) shows as "still open" to admins. Admins read the
latest rows at /admin/live-sessions (a regency's admin, those of its regencies).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from central.storage.db import Database
from central.storage.models import Base, BigId, Camera
from central.web import scope
from central.web.accounts import Role
from central.web.auth import role_required
from central.web.database import db_session, write_transaction
from shared.messages import utc_now

bp = Blueprint("live_audit", __name__)
LISTED = 200


class LiveSession(Base):
    __tablename__ = "web_live_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    camera_pk: Mapped[int | None] = mapped_column(ForeignKey("cameras.id", ondelete="SET NULL"), index=True)
    agent_name: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(64))
    regency_code: Mapped[str] = mapped_column(String(8), index=True)
    client_address: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(default=utc_now, index=True)
    ended_at: Mapped[dt.datetime | None]
    end_reason: Mapped[str] = mapped_column(String(64), default="")
    # The agent's choice (shared.messages.StreamProfile); "": no frame said (none came, or an older agent).
    stream_profile: Mapped[str] = mapped_column(String(16), default="", server_default="")


def opened(user_name: str, role: str, camera: Camera, address: str) -> int:
    """Record a live view opening (in the request); returns the row's id for :func:`closed`."""
    with write_transaction() as session:
        row = LiveSession(user_name=user_name[:64], role=role, camera_pk=camera.id, agent_name=camera.agent_name,
                          camera_id=camera.camera_id, regency_code=camera.regency_code, client_address=address[:64])
        session.add(row)
        session.flush()
        return row.id


def streaming(database: Database, row_id: int, profile: str) -> None:
    """Record the stream the agent reads, once its first frame said (while the session is still open)."""
    with database.session(write=True) as session:
        session.execute(update(LiveSession).where(LiveSession.id == row_id).values(stream_profile=profile[:16]))


def closed(database: Database, row_id: int, reason: str, profile: str = "") -> None:
    """Record the end (from the stream, after the request's own session is gone); a still's ``profile`` with it."""
    values: dict[str, object] = {"ended_at": utc_now(), "end_reason": reason[:64]}
    if profile:
        values["stream_profile"] = profile[:16]
    with database.session(write=True) as session:
        session.execute(update(LiveSession).where(LiveSession.id == row_id).values(**values))


@bp.route("/admin/live-sessions")
@role_required(Role.ADMIN)
def live_sessions() -> ResponseReturnValue:
    query = select(LiveSession).order_by(LiveSession.id.desc()).limit(LISTED)
    regencies = scope.within()  # a regency's admin sees the viewing of its own cameras
    if regencies is not None:
        query = query.where(LiveSession.regency_code.in_(regencies))
    rows = db_session().scalars(query).all()
    return render_template("live_sessions.html", rows=rows)
