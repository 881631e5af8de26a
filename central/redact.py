"""Secret-free renderings of URLs that carry credentials, for pages, logs and reprs."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

_USERINFO_PASSWORD = re.compile(r"(//[^/@:]*):[^/@]*@")


def display_url(url: str) -> str:
    """``scheme://host[:port]/…``: Slack, Teams and Telegram webhooks carry their token in path or query."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "…"
    if not parts.scheme or not parts.hostname:
        return "…"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None:
        host = f"{host}:{port}"
    tail = "/…" if parts.path not in ("", "/") or parts.query or parts.fragment else "/"
    return f"{parts.scheme}://{host}{tail}"


def database_url(url: str) -> str:
    """A database URL with its password masked; host, user and database stay for the reader."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Not a URL SQLAlchemy parses: still never show what sits between "user:" and "@".
        return _USERINFO_PASSWORD.sub(r"\1:***@", url)


class DatabaseUrl(str):
    """A database URL string whose repr masks the password, so config reprs and dumps can be logged."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(database_url(str(self)))

    @property
    def masked(self) -> str:
        return database_url(str(self))
