"""The key that signs the web's cookies: the configured one, else one generated once and kept in the database.

Every web process and every box on the same database must sign with the same key, or each refuses the
cookies the others signed and users seem logged out at random behind a load balancer. So when
``web.secret_key`` is empty the first process to start generates a key and stores it in
``web_secrets``; every other worker and box reads that row. Two processes starting at once both try
the insert; the database keeps one and both read it back.

The key is fetched when the first request opens a session, not when the app is built: a web process
must boot (and answer ``/healthz`` and error pages) while its database is briefly away.

An install that kept its generated key in the state dir (``web_secret_key``, before the key moved
here) seeds the row with it, so the upgrade logs nobody out. The key is as secret as the database:
a database backup holds it (it signs only a random session id that must also be a live row, but set
``web.secret_key`` explicitly where backups leave your hands).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import String, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from central.config import CentralConfig
from central.storage.db import Database
from central.storage.models import Base

log = logging.getLogger(__name__)

COOKIE_KEY = "cookie_signing"
LEGACY_FILE = "web_secret_key"  # where the key was generated before it moved to the database


class WebSecret(Base):
    """A secret every web process shares (today only the cookie-signing key)."""

    __tablename__ = "web_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


_TABLE: Table = WebSecret.__table__  # type: ignore[assignment]
_KEY = select(WebSecret.value).where(WebSecret.name == COOKIE_KEY)


def shared_key(database: Database, state_dir: Path) -> str:
    """The key every web process on ``database`` signs with, created by the first that asks."""
    with database.session() as session:  # a read, once per process: no write lock unless it is missing
        stored = session.execute(_KEY).scalar_one_or_none()
    if stored is not None:
        return stored
    with database.session(write=True) as session:
        insert = (sqlite.insert if database.is_sqlite else postgresql.insert)(_TABLE)
        session.execute(insert.values(name=COOKIE_KEY, value=_first_key(state_dir))
                        .on_conflict_do_nothing(index_elements=["name"]))  # fmt: skip
        return session.execute(_KEY).scalar_one()


def _first_key(state_dir: Path) -> str:
    try:
        legacy = (state_dir / LEGACY_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        legacy = ""
    return legacy or secrets.token_urlsafe(48)


class _SharedKeySessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the key fetched from the database on first use."""

    def __init__(self, database: Database, state_dir: Path) -> None:
        self._database = database
        self._state_dir = state_dir

    def get_signing_serializer(self, app: Flask) -> Any:
        if not app.secret_key:
            try:
                app.secret_key = shared_key(self._database, self._state_dir)
            except SQLAlchemyError as error:
                # No session this request (Flask's NullSession): pages that need a login say so, and
                # /healthz reports the database; the next request asks again.
                log.error("cannot read the cookie-signing key from the database: %s", error)
                return None
        return super().get_signing_serializer(app)


def init_app(app: Flask, config: CentralConfig, database: Database) -> None:
    """Sign cookies with ``web.secret_key``, else the key shared through the database.

    A key already on the app (``SECRET_KEY`` in a test's config) is left alone.
    """
    if app.secret_key:
        return
    if configured := config.web.secret_key.get_secret_value():
        app.secret_key = configured
    else:
        app.session_interface = _SharedKeySessions(database, Path(config.state_dir))
