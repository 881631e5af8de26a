"""CSRF tokens, security headers and session-cookie hardening for every response the web app sends."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from flask import Flask, Response, abort, g, request, session

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

# Everything is served from this origin: no CDN, no inline script, no inline style.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "media-src 'self'",  # the wall's alarm sound
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


# Lax: the cookie still rides top-level navigation from a link in a chat message, never a cross-site POST.
SESSION_SETTINGS = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "scc_session",
}


def csrf_token() -> str:
    """The session's CSRF token, created on first use; forms embed it, fetch() sends it as a header."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_exempt(view: Callable[..., object]) -> Callable[..., object]:
    """Mark a view that authenticates without cookies (bearer tokens), so CSRF cannot apply."""
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


def _check_csrf() -> None:
    if request.method in _SAFE_METHODS or request.routing_exception is not None:
        return  # a 404 or 405 is the better answer
    if request.blueprint == "api":
        return  # read-only, and refuses unsafe methods itself
    view = current_view()
    if view is not None and getattr(view, "csrf_exempt", False):
        return
    expected = session.get(CSRF_FIELD)
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(expected, sent):
        abort(400, description="CSRF token missing or wrong; reload the page and try again.")


def current_view() -> Callable[..., object] | None:
    from flask import current_app

    if request.endpoint is None:
        return None
    return current_app.view_functions.get(request.endpoint)


def _add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
    if request.is_secure or g.get("force_hsts"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if "Cache-Control" not in headers and response.mimetype == "text/html":
        headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Check CSRF on every unsafe request and add the security headers (cookie flags: see SESSION_SETTINGS)."""
    app.before_request(_check_csrf)
    app.after_request(_add_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
