"""The request's database session: one per request from the app's storage Database, closed at teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from central.storage.db import Database

EXTENSION_KEY = "scc_database"


def init_app(app: Flask, database: Database) -> None:
    app.extensions[EXTENSION_KEY] = database
    app.teardown_appcontext(_close_session)


def get_database() -> Database:
    database: Database = current_app.extensions[EXTENSION_KEY]
    return database


def db_session() -> Session:
    """A read session for this request; views that write call ``commit()`` themselves."""
    session: Session | None = g.get("_scc_session")
    if session is None:
        session = g._scc_session = get_database().new_session()
    return session


def _close_session(_error: BaseException | None) -> None:
    session: Session | None = g.pop("_scc_session", None)
    if session is not None:
        session.close()
