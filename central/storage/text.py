"""Text and JSON that both databases store: the one place untrusted strings are made storable.

PostgreSQL refuses a NUL in text and JSONB, and neither backend stores a lone surrogate (not UTF-8);
pydantic lets both through from the wire. Every string from an agent goes through here before it is
written; the checks of a report go through :func:`checks_json`, which skips the work when there is
nothing to clean (the usual case, on the ingest's hot path).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import TypeAdapter

from central.storage.db import EncodedJson
from shared.messages import CheckOutcome

_CHECKS = TypeAdapter(list[CheckOutcome])


def clean_text(value: str) -> str:
    """Text any database stores: no NUL (PostgreSQL refuses it) and no lone surrogates (not UTF-8)."""
    if value.isascii():
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def json_safe(value: Any) -> Any:
    """JSON both backends accept: finite numbers, clean text."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {clean_text(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def checks_json(checks: list[CheckOutcome]) -> EncodedJson | list[dict[str, Any]]:
    """A report's checks for the JSON column: pydantic's own encoding, or cleaned values when it has a NUL."""
    # Encoding in pydantic's core is ~10x cheaper than building the dicts for json.dumps. Its JSON
    # already maps non-finite floats to null and cannot hold lone surrogates (decoding refuses them);
    # only a NUL (\u0000, which PostgreSQL's JSONB refuses) needs the slow, cleaning path.
    encoded = _CHECKS.dump_json(checks)
    if b"\\u0000" not in encoded:
        return EncodedJson(encoded.decode())
    out = []
    for check in checks:
        duration = check.duration_ms
        details = check.details
        out.append(
            {
                "check": check.check,
                "outcome": check.outcome.value,
                "reason": check.reason,
                "message": clean_text(check.message),
                "duration_ms": duration if math.isfinite(duration) else None,
                "details": (details if _plain(details) else json_safe(details)) if details else {},
            }
        )
    return out


def _plain(details: dict[str, Any]) -> bool:
    """A flat dict of ASCII text and finite numbers, which json_safe would return unchanged (the usual case)."""
    for key, value in details.items():
        if type(key) is not str or not key.isascii() or "\x00" in key:
            return False
        kind = type(value)
        if kind is str:
            if not value.isascii() or "\x00" in value:
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif not (kind is int or kind is bool or value is None):
            return False
    return True
