"""Redirect targets taken from a request: only same-origin relative paths survive, anything else is the default."""

from __future__ import annotations

from urllib.parse import urlsplit


def _has_control_char(text: str) -> bool:
    # Browsers drop tab/CR/LF inside URLs, so "/\t/evil.example" would become "//evil.example".
    return any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in text)


def safe_next(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site ("/x?y"), else ``default``.

    Browsers read "\\" as "/" in a Location header, so "/\\evil.example" means "//evil.example":
    a backslash anywhere is refused, not just a leading "//".
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or _has_control_char(target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
