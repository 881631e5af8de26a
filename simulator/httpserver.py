"""A small, defensive HTTP/1.1 server on asyncio streams (keep-alive, Content-Length bodies only)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

MAX_REQUEST_LINE = 8192
MAX_HEADERS = 100
MAX_BODY = 1 << 20
HEADER_TIMEOUT = 15.0
IDLE_TIMEOUT = 60.0

_REASONS = {
    200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
    405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
    503: "Service Unavailable",
}


@dataclass(slots=True)
class Request:
    """A parsed request; ``local`` is the address the client connected to, which identifies the camera."""

    method: str
    target: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    local: tuple[str, int]
    peer: tuple[str, int]

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass(slots=True)
class Response:
    """What to send back; ``abort`` resets the connection without any answer (a dead device)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    abort: bool = False

    @classmethod
    def text(cls, status: int, message: str) -> Response:
        return cls(status=status, body=message.encode())

    @classmethod
    def dropped(cls) -> Response:
        return cls(abort=True)


Handler = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str, str, dict[str, str]] | None:
    line = await reader.readline()
    if not line:
        return None
    if len(line) > MAX_REQUEST_LINE or not line.endswith(b"\n"):
        raise _BadRequest(400, "request line too long")
    try:
        method, target, version = line.decode("latin-1").strip().split(" ")
    except ValueError:
        raise _BadRequest(400, "malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise _BadRequest(400, "unsupported HTTP version")
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        raw = await reader.readline()
        if len(raw) > MAX_REQUEST_LINE:
            raise _BadRequest(431, "header too long")
        if raw in (b"\r\n", b"\n", b""):
            return method, target, version, headers
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep or not name.strip() or name != name.strip():
            raise _BadRequest(400, "malformed header")
        key = name.lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    raise _BadRequest(431, "too many headers")


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "transfer-encoding" in headers:
        raise _BadRequest(501, "chunked request bodies are not supported")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise _BadRequest(400, "bad Content-Length")
    length = int(length_text)
    if length > MAX_BODY:
        raise _BadRequest(413, "body too large")
    return await reader.readexactly(length) if length else b""


def _encode(response: Response, keep_alive: bool, head_only: bool) -> bytes:
    reason = _REASONS.get(response.status, "Status")
    lines = [f"HTTP/1.1 {response.status} {reason}", f"Content-Length: {len(response.body)}"]
    if response.body or response.status not in (204,):
        lines.append(f"Content-Type: {response.content_type}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + response.body


class HttpServer:
    """Serves one handler on any number of listening sockets."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.Task[None]] = set()

    async def listen(self, host: str, port: int) -> int:
        """Start listening on ``host:port`` (0 picks a free port); returns the bound port."""
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        server = await asyncio.start_server(self._serve, sock=sock)
        self._servers.append(server)
        return int(sock.getsockname()[1])

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._connections):
            task.cancel()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._serve_requests(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("HTTP connection failed")
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def _serve_requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        local = writer.get_extra_info("sockname")[:2]
        peer = writer.get_extra_info("peername")[:2]
        first = True
        while True:
            try:
                head = await asyncio.wait_for(_read_head(reader), HEADER_TIMEOUT if first else IDLE_TIMEOUT)
                if head is None:
                    return
                method, target, version, headers = head
                body = await asyncio.wait_for(_read_body(reader, headers), HEADER_TIMEOUT)
            except _BadRequest as error:
                writer.write(_encode(Response.text(error.status, str(error)), False, False))
                await writer.drain()
                return
            first = False
            split = urlsplit(target)
            request = Request(method.upper(), target, unquote(split.path), split.query, headers, body,
                              (str(local[0]), int(local[1])), (str(peer[0]), int(peer[1])))
            try:
                response = await self._handler(request)
            except Exception:
                log.exception("handler failed for %s %s", request.method, request.path)
                response = Response.text(500, "internal error")
            if response.abort:
                # A reset rather than a polite close: that is what a dead device looks like to a client.
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                writer.transport.abort()
                return
            connection = headers.get("connection", "").lower()
            keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
            writer.write(_encode(response, keep_alive, request.method == "HEAD"))
            await writer.drain()
            if not keep_alive:
                return
