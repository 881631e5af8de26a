"""The request's database session: one per request from the app's storage Database, closed at teardown."""

from __future__ import annotations

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from central.storage.db import Database

EXTENSION_KEY = "scc_database"


def init_app(app: Flask, database: Database) -> None:
    app.extensions[EXTENSION_KEY] = database
    app.teardown_appcontext(_close_session)


def get_database() -> Database:
    database: Database = current_app.extensions[EXTENSION_KEY]
    return database


# Requests that may write; views that write call ``commit()`` themselves.
_WRITING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def db_session() -> Session:
    """This request's session: a read session for GET/HEAD, a write session for POST and the like.

    On SQLite a read transaction that later writes fails at once with "database is locked" when the
    ingest committed in between (WAL cannot upgrade a stale snapshot, and busy_timeout does not apply),
    so a login during a busy ingest was a 500. A write session takes the lock at BEGIN and waits for it.
    """
    session: Session | None = g.get("_scc_session")
    if session is None:
        session = g._scc_session = get_database().new_session(write=request.method in _WRITING_METHODS)
    return session


def _close_session(_error: BaseException | None) -> None:
    session: Session | None = g.pop("_scc_session", None)
    if session is not None:
        session.close()
