"""gunicorn settings for the web app: threaded workers, so open live pages (SSE) do not starve requests.

A worker has ``web.threads`` threads for pages plus ``web.stream_slots`` for live streams (one per open
browser, shared by its tabs; the app refuses streams beyond its slots), so streams never take the
threads pages are served on. A stream lasts up to ``web.sse_max_s`` seconds, then the browser reconnects.
With gthread workers the arbiter's heartbeat is independent of request threads, so a long stream
never looks like a hung worker. ``scc-central serve`` passes the values from central.toml through
the environment; they can also be used directly: ``gunicorn -c python:central.web.gunicorn_conf``.
"""

from __future__ import annotations

import os

bind = os.environ.get("SCC_WEB_BIND", "127.0.0.1:8080")
workers = int(os.environ.get("SCC_WEB_WORKERS", "2"))
worker_class = "gthread"
_page_threads = int(os.environ.get("SCC_WEB_THREADS", "32"))
_stream_slots = int(os.environ.get("SCC_WEB_STREAM_SLOTS", "256"))
threads = _page_threads + _stream_slots
# Requests are short; streams end by themselves after sse_max_s. This only catches a truly stuck worker.
timeout = 120
graceful_timeout = 30
keepalive = 5
# Bounded request sizes: nothing here accepts uploads.
limit_request_line = 8190
limit_request_fields = 100
wsgi_app = os.environ.get("SCC_WEB_APP", "central.web.wsgi:app")
accesslog = os.environ.get("SCC_WEB_ACCESSLOG", "-") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("SCC_WEB_FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "scc-web"
# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl): a second
# instance took it over and removed it on exit. None unless asked for, then at a path of this instance's own.
control_socket = os.environ.get("SCC_WEB_CONTROL_SOCKET", "")
control_socket_disable = not control_socket
