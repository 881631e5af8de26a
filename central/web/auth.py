"""Log in and out, who the current user is, and the decorators that guard views by role."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from central.web.accounts import Role, WebUser, authenticate
from central.web.database import db_session
from central.web.ratelimit import LoginThrottle
from central.web.redirects import safe_next
from central.web.sessions import end_session, session_user, start_session

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])

SESSION_ID_KEY = "sid"  # the server-side session's id (sessions.py); the cookie is signed as well


def current_user() -> WebUser | None:
    if "_scc_user" not in g:
        session_id = session.get(SESSION_ID_KEY)
        g._scc_user = session_user(db_session(), session_id) if isinstance(session_id, str) else None
    return cast(WebUser | None, g._scc_user)


def current_role() -> Role | None:
    user = current_user()
    return Role(user.role) if user is not None else None


def can(needed: str) -> bool:
    role = current_role()
    return role is not None and role.allows(Role(needed))


def login_required(view: F) -> F:
    return role_required(Role.VIEWER)(view)


def role_required(needed: Role) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            role = current_role()
            if role is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not role.allows(needed):
                abort(403)
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate


def _throttle() -> LoginThrottle:
    throttle: LoginThrottle = current_app.extensions["scc_login_throttle"]
    return throttle


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int, dict[str, str]]:
    if request.method == "GET":
        # Never echo a foreign target back into the form, even though the POST checks it again.
        return render_template("login.html", next=safe_next(request.args.get("next"), ""))
    name = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    # The client's address: the peer's own, or what a trusted proxy says it is (central/web/proxies.py).
    address = request.remote_addr or ""
    # The request's session: a POST's transactions take SQLite's write lock at BEGIN (database.py), so
    # the throttle's count and last_login_at never have to upgrade a read snapshot the ingest moved past.
    database_session = db_session()
    wait = _throttle().retry_after(database_session, address, name)
    if wait:
        database_session.rollback()
        flash(_("Too many failed attempts. Try again in %(seconds)d seconds.", seconds=wait), "error")
        return (
            render_template("login.html", next=safe_next(request.form.get("next"), "")),
            429,
            {"Retry-After": str(wait)},
        )
    user = authenticate(database_session, name, password)
    if user is None:  # counted in the same transaction, so no other attempt slips in between
        _throttle().fail(database_session, address, name)
        database_session.commit()
        flash(_("Wrong user name or password."), "error")
        return render_template("login.html", next=safe_next(request.form.get("next"), "")), 401, {}
    session_id = start_session(database_session, user, current_app.permanent_session_lifetime)
    _throttle().succeed(database_session, address, name)
    database_session.commit()
    _fresh_cookie_session()  # no fixation of a pre-login session or CSRF token
    session[SESSION_ID_KEY] = session_id
    session.permanent = True
    return redirect(safe_next(request.form.get("next"), url_for("pages.overview")))


def _fresh_cookie_session() -> None:
    """An empty cookie session that keeps only the chosen language."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    session_id = session.get(SESSION_ID_KEY)
    if isinstance(session_id, str):
        database_session = db_session()
        end_session(database_session, session_id)  # a copy of the cookie dies with this one
        database_session.commit()
    _fresh_cookie_session()
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    app.extensions["scc_login_throttle"] = LoginThrottle()
    app.jinja_env.globals["current_user"] = current_user
    app.jinja_env.globals["can"] = can
    app.register_blueprint(bp)
