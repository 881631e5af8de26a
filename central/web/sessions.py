"""Server-side logins: the signed cookie holds a random session id, the database decides whether it lives.

A cookie copied before logout is worthless afterwards: logout deletes its row, and a password, role or
regency change or disabling the user deletes all of theirs (``accounts.end_sessions``). Ids are 256
random bits, so like API tokens they are stored as a plain SHA-256.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from central.web.accounts import WebSession, WebUser, secret_digest
from shared.messages import utc_now


def start_session(session: Session, user: WebUser, lifetime: dt.timedelta) -> str:
    """Record a login and return the id for the cookie; expired logins are swept on the way."""
    now = utc_now()
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    session_id = secrets.token_urlsafe(32)
    session.add(WebSession(id_sha256=secret_digest(session_id), user_id=user.id, created_at=now,
                           expires_at=now + lifetime))  # fmt: skip
    return session_id


def session_user(session: Session, session_id: str) -> WebUser | None:
    """The active user of a live session, or None (ended, expired, or the user is disabled)."""
    row = session.execute(
        select(WebUser)
        .join(WebSession, WebSession.user_id == WebUser.id)
        .where(WebSession.id_sha256 == secret_digest(session_id), WebSession.expires_at > utc_now())
    ).scalar_one_or_none()
    return row if row is not None and row.active else None


def end_session(session: Session, session_id: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id_sha256 == secret_digest(session_id)))
