"""The SCC web app factory: ``create_app()`` builds the Flask app with its blueprints, auth and i18n."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from flask import Flask

from central.config import CentralConfig

CONFIG_ENV = "SCC_CENTRAL_CONFIG"


def _load_default_config() -> CentralConfig:
    from central.config import load_config

    path = os.environ.get(CONFIG_ENV)
    return load_config(Path(path) if path else None)


def create_app(config: CentralConfig | None = None, test_config: dict[str, Any] | None = None) -> Flask:
    """Build the web app; ``test_config`` overrides Flask settings (and may carry ``DATABASE``)."""
    from central.api import alerts as api_alerts
    from central.api import quarantine as api_quarantine
    from central.api import v1
    from central.storage.db import Database
    from central.web import (
        alerts,
        auth,
        database,
        editing,
        errors,
        i18n,
        live,
        live_audit,
        live_view,
        ops,
        pages,
        params,
        province,
        proxies,
        public,
        quarantine,
        reports,
        secret_key,
        security,
        templating,
        timing,
        wall,
    )

    config = config or _load_default_config()
    test_config = dict(test_config or {})
    # An explicit instance path spares Flask its package lookup, which raised StopIteration ("Worker failed
    # to boot") when gunicorn ran from a directory holding a folder named central/: gunicorn puts the
    # working directory first on sys.path, where that folder is a namespace package. Nothing uses it.
    app = Flask(__name__, instance_path=str(Path(config.state_dir).resolve() / "instance"))
    app.config.update(
        SCC=config,
        SESSION_COOKIE_SECURE=config.web.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=config.web.session_hours),
        MAX_CONTENT_LENGTH=1 << 20,
        PUBLIC_STATUS=config.web.public_status,
        ROLLUP_CACHE_S=config.web.rollup_cache_s,
        SSE_POLL_S=config.web.sse_poll_s,
        SSE_MAX_S=config.web.sse_max_s,
        SSE_STREAM_SLOTS=config.web.stream_slots,
        WALL_ROTATE_S=config.web.wall_rotate_s,
        WALL_REFRESH_S=config.web.wall_refresh_s,
        JSON_SORT_KEYS=False,
        **security.SESSION_SETTINGS,
    )
    app_database = test_config.pop("DATABASE", None) or Database.from_config(config)
    app.config.update(test_config)

    params.init_app(app)
    timing.init_app(app)
    database.init_app(app, app_database)
    secret_key.init_app(app, config, app_database)
    security.init_app(app)
    i18n.init_app(app, config.web.default_locale, config.web.timezone)
    templating.init_app(app)
    province.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    app.wsgi_app = proxies.TrustedProxyFix(  # type: ignore[method-assign]
        app.wsgi_app, config.web.trusted_proxies, config.web.proxy_hops
    )
    for blueprint in (pages.bp, editing.bp, live.bp, live_view.bp, live_audit.bp, wall.bp, ops.bp, public.bp, v1.bp,
                      alerts.bp, reports.bp, api_alerts.bp, quarantine.bp, api_quarantine.bp):
        app.register_blueprint(blueprint)
    return app
