"""A Server-Timing header on every response: how long the app itself took, for browsers and benchmarks."""

from __future__ import annotations

import time

from flask import Flask, Response, g


def _start() -> None:
    g._scc_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.get("_scc_started")
    if started is not None and not response.is_streamed:
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
