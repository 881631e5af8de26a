"""Serves recorded website responses over real HTTP or HTTPS, each site on its own port.

A site is a table of path-and-query -> ``Recorded`` response: a key matches a request with that
path and at least those query parameters (the most specific key wins); anything else is a 404, as
on a real site. Bodies may contain ``{base}``, replaced with the server's own base URL, so
recorded links lead back to it. Responses can be swapped while the server runs (``routes``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "cms"


@dataclass
class Recorded:
    """One response as a CMS gave it."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=UTF-8"})

    @classmethod
    def file(cls, name: str, content_type: str, status: int = 200, **headers: str) -> Recorded:
        return cls((CORPUS / name).read_bytes(), status, {"Content-Type": content_type, **headers})


class ReplaySite:
    """One recorded site on 127.0.0.1:<port>, HTTP or (with ``tls``) HTTPS."""

    def __init__(self, routes: dict[str, Recorded], tls: ssl.SSLContext | None = None) -> None:
        self.routes = routes
        self._tls = tls
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/"
        self.requests: list[str] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        recorded = self._match(request)
        if recorded is None:
            return web.Response(status=404, text="<h1>Not Found</h1>", content_type="text/html")
        body = recorded.body.replace(b"{base}", self.base.encode())
        headers = {name: value.replace("{base}", self.base) for name, value in recorded.headers.items()}
        return web.Response(status=recorded.status, body=body, headers=headers)

    def _match(self, request: web.Request) -> Recorded | None:
        best: tuple[int, Recorded] | None = None
        for key, recorded in self.routes.items():
            parts = urlsplit(key)
            wanted = dict(parse_qsl(parts.query, keep_blank_values=True))
            if parts.path != request.path or any(request.query.get(k) != v for k, v in wanted.items()):
                continue
            if best is None or len(wanted) > best[0]:
                best = (len(wanted), recorded)
        return best[1] if best else None

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, self._sock, ssl_context=self._tls).start()
        return runner


@contextmanager
def serving(*sites: ReplaySite) -> Iterator[None]:
    """Run the sites in a background event loop for the duration of the block."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runners: list[web.AppRunner] = []

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def begin() -> None:
            for site in sites:
                runners.append(await site.start())
            ready.set()

        loop.run_until_complete(begin())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("replay sites did not start")
    try:
        yield
    finally:
        async def end() -> None:
            for runner in runners:
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(end(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
