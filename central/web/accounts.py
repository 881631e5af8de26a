"""Web users (admin / operator / viewer) and read-only API tokens: tables, hashing and lookups.

Both carry a regency scope (``regencies``: empty means the whole province) and tokens carry scopes
(``scopes``: empty means the public fields only). Changing a user's password, role, regencies or
disabling them ends their open sessions (``central/web/sessions.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from central.storage.models import Base, BigId
from shared.messages import utc_now
from shared.regencies import is_regency_code

TOKEN_PREFIX = "scc_"
MIN_PASSWORD_LENGTH = 10
# Verifying against this keeps an unknown user name as slow as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password-but-the-same-cost")


class Role(StrEnum):
    """What a user may do: viewers look, operators also edit metadata and send checks, admins run it."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class WebUser(Base):
    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default=Role.VIEWER.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    last_login_at: Mapped[dt.datetime | None]
    regencies: Mapped[list[Any]] = mapped_column(default=list)  # list[str]; empty: the whole province


class WebSession(Base):
    """A login: the cookie carries a random id, only its hash is stored; deleting the row logs it out."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    id_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class Scope(StrEnum):
    """What a token may read beyond the public fields."""

    INTERNAL = "internal"  # a camera's host, port, MAC, serial and notes: how to reach and identify it


class ApiToken(Base):
    __tablename__ = "web_api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("web_users.id", ondelete="SET NULL"))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    last_used_at: Mapped[dt.datetime | None]
    scopes: Mapped[list[Any]] = mapped_column(default=list)  # list[Scope]; empty: public fields only
    regencies: Mapped[list[Any]] = mapped_column(default=list)  # list[str]; empty: the whole province


class AccountError(ValueError):
    """A user or token request that cannot be honoured; the message says why."""


def secret_digest(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough; a slow KDF would only cost every request.
    return hashlib.sha256(token.encode()).hexdigest()


def regency_list(codes: Iterable[str]) -> list[str]:
    """Sorted, de-duplicated regency codes; an unknown code is an AccountError, not a silent widening."""
    wanted = sorted(set(codes))
    unknown = [code for code in wanted if not is_regency_code(code)]
    if unknown:
        raise AccountError(f"no regency {', '.join(unknown)} (codes look like 16.71)")
    return wanted


def add_user(
    session: Session, name: str, password: str, role: Role, regencies: Iterable[str] = ()
) -> WebUser:
    if not name or len(name) > 64 or not name.isprintable():
        raise AccountError("user name must be 1-64 printable characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(WebUser).where(WebUser.name == name)) is not None:
        raise AccountError(f"user {name!r} exists already")
    user = WebUser(
        name=name,
        password_hash=generate_password_hash(password),
        role=role.value,
        regencies=regency_list(regencies),
    )
    session.add(user)
    session.flush()
    return user


def _user(session: Session, name: str) -> WebUser:
    user = session.scalar(select(WebUser).where(WebUser.name == name))
    if user is None:
        raise AccountError(f"no user {name!r}")
    return user


def end_sessions(session: Session, user: WebUser) -> None:
    """Log the user out everywhere, at once: their server-side sessions are gone."""
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))


def set_password(session: Session, name: str, password: str) -> None:
    user = _user(session, name)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = generate_password_hash(password)
    end_sessions(session, user)


def set_role(session: Session, name: str, role: Role) -> None:
    user = _user(session, name)
    user.role = role.value
    end_sessions(session, user)


def set_regencies(session: Session, name: str, regencies: Iterable[str]) -> None:
    user = _user(session, name)
    user.regencies = regency_list(regencies)
    end_sessions(session, user)


def set_active(session: Session, name: str, active: bool) -> None:
    user = _user(session, name)
    user.active = active
    end_sessions(session, user)


def authenticate(session: Session, name: str, password: str) -> WebUser | None:
    """The active user with this name and password, or None; takes as long either way."""
    user = session.scalar(select(WebUser).where(WebUser.name == name))
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    user.last_login_at = utc_now()
    return user


def add_token(
    session: Session, name: str, scopes: Iterable[Scope] = (), regencies: Iterable[str] = ()
) -> str:
    """Create a token and return it; only its hash is stored, so this is the one time it is shown."""
    if not name or len(name) > 64:
        raise AccountError("token name must be 1-64 characters")
    if session.scalar(select(ApiToken).where(ApiToken.name == name)) is not None:
        raise AccountError(f"token {name!r} exists already")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            name=name,
            token_sha256=secret_digest(token),
            scopes=sorted({Scope(scope).value for scope in scopes}),
            regencies=regency_list(regencies),
        )
    )
    session.flush()
    return token


def revoke_token(session: Session, name: str) -> None:
    token = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if token is None:
        raise AccountError(f"no token {name!r}")
    token.revoked = True


def token_by_secret(session: Session, token: str) -> ApiToken | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == secret_digest(token)))
    if row is None or row.revoked:
        return None
    return row
