"""Numbers from URLs, range-checked: out of range is a 400 (a query parameter) or a 404 (an id), never a 500.

Python ints are unbounded but database integers are not: ``?offset=9223372036854775808`` or a camera id
of twenty digits used to overflow the driver. Every route's ``<int:...>`` goes through
:class:`BoundedInt`, and query parameters through :func:`int_arg`.
"""

from __future__ import annotations

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter, Map

MAX_ID = 2**63 - 1  # BIGINT ids
MAX_OFFSET = 10**9  # further than any list here reaches; keeps OFFSET inside every driver's integer


class BoundedInt(IntegerConverter):
    """``<int:x>`` limited to 0..MAX_ID: a larger number matches no route (404), as no row has it."""

    def __init__(self, map: Map, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)  # type: ignore[arg-type]


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """?name as a whole number in [low, high], ``default`` when absent or empty; 400 otherwise."""
    raw = request.args.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        abort(400, description=f"{name} must be a whole number")
    if not low <= value <= high:
        abort(400, description=f"{name} must be between {low} and {high}")
    return value


def init_app(app: Flask) -> None:
    """Before any blueprint adds rules: every ``<int:...>`` in the app is bounded."""
    app.url_map.converters["int"] = BoundedInt
