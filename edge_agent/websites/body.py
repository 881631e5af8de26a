"""Reads a response body as a stream, decompressing it ourselves so that no body can outgrow its cap.

httpx decodes gzip by inflating each network chunk whole: one 64 KiB chunk of a gzip bomb becomes
~64 MiB before any cap is checked. Here every inflate call is given ``max_length``, so memory stays
within the cap plus one chunk whatever the compression ratio. Only the encodings the checker asks
for (``ACCEPT_ENCODING``) are decoded; anything else is refused as a finding.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

ACCEPT_ENCODING = "gzip, deflate"
# Web pages compress 3-20:1; past 1 MiB a body inflating 100 times its wire size is a bomb, and
# reading stops there rather than at the cap. Inflation goes in steps so the ratio is seen early.
BOMB_RATIO = 100
_BOMB_FLOOR = 1024 * 1024
_STEP = 256 * 1024
_IDENTITY = {"", "identity"}
_GZIP = {"gzip", "x-gzip"}


class UnsupportedEncoding(ValueError):
    """The server used a Content-Encoding the checker did not ask for and does not decode."""


class CorruptBody(ValueError):
    """A compressed body that does not inflate."""


@dataclass(slots=True)
class Body:
    """At most ``cap`` bytes of the decoded body; ``truncated`` when there was more."""

    data: bytes
    truncated: bool
    compressed: bool  # the body came compressed (a truncation then means it inflates beyond the cap)
    wire_bytes: int
    bomb: bool = False  # stopped early: it inflated more than BOMB_RATIO times its wire size


class _Inflater:
    """One zlib stream (gzip or deflate, raw or wrapped), with gzip's concatenated members."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in _GZIP
        self._raw_tried = False
        self._engine = self._new()

    def _new(self) -> zlib._Decompress:
        # 31: gzip header; 15: zlib wrapper (RFC 9110's "deflate"); -15: the raw deflate some servers send.
        return zlib.decompressobj(31 if self._gzip else (-15 if self._raw_tried else 15))

    def inflate(self, data: bytes, limit: int) -> bytes:
        """Up to ``limit`` bytes out of ``data``; the rest of ``data`` waits in the engine's tail."""
        try:
            out = self._engine.decompress(data, limit)
        except zlib.error as error:
            if self._gzip or self._raw_tried:
                raise CorruptBody(f"compressed body does not inflate: {error}") from None
            self._raw_tried = True
            self._engine = self._new()
            out = self._engine.decompress(data, limit)
        if self._engine.eof and self._engine.unused_data and self._gzip and len(out) < limit:
            rest = self._engine.unused_data
            self._engine = self._new()
            out += self.inflate(rest, limit - len(out))
        return out

    def pending(self) -> bytes:
        return self._engine.unconsumed_tail


async def read_body(raw: AsyncIterator[bytes], content_encoding: str, cap: int) -> Body:
    """Read ``raw`` (undecoded bytes off the wire) into at most ``cap`` decoded bytes."""
    encoding = content_encoding.strip().lower()
    if "," in encoding:
        raise UnsupportedEncoding(f"stacked Content-Encoding {content_encoding[:60]!r}")
    if encoding not in _IDENTITY | _GZIP | {"deflate"}:
        raise UnsupportedEncoding(f"Content-Encoding {content_encoding[:40]!r} was not asked for")
    inflater = None if encoding in _IDENTITY else _Inflater(encoding)
    data = bytearray()  # grows to cap + 1 at most; one copy out at the end
    wire = 0
    async for chunk in raw:
        wire += len(chunk)
        pending = chunk
        while pending:
            room = cap + 1 - len(data)
            if inflater is None:
                piece, pending = pending[:room], b""
            else:
                piece = inflater.inflate(pending, min(room, _STEP))
                pending = inflater.pending()
            data += piece
            if len(data) > cap:
                del data[cap:]
                return Body(bytes(data), True, inflater is not None, wire)
            # Measured against the compressed bytes inflated so far, not those merely received.
            if inflater is not None and len(data) > _BOMB_FLOOR and len(data) > BOMB_RATIO * (wire - len(pending)):
                return Body(bytes(data), True, True, wire, bomb=True)
            if inflater is not None and not piece:
                break  # the engine needs more input before it can give more output
    return Body(bytes(data), False, inflater is not None, wire)
