"""The request's one database session: reads for GET, SQLite's write lock at BEGIN for POST and the like.

Every view, query and decorator of a request shares :func:`db_session`. On SQLite in WAL mode a
deferred transaction that has read (holding a snapshot) and then writes fails at once with "database
is locked" when the ingest committed in between: SQLite cannot upgrade a stale snapshot and does not
call the busy handler for it. So the session of a writing request (POST, PUT, PATCH, DELETE) begins
every transaction with BEGIN IMMEDIATE, which waits up to ``busy_timeout`` for the ingest instead.
GET and HEAD stay plain readers and never block anyone.

That lock belongs to the request's session; two rules keep it from biting its own request:

* :func:`released` commits the request's work and runs a block without the lock, for network I/O
  (publishing a command, talking to a mail server) that must not stall the ingest.
* Another session opened on the same Database while the request's session holds the write lock (a
  service that manages its own transactions, such as the alerts "send test" queue or send_command)
  first commits the request's transaction, in the same way; without that it would wait on the
  request's own lock for the whole busy timeout and then fail.

:func:`write_transaction` is the one way a reading request writes (the API records a token's use).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Connection, event
from sqlalchemy.orm import Session, SessionTransaction

from central.storage.db import Database, write_lock_options

EXTENSION_KEY = "scc_database"
WRITING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

log = logging.getLogger(__name__)

_SESSION = "_scc_session"
_LOCK_HOLDER = "_scc_locked_connection"  # the connection of the request's open write transaction


def init_app(app: Flask, database: Database) -> None:
    app.extensions[EXTENSION_KEY] = database
    app.teardown_appcontext(_close_session)
    # On connect, not on "begin": storage's own "begin" listener issues the BEGIN (IMMEDIATE) that would
    # wait on the lock, and listener order is not ours to choose.
    if not event.contains(database.engine, "engine_connect", _release_before_other_connection):
        event.listen(database.engine, "engine_connect", _release_before_other_connection)


def get_database() -> Database:
    database: Database = current_app.extensions[EXTENSION_KEY]
    return database


def db_session() -> Session:
    """This request's session; views that write call ``commit()`` (teardown rolls back the rest)."""
    session: Session | None = g.get(_SESSION)
    if session is None:
        writing = has_request_context() and request.method in WRITING_METHODS
        session = get_database().new_session(write=writing)
        if writing:
            event.listen(session, "after_begin", _remember_lock)
            event.listen(session, "after_transaction_end", _forget_lock)
        setattr(g, _SESSION, session)
    return session


@contextmanager
def released() -> Iterator[None]:
    """Commit the request's work so far and run the block without holding its transaction (or lock)."""
    session: Session | None = g.get(_SESSION)
    if session is not None and session.in_transaction():
        session.commit()
    yield


@contextmanager
def write_transaction() -> Iterator[Session]:
    """A write transaction on the request's session (waits for the lock); commits when the block succeeds.

    For the rare write of a reading request: its read snapshot is ended first, since upgrading it is
    exactly what fails.
    """
    session = db_session()
    if session.in_transaction():
        session.commit()
    session.connection(execution_options=write_lock_options())
    try:
        yield session
        # Inside the try: a commit that fails (a full disk) must leave the session usable for the request's
        # reads, not stuck 'prepared' (every later query of the request would raise).
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _remember_lock(_session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    if has_request_context():
        setattr(g, _LOCK_HOLDER, connection)


def _forget_lock(_session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and has_request_context():
        g.pop(_LOCK_HOLDER, None)


def _release_before_other_connection(connection: Connection) -> None:
    """This request opens another connection: let go of the request's write lock before it can BEGIN."""
    if not has_request_context():
        return
    holder: Any = g.get(_LOCK_HOLDER)
    if holder is None or holder is connection:
        return
    session: Session | None = g.get(_SESSION)
    if session is not None and session.in_transaction():
        log.debug("committing the request's transaction before %s opens another", request.endpoint)
        session.commit()


def _close_session(_error: BaseException | None) -> None:
    session: Session | None = g.pop(_SESSION, None)
    g.pop(_LOCK_HOLDER, None)
    if session is not None:
        session.close()
