"""HTTP Digest (RFC 7616/2617, MD5, qop=auth) and Basic authentication for the snapshot endpoint."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time

NONCE_LIFETIME_SECONDS = 300
_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse_auth_params(header_value: str) -> dict[str, str]:
    """``Digest a="b", c=d`` -> ``{"a": "b", "c": "d"}`` (quoted strings may contain commas)."""
    params = {}
    for key, raw in _PARAM.findall(header_value):
        value = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\") if raw.startswith('"') else raw
        params[key.lower()] = value
    return params


class DigestAuthenticator:
    """Issues stateless, HMAC-signed nonces and checks Digest or Basic credentials against them."""

    def __init__(self, realm: str, secret: bytes | None = None) -> None:
        self.realm = realm
        self._secret = secret or os.urandom(32)
        self._opaque = hashlib.sha256(self._secret + b"opaque").hexdigest()[:32]

    def _nonce(self, issued: int) -> str:
        signature = hmac.new(self._secret, str(issued).encode(), hashlib.sha256).hexdigest()[:24]
        return base64.b64encode(f"{issued}:{signature}".encode()).decode()

    def _nonce_state(self, nonce: str) -> str:
        """``"fresh"``, ``"stale"`` (ours but expired: the client should retry) or ``"bad"``."""
        try:
            issued_text, _signature = base64.b64decode(nonce, validate=True).decode().split(":")
            issued = int(issued_text)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return "bad"
        if not hmac.compare_digest(self._nonce(issued), nonce):
            return "bad"
        return "fresh" if time.time() - issued <= NONCE_LIFETIME_SECONDS else "stale"

    def challenge(self, stale: bool = False) -> str:
        """The ``WWW-Authenticate`` value for a Digest challenge."""
        value = (f'Digest realm="{self.realm}", qop="auth", algorithm=MD5, '
                 f'nonce="{self._nonce(int(time.time()))}", opaque="{self._opaque}"')
        return value + (", stale=true" if stale else "")

    def basic_challenge(self) -> str:
        return f'Basic realm="{self.realm}"'

    def check_digest(self, header_value: str, method: str, username: str, password: str,
                     request_target: str | None = None) -> str:
        """``"ok"``, ``"stale"`` or ``"denied"`` for an ``Authorization: Digest ...`` header.

        With ``request_target`` the digest's ``uri`` must name the resource actually requested, so a
        response captured for one URL cannot be replayed against another.
        """
        if header_value[:7].lower() != "digest ":
            return "denied"
        params = parse_auth_params(header_value[7:])
        required = ("username", "realm", "nonce", "uri", "response")
        if any(key not in params for key in required):
            return "denied"
        if params.get("algorithm", "MD5").upper() != "MD5" or params["realm"] != self.realm:
            return "denied"
        if request_target is not None and params["uri"] not in (request_target, request_target.split("?")[0]):
            return "denied"
        nonce_state = self._nonce_state(params["nonce"])
        if nonce_state == "bad":
            return "denied"
        ha1 = _md5(f"{username}:{self.realm}:{password}")
        ha2 = _md5(f"{method}:{params['uri']}")
        qop = params.get("qop")
        if qop == "auth":
            if "nc" not in params or "cnonce" not in params:
                return "denied"
            expected = _md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}")
        elif qop is None:
            expected = _md5(f"{ha1}:{params['nonce']}:{ha2}")
        else:
            return "denied"
        user_ok = hmac.compare_digest(params["username"].encode(), username.encode())
        if not (user_ok and hmac.compare_digest(expected, params["response"].lower())):
            return "denied"
        return "ok" if nonce_state == "fresh" else "stale"

    @staticmethod
    def check_basic(header_value: str, username: str, password: str) -> bool:
        if header_value[:6].lower() != "basic ":
            return False
        try:
            decoded = base64.b64decode(header_value[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        given_user, sep, given_password = decoded.partition(":")
        return bool(sep) and hmac.compare_digest(f"{given_user}:{given_password}".encode(),
                                                 f"{username}:{password}".encode())
