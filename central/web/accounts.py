"""Web users (admin / operator / viewer) and read-only API tokens: tables, hashing and lookups."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from central.storage.models import Base, BigId
from shared.messages import utc_now

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

    @property
    def session_stamp(self) -> str:
        """Changes whenever the password does, so old sessions stop working after a reset."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]


class ApiToken(Base):
    __tablename__ = "web_api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("web_users.id", ondelete="SET NULL"))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    last_used_at: Mapped[dt.datetime | None]


class AccountError(ValueError):
    """A user or token request that cannot be honoured; the message says why."""


def _token_digest(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough; a slow KDF would only cost every request.
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(session: Session, name: str, password: str, role: Role) -> WebUser:
    if not name or len(name) > 64 or not name.isprintable():
        raise AccountError("user name must be 1-64 printable characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(WebUser).where(WebUser.name == name)) is not None:
        raise AccountError(f"user {name!r} exists already")
    user = WebUser(name=name, password_hash=generate_password_hash(password), role=role.value)
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, name: str, password: str) -> None:
    user = session.scalar(select(WebUser).where(WebUser.name == name))
    if user is None:
        raise AccountError(f"no user {name!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = generate_password_hash(password)


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


def load_user(session: Session, user_id: int, stamp: str) -> WebUser | None:
    user = session.get(WebUser, user_id)
    if user is None or not user.active or user.session_stamp != stamp:
        return None
    return user


def add_token(session: Session, name: str) -> str:
    """Create a token and return it; only its hash is stored, so this is the one time it is shown."""
    if not name or len(name) > 64:
        raise AccountError("token name must be 1-64 characters")
    if session.scalar(select(ApiToken).where(ApiToken.name == name)) is not None:
        raise AccountError(f"token {name!r} exists already")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_sha256=_token_digest(token)))
    session.flush()
    return token


def revoke_token(session: Session, name: str) -> None:
    token = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if token is None:
        raise AccountError(f"no token {name!r}")
    token.revoked = True


def token_by_secret(session: Session, token: str) -> ApiToken | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _token_digest(token)))
    if row is None or row.revoked:
        return None
    return row
