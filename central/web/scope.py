"""Regency scope: which regencies the caller may see and act on; the one place that decides it.

A user's or token's ``regencies`` list limits it to those regencies; an empty list is the whole province.
Pages, the wall, live streams, the API, exports and alerts ask here. Something outside the caller's
regencies is answered as if it did not exist (404), so a scope does not reveal what is beyond it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TypeVar

from flask import abort, g
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.storage.models import Agent
from central.web.auth import current_user

T = TypeVar("T")


def visible_regencies() -> frozenset[str] | None:
    """The caller's regencies, or None for the whole province (an API token's scope wins over a login)."""
    token = g.get("api_token")
    if token is not None:
        codes = token.regencies
    else:
        user = current_user()
        codes = user.regencies if user is not None else []
    return frozenset(codes) or None


def province_wide() -> bool:
    return visible_regencies() is None


def sees(regency: str | None) -> bool:
    """Whether the caller may see something of ``regency`` (None: province-level, for province accounts)."""
    visible = visible_regencies()
    return visible is None or regency in visible


def require(regency: str | None, what: str = "this") -> None:
    """404 unless the caller sees ``regency``."""
    if not sees(regency):
        abort(404, description=f"{what} is not in your regencies")


def require_province() -> None:
    """403 for a regency-scoped caller: a province-wide page or action."""
    if not province_wide():
        abort(403, description="only province-wide accounts see or change this")


def within(asked: str | None = None) -> Collection[str] | None:
    """The regencies a list is limited to: ``asked`` alone (404 if not the caller's), else all the caller's."""
    if asked:
        require(asked, f"regency {asked}")
        return (asked,)
    visible = visible_regencies()
    return sorted(visible) if visible is not None else None


def only_visible(items: Iterable[T], key: str = "regency_code") -> list[T]:
    """The items whose ``key`` attribute is a regency the caller sees."""
    visible = visible_regencies()
    return [item for item in items if visible is None or getattr(item, key) in visible]


def agent_regencies(session: Session, names: Collection[str]) -> dict[str, str]:
    """The regency of each named agent (from its certificate, as stored)."""
    if not names:
        return {}
    rows = session.execute(select(Agent.name, Agent.regency_code).where(Agent.name.in_(names)))
    return {name: code for name, code in rows}
