"""Reason codes as words people read, in the current language.

The codes, their English wording and what each means are one table in ``shared/reasons.py``; this
module only translates them (the wordings are msgids of the web's catalog). A code missing from the
table reads as a neutral phrase in the page's language naming the code ("alasan lain (new_code)"), never
as English. Placeholders such as
``%(offset_h)s`` are filled from the check's details when the caller has them; without details the
short form is used ("clock off").
"""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext

from shared.reasons import CAMERA, WEBSITE, worded

__all__ = ["camera_reason", "details_for", "website_reason"]


def camera_reason(code: str, details: Mapping[str, object] | None = None) -> str:
    """Why a camera is in its state, as a short badge text in the current language."""
    return worded(CAMERA, code, details, gettext)


def website_reason(code: str, details: Mapping[str, object] | None = None) -> str:
    return worded(WEBSITE, code, details, gettext)


def details_for(checks: list[object] | None, code: str) -> dict[str, object]:
    """The details of the check whose reason is ``code`` (what fills a badge's placeholders)."""
    for check in checks or ():
        if isinstance(check, Mapping) and check.get("reason") == code:
            details = check.get("details")
            return dict(details) if isinstance(details, Mapping) else {}
    return {}
