"""One capped HTTP GET that follows redirects itself, so loops are caught and hops counted."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import dataclass, field

import httpx

from edge_agent.websites.body import ACCEPT_ENCODING, BOMB_RATIO, CorruptBody, UnsupportedEncoding, read_body

USER_AGENT = "SCC-WebsiteCheck/1.0 (Sumsel Command Center; +https://sumselprov.go.id)"
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(slots=True)
class FetchResult:
    """The final response of a GET (after redirects), or why there was none."""

    url: str
    final_url: str
    status: int | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    truncated: bool = False
    compressed: bool = False  # sent compressed: a truncation then means it inflates beyond the cap
    bomb: bool = False  # inflated over body.BOMB_RATIO times its size on the wire: reading stopped early
    hops: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0
    error: str | None = None  # a reason code: timeout, connect_refused, redirect_loop, ...
    error_message: str = ""

    def too_large(self, cap: int) -> str:
        """Why the body was cut short, for a finding's message."""
        if self.bomb:
            return (f"inflates over {BOMB_RATIO} times its size on the wire (a decompression bomb); "
                    f"reading stopped at {len(self.body)} bytes")
        return f"{'inflates beyond' if self.compressed else 'is larger than'} the {cap}-byte cap"

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def classify_error(error: BaseException) -> tuple[str, str]:
    """A transport exception -> (reason code, one-line message)."""
    # A timeout cancels whatever was in flight (often an SSL read), so it decides before the chain.
    if isinstance(error, httpx.TimeoutException | asyncio.TimeoutError | TimeoutError):
        return "timeout", "no answer in time"
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            return "dns_failed", f"name does not resolve: {cause}"
        if isinstance(cause, ConnectionRefusedError):
            return "connect_refused", "connection refused"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "tls_invalid", f"certificate rejected: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError) and not isinstance(cause, ssl.SSLWantReadError | ssl.SSLWantWriteError):
            return "tls_handshake_failed", f"TLS failed: {cause}"
    if isinstance(error, httpx.RemoteProtocolError):
        return "http_protocol_error", f"broken HTTP: {error}"
    if isinstance(error, httpx.ConnectError | ConnectionError | OSError):
        return "connect_failed", f"cannot connect: {error or type(error).__name__}"
    return "http_failed", f"{type(error).__name__}: {error}"


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    max_redirects: int,
    timeout_s: float,
    accept: str = "text/html,application/xhtml+xml,*/*;q=0.8",
) -> FetchResult:
    """GET ``url``; reads at most ``max_bytes`` of the final (decoded) body; never raises for network trouble.

    Redirects are followed here, each hop recorded in ``hops``; bodies are streamed and decompressed
    within the cap (``body.read_body``), so a huge or bomb response costs at most ``max_bytes``.
    """
    result = FetchResult(url=url, final_url=url)
    started = time.perf_counter()
    seen = {url}
    current = url
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                request = client.build_request("GET", current, headers={"Accept": accept,
                                                                        "Accept-Encoding": ACCEPT_ENCODING})
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    if response.status_code in _REDIRECTS and "location" in response.headers:
                        target = str(response.url.join(response.headers["location"]))
                        result.hops.append(target)
                        if target in seen:
                            result.status, result.headers = response.status_code, response.headers
                            result.error = "redirect_loop"
                            result.error_message = f"redirect loop back to {target}"
                            break
                        if len(result.hops) > max_redirects:
                            result.status, result.headers = response.status_code, response.headers
                            result.error = "too_many_redirects"
                            result.error_message = f"more than {max_redirects} redirects"
                            break
                        seen.add(target)
                        current = target
                        continue
                    result.status, result.headers, result.final_url = response.status_code, response.headers, current
                    try:
                        body = await read_body(response.aiter_raw(), response.headers.get("content-encoding", ""),
                                               max_bytes)
                    except (UnsupportedEncoding, CorruptBody) as refused:
                        result.error, result.error_message = "bad_encoding", str(refused)
                        break
                    result.body, result.truncated, result.compressed = body.data, body.truncated, body.compressed
                    result.bomb = body.bomb
                    break
                finally:
                    await response.aclose()
    except Exception as error:  # every transport failure becomes a reason, never an exception
        result.error, result.error_message = classify_error(error)
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result
