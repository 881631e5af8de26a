"""The client's address behind a reverse proxy, believed only when the request comes from a trusted one.

werkzeug's ProxyFix trusts ``X-Forwarded-For`` from whoever sends it; anyone reaching gunicorn directly
could then pose as any address. So the fix applies only when the connecting peer is in
``web.trusted_proxies``, and takes the address the last ``web.proxy_hops`` proxies appended
(nginx's ``$proxy_add_x_forwarded_for``), never one the client wrote itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxyFix:
    """WSGI middleware: ProxyFix for requests from ``trusted`` peers, the raw peer address otherwise."""

    def __init__(self, app: WSGIApplication, trusted: Iterable[Network], hops: int = 1) -> None:
        self.app = app
        self.trusted = tuple(trusted)
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)

    def _from_trusted(self, environ: WSGIEnvironment) -> bool:
        try:
            peer = ipaddress.ip_address(str(environ.get("REMOTE_ADDR", "")))
        except ValueError:
            return False  # a Unix socket or an unknown peer: trust no header
        return any(peer in network for network in self.trusted)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.trusted and self._from_trusted(environ):
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)
