"""Error pages: JSON problems for the API, a readable page for people, never a stack trace."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

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


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _handle)
