"""Error pages: JSON problems for the API, a readable page for people, never a stack trace."""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from central.storage.outage import WriteOutage, is_disk_full, is_unavailable
from central.web.database import db_session, get_database

log = logging.getLogger(__name__)
_WRITING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# How long a refused client should wait: long enough for an operator to make room, short for an outage.
RETRY_AFTER_S = 60

# What a person reads for each error, in the page's language (werkzeug's descriptions are English).
ERROR_WORDS = {
    400: _l("The request could not be understood."),
    401: _l("Please log in first."),
    403: _l("Your account may not open this page."),
    404: _l("There is no such page."),
    405: _l("This page cannot be used that way."),
    413: _l("What was sent is too large."),
    429: _l("Too many requests. Please wait a moment and try again."),
    500: _l("Something went wrong on the server. Please try again later."),
    503: _l("The server is busy. Please try again shortly."),
}


def _handle(error: HTTPException) -> ResponseReturnValue:
    code = error.code or 500
    if request.path.startswith("/api/"):
        response = jsonify(error=error.name, status=code, detail=error.description)
        response.status_code = code
        if code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="scc"'
        return response
    message = ERROR_WORDS.get(code, ERROR_WORDS[500] if code >= 500 else ERROR_WORDS[400])
    # What the app itself said (abort(400, description=...)) stays, as a detail: it says what to fix.
    detail = error.description if error.description != type(error).description else None
    return render_template("error.html", code=code, message=message, detail=detail), code


def _outage() -> WriteOutage:
    """This worker's outage tracker (made at the first use: the database is known by then)."""
    outage: WriteOutage | None = current_app.extensions.get("scc_write_outage")
    if outage is None:
        outage = WriteOutage(log, get_database().url, "logins and edits are refused with a 503 until it can "
                             "write again; pages still show what is stored")
        current_app.extensions["scc_write_outage"] = outage
    return outage


def _database_refused(error: DBAPIError) -> ResponseReturnValue:
    """The database is down, unreachable or full (a login, an edit): a 503 that says so, not a 500.

    Pages that only read keep working on a full disk; what needs a write cannot, and the person is told
    plainly. The log gets one line per outage and worker, not a traceback per request.
    """
    if not is_unavailable(error):
        raise error  # a real bug: Flask logs it and answers with the 500 page
    _outage().failed(error)
    full = is_disk_full(error)
    with contextlib.suppress(Exception):
        db_session().rollback()  # the page itself reads (who is logged in): not through the failed transaction
    if request.path.startswith("/api/"):
        detail = "central's database disk is full" if full else "central's database is unavailable"
        response = jsonify(error="Service Unavailable", status=503, detail=detail + "; try again later")
    else:
        message = (_("Central cannot save anything right now: the disk of its database is full. What is "
                     "already stored can still be viewed. Please tell the administrator and try again later.")
                   if full else _("Central cannot reach its database right now. Please try again later."))
        response = Response(render_template("error.html", code=503, message=message, detail=None))
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _writes_work(response: Response) -> Response:
    """A write request that succeeded ends this worker's outage (its 'writable again' line)."""
    outage = current_app.extensions.get("scc_write_outage")
    if outage is not None and request.method in _WRITING and response.status_code < 400:
        outage.recovered()
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _handle)
    app.register_error_handler(DBAPIError, _database_refused)
    app.after_request(_writes_work)
