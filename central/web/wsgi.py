"""WSGI entry point for gunicorn: the app built from $SCC_CENTRAL_CONFIG (default /etc/scc/central.toml)."""

from __future__ import annotations

from central.web import create_app

app = create_app()
