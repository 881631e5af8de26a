"""WS-Security UsernameToken checks (PasswordDigest or PasswordText) against the camera's own clock."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime

from simulator.soap import UsernameToken

# Cameras accept tokens whose Created time is this close to their own clock; outside it they refuse.
AUTH_WINDOW_SECONDS = 300.0
_DIGEST_TYPE_SUFFIX = "#PasswordDigest"


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """Base64(SHA-1(nonce + created + password)), per the UsernameToken Profile 1.0."""
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


def parse_created(text: str) -> float | None:
    """Epoch seconds from an xs:dateTime; naive values are taken as UTC, as cameras do."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def verify_token(token: UsernameToken | None, username: str, password: str, camera_now: float,
                 window: float = AUTH_WINDOW_SECONDS) -> bool:
    """True when the token names this user, proves the password and was created within the window."""
    if token is None or not hmac.compare_digest(token.username.encode(), username.encode()):
        return False
    if token.password_type.endswith(_DIGEST_TYPE_SUFFIX):
        created = parse_created(token.created)
        if created is None or abs(camera_now - created) > window:
            return False
        try:
            nonce = base64.b64decode(token.nonce, validate=True)
        except binascii.Error:
            return False
        return hmac.compare_digest(password_digest(nonce, token.created, password), token.password)
    # PasswordText (or no type): still honoured, as most firmware does.
    return hmac.compare_digest(token.password.encode(), password.encode())
