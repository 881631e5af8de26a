"""Error pages: JSON problems for the API, a readable page for people, never a stack trace."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException


def _handle(error: HTTPException) -> ResponseReturnValue:
    code = error.code or 500
    if request.path.startswith("/api/"):
        response = jsonify(error=error.name, status=code, detail=error.description)
        response.status_code = code
        if code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="scc"'
        return response
    return render_template("error.html", code=code, message=error.description), code


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _handle)
