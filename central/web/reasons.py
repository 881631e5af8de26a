"""Reason codes from agents as words people read: the one place badges and explanations are defined.

The codes are the agent's (documented in ``edge_agent/reasons.py``); this module only words them, in
the current language. A code not listed here still reads sensibly: ``snapshot_http_error`` becomes
"Snapshot http error". Placeholders such as ``{offset_h}`` are filled from the check's details when the
caller has them; without details the short form is used ("clock off").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l


@dataclass(frozen=True, slots=True)
class Wording:
    short: LazyString
    detailed: LazyString | None = None  # with {placeholders} from the check's details


_CAMERA: dict[str, Wording] = {
    "ok": Wording(_l("OK")),
    "unknown": Wording(_l("not checked yet")),
    "no_report": Wording(_l("no report yet")),
    "lost": Wording(_l("no longer discovered")),  # central's own: the agent's inventory dropped it
    "skipped": Wording(_l("not checked")),
    "internal_error": Wording(_l("agent error")),
    "unreachable": Wording(_l("unreachable")),
    "onvif_port_closed": Wording(_l("ONVIF port closed")),
    "rtsp_port_closed": Wording(_l("RTSP port closed")),
    "onvif_timeout": Wording(_l("ONVIF timeout")),
    "onvif_no_answer": Wording(_l("ONVIF not answering")),
    "onvif_malformed": Wording(_l("broken ONVIF answer")),
    "onvif_error": Wording(_l("ONVIF error")),
    "slow_response": Wording(_l("slow response"), _l("slow (%(elapsed_s)s s)")),
    "auth_failed": Wording(_l("wrong password")),
    "clock_skew": Wording(_l("clock off"), _l("clock %(offset_h)s h off")),
    "snapshot_unavailable": Wording(_l("no snapshot URI")),
    "snapshot_timeout": Wording(_l("snapshot timeout")),
    "snapshot_unreachable": Wording(_l("snapshot unreachable")),
    "snapshot_auth_failed": Wording(_l("snapshot wrong password")),
    "snapshot_http_error": Wording(_l("snapshot HTTP error"), _l("snapshot HTTP %(http_status)s")),
    "snapshot_not_jpeg": Wording(_l("snapshot not a JPEG")),
    "black": Wording(_l("black image")),
    "dark": Wording(_l("dark image")),
    "frozen": Wording(_l("frozen image")),
    "blurred": Wording(_l("blurred image")),
    "covered": Wording(_l("lens covered")),
    "rtsp_unavailable": Wording(_l("no stream URI")),
    "rtsp_timeout": Wording(_l("stream timeout")),
    "rtsp_unreachable": Wording(_l("stream unreachable")),
    "rtsp_auth_failed": Wording(_l("stream wrong password")),
    "rtsp_no_frames": Wording(_l("stream not decoding")),
    "resolution_mismatch": Wording(
        _l("wrong resolution"), _l("resolution %(actual)s (expected %(expected)s)")
    ),
    "low_fps": Wording(_l("low frame rate"), _l("%(fps)s fps (expected %(expected_fps)s)")),
}

_WEBSITE: dict[str, Wording] = {
    "ok": Wording(_l("OK")),
    "no_report": Wording(_l("no report yet")),
    "stale": Wording(_l("not updated")),
    "fresh": Wording(_l("up to date")),
    "timeout": Wording(_l("timeout")),
    "unreachable": Wording(_l("unreachable")),
    "dns_error": Wording(_l("name not found")),
    "http_error": Wording(_l("HTTP error"), _l("HTTP %(http_status)s")),
    "server_error": Wording(_l("server error")),
    "tls_invalid": Wording(_l("certificate invalid")),
    "tls_expired": Wording(_l("certificate expired")),
    "tls_expiring": Wording(_l("certificate expiring"), _l("certificate expires in %(days)s d")),
    "slow_response": Wording(_l("slow response")),
    "defaced": Wording(_l("content changed suspiciously")),
    "freshness_unknown": Wording(_l("freshness cannot be judged")),
    "maintenance": Wording(_l("in maintenance")),
    "maintenance_overrun": Wording(_l("maintenance overran")),
    "tls_handshake_failed": Wording(_l("TLS handshake failed")),
    "bad_encoding": Wording(_l("unreadable compression")),
    "too_large": Wording(_l("page too large")),
}


def humanize_code(code: str) -> str:
    """The fallback for a code nobody worded yet: ``snapshot_http_error`` -> "Snapshot http error"."""
    words = code.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else "?"


def _word(table: Mapping[str, Wording], code: str, details: Mapping[str, object] | None) -> str:
    wording = table.get(code)
    if wording is None:
        return humanize_code(code)
    if details and wording.detailed is not None:
        try:
            return str(wording.detailed) % dict(details)
        except (KeyError, TypeError, ValueError):
            pass
    return str(wording.short)


def camera_reason(code: str, details: Mapping[str, object] | None = None) -> str:
    """Why a camera is in its state, as a short badge text in the current language."""
    return _word(_CAMERA, code, details)


def website_reason(code: str, details: Mapping[str, object] | None = None) -> str:
    return _word(_WEBSITE, code, details)


def details_for(checks: list[object] | None, code: str) -> dict[str, object]:
    """The details of the check whose reason is ``code`` (what fills a badge's placeholders)."""
    for check in checks or ():
        if isinstance(check, Mapping) and check.get("reason") == code:
            details = check.get("details")
            return dict(details) if isinstance(details, Mapping) else {}
    return {}
