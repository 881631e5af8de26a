"""What every camera's ONVIF session shares: one aiohttp pool, one bounded zeep transport, parsed WSDLs.

Why not one ``ONVIFCamera`` per camera: each of its services owns an aiohttp session, a connector, a
requests session (zeep's base transport) and two zeep clients, and the first checks of a large fleet
all parse the same WSDL at once (the library's cache is filled only after a parse finishes), which
cost ~4 MB per concurrently started camera. Here a per-event-loop ``OnvifPool`` holds the HTTP pool,
the zeep transport, the parsed WSDLs (loaded once, under a lock) and one unauthenticated zeep client
per WSDL.

Every reply is bounded: the library reads a body whole (``response.read()``) and its settings turn
lxml's ``huge_tree`` on, so a device could make the agent hold any amount of memory. Here a reply is
read in chunks up to ``MAX_REPLY_BYTES`` (after decompression) and parsed with lxml's default limits.
Prefixes old firmware forgets to declare are declared before zeep parses (edge_agent.xml_repair).
"""

from __future__ import annotations

import asyncio
import gc
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiohttp import ClientResponse
from zeep.exceptions import TransportError
from zeep.settings import Settings

from edge_agent.onvif_errors import ReplyTooLarge
from edge_agent.onvif_lib import (
    DEFAULT_SETTINGS,
    SERVICES,
    WSDL_DIR,
    AsyncTransportProtocolErrorHandler,
    WsAddressingIfMissingPlugin,
    ZeepAsyncClient,
    cached_document,
)
from edge_agent.xml_repair import ONVIF_PREFIXES, declare_missing_prefixes

# The Date header of the latest reply read in this task (each camera's check runs in its own task): the
# camera's clock when it refuses to tell its time without credentials (edge_agent.onvif_client).
REPLY_DATE: ContextVar[str | None] = ContextVar("onvif_reply_date", default=None)

# GetProfiles of a 64-channel recorder is ~400 KB; nothing a check reads is near 2 MiB.
MAX_REPLY_BYTES = 2 * 1024 * 1024
_CHUNK = 64 * 1024

# The library's settings (lenient parsing) with lxml's limits back on: huge_tree lifts the 10 MB text
# and depth bounds.
SETTINGS = Settings(strict=DEFAULT_SETTINGS.strict, xml_huge_tree=False)


async def read_bounded(response: ClientResponse, limit: int) -> bytes:
    """The body of ``response``, or ReplyTooLarge as soon as it (declared or as read) exceeds ``limit``."""
    declared = response.content_length
    if declared is not None and declared > limit:
        response.close()
        raise ReplyTooLarge(limit)
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            response.close()
            raise ReplyTooLarge(limit)
    return bytes(body)


class BoundedTransport(AsyncTransportProtocolErrorHandler):
    """The library's aiohttp transport (with its retry on a closed kept-alive connection), reading at most
    ``limit`` bytes of each reply.

    Replaces the library's ``_post_internal``, the one place it reads a POST reply; the hostile-server
    test in tests/edge_agent/test_onvif_corpus.py fails if a library upgrade stops calling it.
    """

    def __init__(self, session: aiohttp.ClientSession, limit: int = MAX_REPLY_BYTES,
                 middlewares: tuple[aiohttp.ClientMiddlewareType, ...] = ()) -> None:
        super().__init__(session=session, verify_ssl=False)
        self.limit = limit
        self.middlewares = middlewares

    async def _post_internal(self, address: str, message: str | bytes,
                             headers: dict[str, str]) -> tuple[ClientResponse, bytes]:
        headers = dict(headers or {})
        headers.setdefault("Content-Type", 'text/xml; charset="utf-8"')
        data = message.encode("utf-8") if isinstance(message, str) else message
        response = await self.session.post(address, data=data, headers=headers, proxy=self.proxy,
                                           timeout=self._client_timeout, middlewares=self.middlewares or None)
        REPLY_DATE.set(response.headers.get("Date"))
        try:
            content = await read_bounded(response, self.limit)
        finally:
            response.release()
        if response.status in (401, 403):
            # Refused at the HTTP layer (Digest wanted, or wrong Digest credentials): whatever the body
            # (an HTML page, plain text, nothing), zeep would read it as a broken answer, not a refusal.
            raise TransportError(f"HTTP {response.status} from {address}", status_code=response.status)
        if response.status >= 400 and b"Envelope" not in content[:4096]:
            # An error page, not a SOAP fault: zeep would call a well-formed HTML page an "unknown fault"
            # (a camera answering SOAP badly) when the ONVIF service is not there or not working.
            raise TransportError(f"HTTP {response.status} without a SOAP fault from {address}",
                                 status_code=response.status)
        # gSOAP firmware sends SOAP-ENV:, tds:, tt: ... undeclared; lxml would refuse the whole reply.
        return response, declare_missing_prefixes(content, ONVIF_PREFIXES)


