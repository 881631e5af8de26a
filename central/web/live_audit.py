"""The record of live viewing: who watched which camera from when to when (CCTV of public offices).

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


def opened(user_name: str, role: str, camera: Camera, address: str) -> int:
    """Record a live view opening (in the request); returns the row's id for :func:`closed`."""
    with write_transaction() as session:
        row = LiveSession(user_name=user_name[:64], role=role, camera_pk=camera.id, agent_name=camera.agent_name,
                          camera_id=camera.camera_id, regency_code=camera.regency_code, client_address=address[:64])
        session.add(row)
        session.flush()
        return row.id


def closed(database: Database, row_id: int, reason: str) -> None:
    """Record the end (from the stream, after the request's own session is gone)."""
    with database.session(write=True) as session:
        session.execute(update(LiveSession).where(LiveSession.id == row_id).values(
            ended_at=utc_now(), end_reason=reason[:64]))


@bp.route("/admin/live-sessions")
@role_required(Role.ADMIN)
def live_sessions() -> ResponseReturnValue:
    query = select(LiveSession).order_by(LiveSession.id.desc()).limit(LISTED)
    regencies = scope.within()  # a regency's admin sees the viewing of its own cameras
    if regencies is not None:
        query = query.where(LiveSession.regency_code.in_(regencies))
    rows = db_session().scalars(query).all()
    return render_template("live_sessions.html", rows=rows)
