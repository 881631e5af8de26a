"""The one place credentials are removed from text: URLs, query strings and known secrets."""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, quote_plus, unquote

MASK = "***"

# user:password@ inside any scheme://; the user name is kept because it helps a technician. The
# user info runs to the *last* '@' of the authority: technicians type passwords with a raw '@' in
# them, and some cameras use e-mail addresses as user names ("ops@dinkes.go.id:pw@10.1.1.1").
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")
_CONFIGURED_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?P<userinfo>[^/?#]*)@")
# Vendors put credentials in query strings too (snapshot.cgi?user=admin&pwd=...).
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pwd|pass|auth|token|key|secret)=)[^&#\s\"'<]*", re.IGNORECASE
)
# Digest/Basic headers if a library ever puts one into an exception message.
_AUTH_HEADER = re.compile(r"(?P<key>Authorization:\s*(?:Basic|Digest)\s+)[^\r\n]*", re.IGNORECASE)

_lock = threading.Lock()
# Secrets of at least this many characters are masked wherever they appear. A shorter one ("123", "a b")
# would also match inside ordinary words and numbers, so it is masked wherever it stands on its own:
# not glued to a letter or digit on either side. That still covers every way it reaches a log line
# (":123@", "=123&", "password 123 rejected", an IP's last octet), at the price of masking an equal
# word now and then; a log line with a stray *** is better than a password in the journal.
_ANYWHERE_LENGTH = 4
_secrets: dict[str, re.Pattern[str] | None] = {}


def _spellings(secret: str) -> set[str]:
    # As typed, and as it appears once a library has put it into a URL (percent- or form-encoded).
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}


def register_secret(secret: str | None) -> None:
    """Remember a configured secret so it is masked wherever it shows up, whatever its length."""
    if not secret:
        return
    with _lock:
        for spelling in _spellings(secret):
            if len(spelling) >= _ANYWHERE_LENGTH:
                _secrets[spelling] = None
            else:
                _secrets[spelling] = re.compile(rf"(?<![A-Za-z0-9]){re.escape(spelling)}(?![A-Za-z0-9])")


def register_url_secrets(url: str | None) -> None:
    """Register the password in a configured URL's user info, so it is masked even where it is not a URL."""
    if not url:
        return
    # One configured URL, so its user info may hold a raw space (the log patterns cannot allow that).
    match = _CONFIGURED_USERINFO.match(url.strip())
    if match and ":" in match["userinfo"]:
        register_secret(unquote(match["userinfo"].split(":", 1)[1]))
    for query in _QUERY_SECRET.finditer(url):
        register_secret(unquote(query.group(0)[len(query["key"]):]))


def _mask_userinfo(match: re.Match[str]) -> str:
    user = match["userinfo"].split(":", 1)[0]
    return f"{match['scheme']}{user}:{MASK}@" if user else match["scheme"]


def scrub(text: object) -> str:
    """``text`` with every credential replaced by ``***``; safe on anything str() accepts."""
    value = str(text)
    # Known secrets first: the patterns below stop at a space, so a password with one inside would be
    # cut in two by them and its second half no longer match.
    with _lock:
        secrets = sorted(_secrets.items(), key=lambda item: len(item[0]), reverse=True)
    for secret, standalone in secrets:
        if secret in value:
            value = value.replace(secret, MASK) if standalone is None else standalone.sub(MASK, value)
    value = _USERINFO.sub(_mask_userinfo, value)
    value = _QUERY_SECRET.sub(lambda m: m["key"] + MASK, value)
    return _AUTH_HEADER.sub(lambda m: m["key"] + MASK, value)


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