class OnvifPool:
    """Shared by all cameras' sessions. Bound to the event loop it is first used on (aiohttp's rule);
    ``close`` it when the checks stop."""

    def __init__(self, *, connections: int = 128, reply_limit: int = MAX_REPLY_BYTES) -> None:
        self._connections = connections
        self._reply_limit = reply_limit
        self._http: aiohttp.ClientSession | None = None
        self._transport: BoundedTransport | None = None
        self._authless: dict[str, ZeepAsyncClient] = {}
        self._documents: dict[str, Any] = {}
        self._lock: asyncio.Lock | None = None

    @property
    def transport(self) -> BoundedTransport:
        if self._transport is None:
            connector = aiohttp.TCPConnector(
                limit=self._connections, limit_per_host=4, ssl=False,
                # Cameras are checked a minute apart: keep a connection only for the back-to-back
                # requests of one check, not one idle socket per camera.
                keepalive_timeout=4,
            )
            # Callers bound every request with asyncio.timeout; these only stop a leak if one does not.
            self._http = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=120, connect=30, sock_read=90),
            )
            self._transport = BoundedTransport(self._http, self._reply_limit)
        return self._transport

    async def document(self, name: str) -> Any:
        """The parsed WSDL of service ``name``; parsed once even when 1,000 cameras ask at once."""
        document = self._documents.get(name)
        if document is None:
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                document = self._documents.get(name)
                if document is None:
                    document = await cached_document(f"{WSDL_DIR}/{SERVICES[name]['wsdl']}")
                    self._documents[name] = document
                    # A parsed WSDL is ~150,000 objects that live as long as the process: keep them out
                    # of the cyclic collector, whose full passes over them stalled the event loop.
                    gc.freeze()
        return document

    def digest_transport(self, username: str, password: str) -> BoundedTransport:
        """A transport on the shared HTTP pool that answers an HTTP Digest challenge with these credentials.

        For firmware set to HTTP Digest instead of (or besides) WS-Security, as Hikvision's "digest"
        ONVIF mode is: every request first goes without, and Digest is sent only when the camera
        challenges for it (never Basic).
        """
        return BoundedTransport(self.transport.session, self._reply_limit,
                                middlewares=(aiohttp.DigestAuthMiddleware(username, password),))

    async def client(self, name: str, wsse: Any, transport: BoundedTransport | None = None) -> ZeepAsyncClient:
        """A zeep client for service ``name`` signing with ``wsse`` (per camera: its credentials and offset)."""
        return ZeepAsyncClient(wsdl=await self.document(name), wsse=wsse, transport=transport or self.transport,
                               settings=SETTINGS, plugins=[WsAddressingIfMissingPlugin()])

    async def authless_client(self, name: str) -> ZeepAsyncClient:
        """The unauthenticated client of service ``name``: no per-camera state, so one for all cameras."""
        client = self._authless.get(name)
        if client is None:
            client = await self.client(name, None)
            self._authless[name] = client
        return client

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = self._transport = None
        self._authless.clear()
