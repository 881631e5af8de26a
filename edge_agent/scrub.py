"""The one place credentials are removed from text: URLs, query strings and known secrets."""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote

MASK = "***"

# user:password@ inside any scheme://; the user name is kept because it helps a technician. The
# user info runs to the *last* '@' of the authority: technicians type passwords with a raw '@' in
# them, and some cameras use e-mail addresses as user names ("ops@dinkes.go.id:pw@10.1.1.1").
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")
# Vendors put credentials in query strings too (snapshot.cgi?user=admin&pwd=...).
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pwd|pass|auth|token|key|secret)=)[^&#\s\"'<]*", re.IGNORECASE
)
# Digest/Basic headers if a library ever puts one into an exception message.
_AUTH_HEADER = re.compile(r"(?P<key>Authorization:\s*(?:Basic|Digest)\s+)[^\r\n]*", re.IGNORECASE)

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Remember a configured password so it is masked wherever it shows up, even outside a URL."""
    # Very short secrets would mask ordinary words; they are still masked inside URLs.
    if secret and len(secret) >= 4:
        with _lock:
            _secrets.add(secret)
            _secrets.add(quote(secret, safe=""))


def _mask_userinfo(match: re.Match[str]) -> str:
    user = match["userinfo"].split(":", 1)[0]
    return f"{match['scheme']}{user}:{MASK}@" if user else match["scheme"]


def scrub(text: object) -> str:
    """``text`` with every credential replaced by ``***``; safe on anything str() accepts."""
    value = str(text)
    value = _USERINFO.sub(_mask_userinfo, value)
    value = _QUERY_SECRET.sub(lambda m: m["key"] + MASK, value)
    value = _AUTH_HEADER.sub(lambda m: m["key"] + MASK, value)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in value:
            value = value.replace(secret, MASK)
    return value


class ScrubFilter(logging.Filter):
    """Scrubs every record a handler emits, including args and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatted once here so the traceback text is scrubbed too.
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install_log_scrubbing() -> None:
    """Attach ScrubFilter to every root handler (call after logging is configured)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubFilter) for f in handler.filters):
            handler.addFilter(ScrubFilter())
